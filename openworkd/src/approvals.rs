//! The approval gate: every write waits here until the host allows it
//! (manual mode), or passes at once (auto mode).

use crate::error::{ApiError, ApiResult};
use openwork_shared::ErrorCode;
use openwork_shared::models::{Actor, ApprovalItem, ApprovalMode};
use parking_lot::Mutex;
use serde_json::json;
use std::time::Duration;
use tokio::sync::oneshot;

struct Pending {
    item: ApprovalItem,
    reply: oneshot::Sender<bool>,
}

/// How writes are approved: the mode, and how long a write waits.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalPolicy {
    pub mode: ApprovalMode,
    pub timeout: Duration,
}

impl ApprovalPolicy {
    pub fn new(mode: ApprovalMode, timeout_ms: u64) -> Self {
        ApprovalPolicy {
            mode,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout.as_millis() as u64
    }
}

/// The requests waiting for the host.
#[derive(Default)]
pub struct Approvals {
    pending: Mutex<Vec<Pending>>,
}

/// What a write asks approval for.
pub struct Request {
    pub workspace_id: String,
    pub action: &'static str,
    pub summary: String,
    pub paths: Vec<String>,
    pub actor: Actor,
}

/// Removes a pending request whose requester went away (client
/// disconnected): nothing is written on behalf of a request nobody waits for.
struct Cleanup<'a> {
    approvals: &'a Approvals,
    id: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.approvals.take(&self.id);
    }
}

impl Approvals {
    /// Wait for the host's decision. Ok means the write may proceed.
    pub async fn require(&self, policy: ApprovalPolicy, request: Request) -> ApiResult<()> {
        let ApprovalPolicy { mode, timeout } = policy;
        if mode == ApprovalMode::Auto {
            return Ok(());
        }
        let id = uuid::Uuid::new_v4().to_string();
        if timeout.is_zero() {
            return Err(denied(&id, "timeout"));
        }
        let item = ApprovalItem {
            id: id.clone(),
            workspace_id: request.workspace_id,
            action: request.action.to_owned(),
            summary: request.summary,
            paths: request.paths,
            created_at: crate::now_ms(),
            actor: request.actor,
        };
        let (tx, rx) = oneshot::channel();
        self.lock().push(Pending { item, reply: tx });
        let _cleanup = Cleanup {
            approvals: self,
            id: id.clone(),
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(true)) => Ok(()),
            Ok(_) => Err(denied(&id, "denied")),
            Err(_) => Err(denied(&id, "timeout")),
        }
    }

    pub fn list(&self) -> Vec<ApprovalItem> {
        self.lock().iter().map(|p| p.item.clone()).collect()
    }

    /// Answer a pending request; false when there is no such request.
    pub fn reply(&self, id: &str, allow: bool) -> ApiResult<()> {
        match self.take(id) {
            Some(pending) => {
                let _ = pending.reply.send(allow);
                Ok(())
            }
            None => Err(ApiError::new(
                ErrorCode::ApprovalNotFound,
                "Approval request not found",
            )),
        }
    }

    /// Deny everything still waiting (shutdown).
    pub fn deny_all(&self) {
        for pending in self.lock().drain(..) {
            let _ = pending.reply.send(false);
        }
    }

    fn take(&self, id: &str) -> Option<Pending> {
        let mut pending = self.lock();
        let index = pending.iter().position(|p| p.item.id == id)?;
        Some(pending.remove(index))
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock()
    }
}

fn denied(id: &str, reason: &str) -> ApiError {
    ApiError::new(ErrorCode::WriteDenied, "Write request denied")
        .with_details(json!({"requestId": id, "reason": reason}))
}
