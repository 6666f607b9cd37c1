//! The history of decided approval requests: one JSON line each in
//! `<data>/approvals/history.jsonl`, appended durably, the newest 10,000
//! kept (the file is rewritten atomically when it has grown past that by a
//! fifth). Read back at start, so it survives restarts.

use crate::workspace::paths::{create_dirs, write_atomic_with_mode};
use openwork_shared::models::ApprovalDecided;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;

/// Decisions kept.
pub const KEPT: usize = 10_000;

pub struct ApprovalHistory {
    path: PathBuf,
    inner: Mutex<Kept>,
}

struct Kept {
    /// Newest last.
    items: VecDeque<ApprovalDecided>,
    /// Lines in the file (compaction is due past `KEPT + KEPT / 5`).
    lines: usize,
}

impl ApprovalHistory {
    /// The history kept under `data_dir`; lines that do not parse (a
    /// partial last line after a crash) are skipped.
    pub fn open(data_dir: &std::path::Path) -> Self {
        let path = data_dir.join("approvals").join("history.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut items: VecDeque<ApprovalDecided> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let lines = text.lines().count();
        while items.len() > KEPT {
            items.pop_front();
        }
        ApprovalHistory {
            path,
            inner: Mutex::new(Kept { items, lines }),
        }
    }

    /// Record a decision (durably; a failure is logged, the decision
    /// stands).
    pub fn record(&self, item: ApprovalDecided) {
        let mut kept = self.inner.lock();
        if let Err(e) = self.append(&item) {
            crate::logging::error(&format!("approval history append failed: {e}"));
        }
        kept.lines += 1;
        kept.items.push_back(item);
        if kept.items.len() > KEPT {
            kept.items.pop_front();
        }
        if kept.lines > KEPT + KEPT / 5 {
            match self.rewrite(&kept.items) {
                Ok(()) => kept.lines = kept.items.len(),
                Err(e) => crate::logging::error(&format!("approval history rewrite failed: {e}")),
            }
        }
    }

    fn append(&self, item: &ApprovalDecided) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = self.path.parent() {
            create_dirs(dir)?;
        }
        let mut line = serde_json::to_vec(item)?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()
    }

    fn rewrite(&self, items: &VecDeque<ApprovalDecided>) -> std::io::Result<()> {
        let mut text = Vec::new();
        for item in items {
            serde_json::to_writer(&mut text, item)?;
            text.push(b'\n');
        }
        write_atomic_with_mode(&self.path, &text, 0o600)
    }

    /// Up to `limit` decisions older than the one with id `before` (or the
    /// newest), newest first.
    pub fn page(&self, limit: usize, before: Option<&str>) -> Vec<ApprovalDecided> {
        let kept = self.inner.lock();
        let end = match before {
            Some(id) => kept.items.iter().position(|i| i.id == id).unwrap_or(0),
            None => kept.items.len(),
        };
        kept.items
            .iter()
            .take(end)
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }
}
