//! The scoped-token store: `tokens.json`, holding only SHA-256 hashes.
//! Re-read whenever the file changes on disk, written atomically (0600).

use crate::error::{ApiError, ApiResult};
use crate::workspace::cache::StampCache;
use crate::workspace::paths::write_atomic_with_mode;
use openwork_shared::models::{TokenCreated, TokenInfo};
use openwork_shared::{ErrorCode, Scope};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredToken {
    id: String,
    hash: String,
    scope: Scope,
    created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    /// Absent in stores written by earlier versions: never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
}

impl StoredToken {
    fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StoreFile<'a> {
    schema_version: u32,
    updated_at: u64,
    tokens: &'a [StoredToken],
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The token whose hash is `hash`, comparing every entry in constant time
/// (the time taken does not tell which entry matched).
fn find_by_hash<'a>(tokens: &'a [StoredToken], hash: &str) -> Option<&'a StoredToken> {
    let mut found = None;
    for stored in tokens {
        if bool::from(stored.hash.as_bytes().ct_eq(hash.as_bytes())) {
            found = Some(stored);
        }
    }
    found
}

pub struct TokenStore {
    path: PathBuf,
    cache: StampCache<Arc<Vec<StoredToken>>>,
    write_lock: Mutex<()>,
    /// When each token was last accepted, since start (kept in memory so
    /// that a request never costs a write).
    last_used: Mutex<HashMap<String, u64>>,
}

impl TokenStore {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            cache: StampCache::default(),
            write_lock: Mutex::new(()),
            last_used: Mutex::default(),
        }
    }

    /// Valid entries of the file; entries with a missing id or hash or an
    /// unknown scope are dropped, an unreadable file counts as empty.
    fn tokens(&self) -> Arc<Vec<StoredToken>> {
        self.cache
            .get(&self.path, |bytes| {
                let Some(bytes) = bytes else {
                    return Arc::new(Vec::new());
                };
                let file: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
                let entries = file
                    .get("tokens")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                Arc::new(
                    entries
                        .into_iter()
                        .filter_map(|e| serde_json::from_value::<StoredToken>(e).ok())
                        .filter(|t| !t.id.is_empty() && !t.hash.is_empty())
                        .collect(),
                )
            })
            .unwrap_or_default()
    }

    /// The scope of a presented token, comparing hashes in constant time.
    #[cfg(test)]
    pub fn scope_of(&self, token: &str) -> Option<Scope> {
        self.scope_of_hash(&sha256_hex(token), crate::now_ms())
    }

    /// The scope of the unexpired token whose SHA-256 hex is `hash`, noting
    /// that it was used at `now`.
    pub fn scope_of_hash(&self, hash: &str, now: u64) -> Option<Scope> {
        let tokens = self.tokens();
        let stored = find_by_hash(&tokens, hash).filter(|t| !t.expired(now))?;
        // Most requests come from a token seen before: no allocation then.
        let mut last_used = self.last_used.lock();
        match last_used.get_mut(&stored.id) {
            Some(at) => *at = now,
            None => {
                last_used.insert(stored.id.clone(), now);
            }
        }
        Some(stored.scope)
    }

    /// The id and label of the token whose SHA-256 hex is `hash`.
    pub fn names_of_hash(&self, hash: &str) -> Option<Vec<String>> {
        let tokens = self.tokens();
        let stored = find_by_hash(&tokens, hash)?;
        Some(
            std::iter::once(stored.id.clone())
                .chain(stored.label.clone())
                .collect(),
        )
    }

    /// The id of the token whose SHA-256 hex is `hash`.
    pub fn id_of_hash(&self, hash: &str) -> Option<String> {
        find_by_hash(&self.tokens(), hash).map(|t| t.id.clone())
    }

    pub fn list(&self) -> Vec<TokenInfo> {
        let last_used = self.last_used.lock();
        self.tokens()
            .iter()
            .map(|t| TokenInfo {
                id: t.id.clone(),
                scope: t.scope,
                created_at: t.created_at,
                label: t.label.clone(),
                expires_at: t.expires_at,
                last_used_at: last_used.get(&t.id).copied(),
            })
            .collect()
    }

    /// Issue a token, expiring after `ttl_seconds` when given. Tokens that
    /// have expired are dropped from the store at the same time.
    pub fn create(
        &self,
        scope: Scope,
        label: Option<String>,
        ttl_seconds: Option<u64>,
    ) -> ApiResult<TokenCreated> {
        let token = format!("owt_{}", secret_uuid().simple());
        let now = crate::now_ms();
        let stored = StoredToken {
            id: uuid::Uuid::new_v4().to_string(),
            hash: sha256_hex(&token),
            scope,
            created_at: now,
            label,
            expires_at: ttl_seconds.map(|s| now.saturating_add(s.saturating_mul(1000))),
        };
        let created = TokenCreated {
            id: stored.id.clone(),
            token,
            scope,
            created_at: stored.created_at,
            label: stored.label.clone(),
            expires_at: stored.expires_at,
        };
        self.update(|tokens| {
            tokens.retain(|t| !t.expired(now));
            tokens.insert(0, stored);
            Ok(())
        })?;
        Ok(created)
    }

    pub fn revoke(&self, id: &str) -> ApiResult<()> {
        self.update(|tokens| {
            let before = tokens.len();
            tokens.retain(|t| t.id != id);
            if tokens.len() == before {
                return Err(ApiError::new(ErrorCode::TokenNotFound, "Token not found"));
            }
            Ok(())
        })
    }

    fn update(&self, change: impl FnOnce(&mut Vec<StoredToken>) -> ApiResult<()>) -> ApiResult<()> {
        let _guard = self.write_lock.lock();
        let mut tokens = (*self.tokens()).clone();
        change(&mut tokens)?;
        let file = StoreFile {
            schema_version: 1,
            updated_at: crate::now_ms(),
            tokens: &tokens,
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(ApiError::internal)?;
        text.push('\n');
        write_atomic_with_mode(&self.path, text.as_bytes(), 0o600)?;
        Ok(())
    }
}

/// A random UUID for a secret (a token, a pairing code), its bits read
/// from the system's random source each time. Ids that are not secrets
/// take `Uuid::new_v4` (a generator seeded from it once per thread).
pub fn secret_uuid() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    match getrandom::fill(&mut bytes) {
        Ok(()) => uuid::Builder::from_random_bytes(bytes).into_uuid(),
        Err(_) => uuid::Uuid::new_v4(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_store_loads_and_bad_entries_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let hash = sha256_hex("owt_0123456789abcdef0123456789abcdef");
        let text = format!(
            r#"{{"schemaVersion":1,"updatedAt":1,"tokens":[
              {{"id":"a","hash":"{hash}","scope":"viewer","createdAt":1,"label":"x"}},
              {{"id":"b","hash":"h","scope":"root","createdAt":1}},
              {{"hash":"h2","scope":"owner","createdAt":1}}]}}"#
        );
        std::fs::write(&path, text).unwrap();
        let store = TokenStore::new(path.clone());
        assert_eq!(store.list().len(), 1);
        assert_eq!(
            store.scope_of("owt_0123456789abcdef0123456789abcdef"),
            Some(Scope::Viewer)
        );
        // Stores of earlier versions have no expiresAt: such tokens never expire.
        assert!(store.list()[0].expires_at.is_none());
        let created = store.create(Scope::Owner, None, None).unwrap();
        assert_eq!(store.scope_of(&created.token), Some(Scope::Owner));
        assert_eq!(store.list()[0].id, created.id);
        store.revoke(&created.id).unwrap();
        assert_eq!(store.scope_of(&created.token), None);
        assert!(store.revoke("nope").is_err());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
