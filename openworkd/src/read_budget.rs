//! A bound on the memory that read-batch answers hold at once. A
//! read-batch may name 64 files of up to 5 MB; its answer, built whole
//! (the bytes, their base64, the JSON), can take close to a gigabyte, and
//! a few at once would exhaust the machine. Each answer takes its share of
//! one budget before reading and gives it back once sent; past the budget a
//! request waits its turn, and is refused only after [`WAIT`].

use crate::error::{ApiError, ApiResult};
use openwork_shared::ErrorCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bytes all read-batch answers may hold together.
pub const BUDGET: u64 = 256 << 20;
/// How long a read waits for its share before `429`.
pub const WAIT: Duration = Duration::from_secs(30);
/// Shares are counted in KiB.
const UNIT: u64 = 1024;

pub struct ReadBudget(Arc<Semaphore>);

impl Default for ReadBudget {
    fn default() -> Self {
        ReadBudget(Arc::new(Semaphore::new((BUDGET / UNIT) as usize)))
    }
}

/// A share of the budget, given back when dropped.
pub type Share = OwnedSemaphorePermit;

/// The units for `bytes`; one answer larger than the budget takes all of it.
fn units(bytes: u64) -> u32 {
    bytes.div_ceil(UNIT).clamp(1, BUDGET / UNIT) as u32
}

impl ReadBudget {
    /// The share for `bytes`, if free now.
    pub fn try_take(&self, bytes: u64) -> Option<Share> {
        self.0.clone().try_acquire_many_owned(units(bytes)).ok()
    }

    /// The share for `bytes`, once free (`429` after [`WAIT`]).
    pub async fn take(&self, bytes: u64) -> ApiResult<Share> {
        let acquire = self.0.clone().acquire_many_owned(units(bytes));
        match tokio::time::timeout(WAIT, acquire).await {
            Ok(Ok(share)) => Ok(share),
            _ => Err(ApiError::new(
                ErrorCode::TooManyRequests,
                "Too many large reads are in progress; try again shortly",
            )
            .with_details(json!({"bytes": bytes, "budget": BUDGET}))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_bounded_and_given_back() {
        let budget = ReadBudget::default();
        let most = budget.try_take(BUDGET - 10 * UNIT).unwrap();
        assert!(budget.try_take(20 * UNIT).is_none(), "past the budget");
        let small = budget.try_take(5 * UNIT).unwrap();
        drop(most);
        // One answer larger than the whole budget takes all of it, once
        // the rest is back.
        assert!(budget.try_take(10 * BUDGET).is_none());
        drop(small);
        assert!(budget.try_take(10 * BUDGET).is_some());
    }
}
