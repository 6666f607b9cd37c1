//! The history of decided approval requests: one JSON line each in
//! `<data>/approvals/history.jsonl`, appended durably (group commit), the
//! newest 10,000 kept (the file is rewritten atomically when it has grown
//! past that by a fifth). Read back at start, so it survives restarts.

use crate::journal::{Durable, Journal};
use openwork_shared::models::ApprovalDecided;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

/// Decisions kept.
pub const KEPT: usize = 10_000;

/// The most of the file read back at start: its newest lines.
const READ_AT_MOST: u64 = 16 << 20;

pub struct ApprovalHistory {
    path: PathBuf,
    inner: Mutex<Kept>,
    journal: Arc<Journal>,
}

struct Kept {
    /// Newest last: each decision's id and its line (without the newline),
    /// parsed again only when a page shows it (a decision kept as its line
    /// takes a third of the memory of one kept parsed).
    items: VecDeque<(Box<str>, Arc<str>)>,
    /// Lines in the file (compaction is due past `KEPT + KEPT / 5`).
    lines: usize,
}

impl ApprovalHistory {
    /// The history kept under `data_dir`; lines that do not parse (a
    /// partial last line after a crash) are skipped.
    pub fn open(data_dir: &std::path::Path, journal: Arc<Journal>) -> Self {
        let path = data_dir.join("approvals").join("history.jsonl");
        // Newest first; one more line than compaction allows tells that it
        // is due. Missing, unreadable or not a regular file (a FIFO is
        // never waited on): empty.
        let newest = crate::workspace::paths::read_last_lines(
            &path,
            KEPT + KEPT / 5 + 1,
            READ_AT_MOST,
            1 << 20,
        )
        .map(|(_, lines)| lines)
        .unwrap_or_default();
        let lines = newest.len();
        let mut items: VecDeque<(Box<str>, Arc<str>)> = newest
            .into_iter()
            .rev()
            .filter_map(|l| {
                let l = String::from_utf8(l).ok()?;
                let item: ApprovalDecided = serde_json::from_str(&l).ok()?;
                Some((item.id.into_boxed_str(), l.into()))
            })
            .collect();
        while items.len() > KEPT {
            items.pop_front();
        }
        ApprovalHistory {
            path,
            inner: Mutex::new(Kept { items, lines }),
            journal,
        }
    }

    /// Record the decision with this `id`, as its JSON line `json`; the
    /// answer resolves once it is on disk (when `lazy`, with the next
    /// commit to the journal: a write let through commits its own changes
    /// right after).
    pub fn record(&self, id: &str, json: Arc<str>, lazy: bool) -> Durable {
        let mut bytes = Vec::with_capacity(json.len() + 1);
        bytes.extend_from_slice(json.as_bytes());
        bytes.push(b'\n');
        let mut kept = self.inner.lock();
        let line = crate::journal::Line {
            path: self.path.clone(),
            mode: 0o600,
            bytes,
        };
        let durable = match lazy {
            true => self.journal.append_lazy(line),
            false => self.journal.append(line),
        };
        kept.lines += 1;
        kept.items.push_back((id.into(), json));
        if kept.items.len() > KEPT {
            kept.items.pop_front();
        }
        if kept.lines > KEPT + KEPT / 5 {
            // Queued after the append above, under the same lock: the
            // journal applies them in this order.
            let mut text = Vec::new();
            for (_, line) in &kept.items {
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
            }
            drop(self.journal.replace(self.path.clone(), 0o600, text));
            kept.lines = kept.items.len();
        }
        durable
    }

    /// Up to `limit` decisions older than the one with id `before` (or the
    /// newest), newest first.
    pub fn page(&self, limit: usize, before: Option<&str>) -> Vec<ApprovalDecided> {
        let kept = self.inner.lock();
        let end = match before {
            Some(id) => kept
                .items
                .iter()
                .position(|(kept_id, _)| &**kept_id == id)
                .unwrap_or(0),
            None => kept.items.len(),
        };
        kept.items
            .iter()
            .take(end)
            .rev()
            .take(limit)
            .filter_map(|(_, line)| serde_json::from_str(line).ok())
            .collect()
    }
}
