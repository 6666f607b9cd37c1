//! One-time pairing: the host issues a short code for a scope; a new client
//! redeems it exactly once for a scoped token. Codes are kept hashed and
//! compared in constant time; grants live in memory and expire (10 minutes
//! by default, at most a day).

use crate::error::{ApiError, ApiResult};
use crate::tokens::sha256_hex;
use openwork_shared::models::GrantInfo;
use openwork_shared::{ErrorCode, Scope};
use parking_lot::Mutex;
use subtle::ConstantTimeEq;

/// Letters and digits that cannot be mistaken for one another (no 0/O,
/// 1/l/I): 32 symbols, 5 bits each.
const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// 10 symbols: 50 bits.
const CODE_LEN: usize = 10;
pub const DEFAULT_TTL_SECONDS: u64 = 600;
pub const MAX_TTL_SECONDS: u64 = 86_400;

struct Grant {
    info: GrantInfo,
    code_hash: String,
}

#[derive(Default)]
pub struct Grants {
    open: Mutex<Vec<Grant>>,
}

/// A fresh code: `XXXXX-XXXXX`.
fn new_code() -> String {
    let random = crate::tokens::secret_uuid();
    let mut bits = u128::from_le_bytes(*random.as_bytes());
    let mut code = String::with_capacity(CODE_LEN + 1);
    for i in 0..CODE_LEN {
        if i == CODE_LEN / 2 {
            code.push('-');
        }
        code.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    code
}

/// A code as typed: case, spaces and dashes do not matter.
fn canonical(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn invalid() -> ApiError {
    ApiError::new(
        ErrorCode::GrantInvalid,
        "Pairing code is invalid, expired or already used",
    )
}

impl Grants {
    /// Open a grant; returns it and its code (shown once).
    pub fn open(
        &self,
        scope: Scope,
        label: Option<String>,
        ttl_seconds: u64,
        now: u64,
    ) -> (GrantInfo, String) {
        let code = new_code();
        let info = GrantInfo {
            id: format!("grant_{}", uuid::Uuid::new_v4().simple()),
            scope,
            label,
            created_at: now,
            expires_at: now + ttl_seconds * 1000,
        };
        let mut open = self.open.lock();
        open.retain(|g| g.info.expires_at > now);
        open.push(Grant {
            info: info.clone(),
            code_hash: sha256_hex(&canonical(&code)),
        });
        (info, code)
    }

    /// Open grants, oldest first (never their codes).
    pub fn list(&self, now: u64) -> Vec<GrantInfo> {
        let mut open = self.open.lock();
        open.retain(|g| g.info.expires_at > now);
        open.iter().map(|g| g.info.clone()).collect()
    }

    pub fn revoke(&self, id: &str) -> ApiResult<()> {
        let mut open = self.open.lock();
        let before = open.len();
        open.retain(|g| g.info.id != id);
        if open.len() == before {
            return Err(ApiError::new(ErrorCode::GrantNotFound, "Grant not found"));
        }
        Ok(())
    }

    /// Take the grant a code belongs to: it can be redeemed once.
    pub fn redeem(&self, code: &str, now: u64) -> ApiResult<GrantInfo> {
        let hash = sha256_hex(&canonical(code));
        let mut open = self.open.lock();
        let mut found = None;
        for (i, grant) in open.iter().enumerate() {
            if bool::from(grant.code_hash.as_bytes().ct_eq(hash.as_bytes())) {
                found = Some(i);
            }
        }
        let grant = open.remove(found.ok_or_else(invalid)?);
        if grant.info.expires_at <= now {
            return Err(invalid());
        }
        Ok(grant.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unambiguous_and_redeemed_once() {
        let grants = Grants::default();
        let (info, code) = grants.open(Scope::Viewer, None, 600, 1_000);
        assert_eq!(code.len(), CODE_LEN + 1);
        assert!(
            code.chars()
                .all(|c| c == '-' || ALPHABET.contains(&(c as u8)))
        );
        assert!(!code.contains(['0', 'O', '1', 'l', 'I']));
        assert_eq!(grants.list(1_000).len(), 1);
        // Case and dashes do not matter; a second use fails.
        let typed = code.replace('-', "").to_lowercase();
        assert_eq!(grants.redeem(&typed, 2_000).unwrap().id, info.id);
        assert!(grants.redeem(&code, 2_000).is_err());
        // Expired and revoked grants cannot be redeemed.
        let (_, code) = grants.open(Scope::Owner, None, 1, 1_000);
        assert!(grants.redeem(&code, 2_000).is_err());
        let (info, code) = grants.open(Scope::Owner, None, 600, 1_000);
        grants.revoke(&info.id).unwrap();
        assert!(grants.redeem(&code, 2_000).is_err());
        assert!(grants.revoke(&info.id).is_err());
        assert_ne!(new_code(), new_code());
    }
}
