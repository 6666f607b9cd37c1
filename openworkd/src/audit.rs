//! The audit log: one JSON line per successful write, per workspace.

use crate::journal::{Durable, Journal, Line};
use crate::workspace::Caches;
use crate::workspace::WorkspaceEntry;
use openwork_shared::models::AuditEntry;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How much of the end of a log is read to find the newest entries.
const TAIL_BYTES: u64 = 1 << 20;

pub struct AuditLog {
    dir: PathBuf,
    journal: Arc<Journal>,
}

impl AuditLog {
    pub fn new(data_dir: &Path, journal: Arc<Journal>) -> Self {
        Self {
            dir: data_dir.join("audit"),
            journal,
        }
    }

    fn primary(&self, workspace_id: &str) -> PathBuf {
        self.dir.join(format!("{workspace_id}.jsonl"))
    }

    /// The file to read: the primary log, else the legacy in-workspace one.
    fn readable(&self, ws: &WorkspaceEntry) -> PathBuf {
        let primary = self.primary(&ws.id);
        if primary.exists() {
            primary
        } else {
            legacy(ws)
        }
    }

    /// Append one entry as a single write of one line (a crash can at
    /// worst leave a partial last line, which readers skip), committed with
    /// whatever else is being appended.
    pub fn append(&self, entry: &AuditEntry) -> Durable {
        self.journal.append(self.line(entry))
    }

    /// The line `entry` adds to its log, for a journal commit.
    pub fn line(&self, entry: &AuditEntry) -> Line {
        let mut bytes = serde_json::to_vec(entry).unwrap_or_default();
        bytes.push(b'\n');
        Line {
            path: self.primary(&entry.workspace_id),
            mode: 0o600,
            bytes,
        }
    }

    /// The newest `limit` entries, newest first: the log's last `limit`
    /// lines (within its last [`TAIL_BYTES`]), read from its end a block at
    /// a time, not the whole tail.
    pub fn recent(&self, ws: &WorkspaceEntry, limit: usize) -> Vec<AuditEntry> {
        crate::workspace::paths::read_last_lines(&self.readable(ws), limit, TAIL_BYTES, 64 << 10)
            .map(|(_, lines)| lines)
            .unwrap_or_default()
            .iter()
            .filter_map(|l| serde_json::from_str(&String::from_utf8_lossy(l)).ok())
            .collect()
    }

    /// The timestamp of the newest entry (cached until the log changes).
    pub fn last_timestamp(&self, caches: &Caches, ws: &WorkspaceEntry) -> Option<u64> {
        // None when the file does not exist.
        let newest = |path: &Path| {
            caches
                .audit_tail
                .get_last_line(path, TAIL_BYTES, |bytes| bytes.map(newest_timestamp))
                .ok()
                .flatten()
        };
        match newest(&self.primary(&ws.id)) {
            Some(found) => found,
            None => newest(&legacy(ws)).flatten(),
        }
    }
}

/// The log kept inside the workspace by older servers.
fn legacy(ws: &WorkspaceEntry) -> PathBuf {
    ws.path.join(".opencode/openwork/audit.jsonl")
}

fn newest_timestamp(bytes: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(bytes);
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    serde_json::from_str::<serde_json::Value>(last)
        .ok()?
        .get("timestamp")?
        .as_u64()
}
