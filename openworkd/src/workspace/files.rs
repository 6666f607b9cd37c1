//! File sessions: the token-bound session store, the workspace catalog,
//! per-workspace file events, and batch reads, writes and operations.

use super::paths::{Root, Staged, create_dirs, normalize_relative, stage};
use crate::error::{ApiError, ApiResult};
use openwork_shared::models::{
    EntryKind, FileEvent, FileEventKind, FileOp, FileResult, FileSessionInfo, FileWrite,
};
use parking_lot::Mutex;

use std::collections::{HashMap, VecDeque};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub const MAX_SESSIONS: usize = 256;
pub const MAX_FILE_BYTES: u64 = 5_000_000;
pub const EVENTS_KEPT: usize = 500;
const TTL_DEFAULT_MS: u64 = 900_000;
const TTL_MIN_MS: u64 = 30_000;
const TTL_MAX_MS: u64 = 86_400_000;

/// `ttlSeconds` → milliseconds: a JSON number clamped to [30 s, 24 h],
/// anything else the 15-minute default.
pub fn ttl_ms(seconds: Option<f64>) -> u64 {
    match seconds {
        Some(secs) => ((secs * 1000.0).floor().max(0.0) as u64).clamp(TTL_MIN_MS, TTL_MAX_MS),
        None => TTL_DEFAULT_MS,
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub workspace_id: String,
    pub token_hash: String,
    pub can_write: bool,
    pub created_at: u64,
    pub expires_at: u64,
}

impl Session {
    pub fn info(&self, now: u64) -> FileSessionInfo {
        FileSessionInfo {
            id: self.id.clone(),
            workspace_id: self.workspace_id.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            ttl_ms: self.expires_at.saturating_sub(now),
            can_write: self.can_write,
        }
    }
}

/// In-memory sessions, at most [`MAX_SESSIONS`], expired ones swept on use.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    pub fn create(
        &self,
        workspace_id: &str,
        token_hash: &str,
        can_write: bool,
        ttl: u64,
        now: u64,
    ) -> Session {
        let mut map = self.0.lock();
        map.retain(|_, s| s.expires_at > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .values()
                .min_by_key(|s| s.expires_at)
                .map(|s| s.id.clone())
        {
            map.remove(&oldest);
        }
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            workspace_id: workspace_id.to_owned(),
            token_hash: token_hash.to_owned(),
            can_write,
            created_at: now,
            expires_at: now + ttl,
        };
        map.insert(session.id.clone(), session.clone());
        session
    }

    /// A live session owned by `token_hash`.
    pub fn get(&self, id: &str, token_hash: &str, now: u64) -> ApiResult<Session> {
        self.with_owned(id, token_hash, now, |s| s.clone())
    }

    /// Set a live owned session to expire `ttl` ms from `now`.
    pub fn renew(&self, id: &str, token_hash: &str, ttl: u64, now: u64) -> ApiResult<Session> {
        self.with_owned(id, token_hash, now, |s| {
            s.expires_at = now + ttl;
            s.clone()
        })
    }

    /// Run `f` on a live session owned by `token_hash`, under one lock
    /// (expired sessions are swept first).
    fn with_owned<T>(
        &self,
        id: &str,
        token_hash: &str,
        now: u64,
        f: impl FnOnce(&mut Session) -> T,
    ) -> ApiResult<T> {
        let mut map = self.0.lock();
        map.retain(|_, s| s.expires_at > now);
        let session = map.get_mut(id).ok_or_else(|| {
            ApiError::new(
                openwork_shared::ErrorCode::FileSessionNotFound,
                "File session not found",
            )
        })?;
        if session.token_hash != token_hash {
            return Err(ApiError::new(
                openwork_shared::ErrorCode::Forbidden,
                "File session does not belong to this token",
            ));
        }
        Ok(f(session))
    }

    /// Sessions that have not expired at `now`.
    pub fn live(&self, now: u64) -> usize {
        let map = self.0.lock();
        map.values().filter(|s| s.expires_at > now).count()
    }

    pub fn remove(&self, id: &str) {
        self.0.lock().remove(id);
    }
}

/// Per-workspace ring of file events with a monotonically increasing cursor.
#[derive(Default)]
pub struct FileEvents(Mutex<HashMap<String, Ring>>);

#[derive(Default)]
struct Ring {
    seq: u64,
    events: VecDeque<FileEvent>,
}

impl Ring {
    fn push(&mut self, workspace_id: &str, change: &Change, now: u64) -> u64 {
        self.seq += 1;
        self.events.push_back(FileEvent {
            id: uuid::Uuid::new_v4().to_string(),
            seq: self.seq,
            workspace_id: workspace_id.to_owned(),
            kind: change.kind,
            path: change.path.clone(),
            to_path: change.to_path.clone(),
            revision: change.revision.clone(),
            timestamp: now,
        });
        if self.events.len() > EVENTS_KEPT {
            self.events.pop_front();
        }
        self.seq
    }

    /// Whether the newest event touching `seen`'s path already says it.
    fn already_says(&self, seen: &Change) -> bool {
        let path = seen.path.as_str();
        let Some(last) = self
            .events
            .iter()
            .rev()
            .find(|e| e.path == path || e.to_path.as_deref() == Some(path))
        else {
            return false;
        };
        use FileEventKind::{Delete, Rename, Write};
        match (last.kind, seen.kind) {
            (Rename, Rename) => last.path == path && last.to_path == seen.to_path,
            (Rename, kind) if last.path == path => kind == Delete,
            (Rename, kind) => kind != Delete,
            (kind, Write) => kind == Write && last.revision == seen.revision,
            (kind, seen_kind) => kind == seen_kind,
        }
    }
}

pub struct EventPage {
    pub items: Vec<FileEvent>,
    pub cursor: u64,
    /// The caller's cursor fell out of the ring: it must take a new snapshot.
    pub reset: bool,
}

impl FileEvents {
    pub fn record(&self, workspace_id: &str, change: &Change, now: u64) -> u64 {
        let mut map = self.0.lock();
        map.entry(workspace_id.to_owned())
            .or_default()
            .push(workspace_id, change, now)
    }

    /// Record a change seen on disk unless the newest retained event
    /// touching its path already says the same (the change came through
    /// the API). Checked and recorded under one lock.
    pub fn record_observed(&self, workspace_id: &str, seen: &Change, now: u64) {
        let mut map = self.0.lock();
        let ring = map.entry(workspace_id.to_owned()).or_default();
        if !ring.already_says(seen) {
            ring.push(workspace_id, seen, now);
        }
    }

    pub fn cursor(&self, workspace_id: &str) -> u64 {
        self.0.lock().get(workspace_id).map_or(0, |r| r.seq)
    }

    pub fn since(&self, workspace_id: &str, since: u64) -> EventPage {
        let map = self.0.lock();
        let Some(ring) = map.get(workspace_id) else {
            return EventPage {
                items: Vec::new(),
                cursor: 0,
                reset: since > 0,
            };
        };
        let oldest = ring.events.front().map_or(ring.seq + 1, |e| e.seq);
        EventPage {
            items: ring
                .events
                .iter()
                .filter(|e| e.seq > since)
                .cloned()
                .collect(),
            cursor: ring.seq,
            reset: since + 1 < oldest || since > ring.seq,
        }
    }
}

pub fn mtime_ms(meta: &Metadata) -> f64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_nanos() as f64 / 1_000_000.0)
}

/// `"<floor(mtimeMs)>:<size>"`; directories count size 0.
pub fn revision(meta: &Metadata) -> String {
    let size = if meta.is_dir() { 0 } else { meta.len() };
    format!("{}:{}", mtime_ms(meta).floor() as u64, size)
}

fn current_revision(path: &Path) -> Option<String> {
    std::fs::symlink_metadata(path)
        .ok()
        .filter(Metadata::is_file)
        .map(|m| revision(&m))
}

/// Normalize every path of a batch up front (any invalid path fails all).
pub fn normalize_all<'a>(paths: impl IntoIterator<Item = &'a str>) -> ApiResult<Vec<String>> {
    paths.into_iter().map(normalize_relative).collect()
}

/// A failed item of a read or write batch.
fn item_error(path: &str, code: &str, message: impl Into<String>) -> FileResult {
    FileResult {
        path: Some(path.to_owned()),
        code: Some(code.to_owned()),
        message: Some(message.into()),
        ..FileResult::default()
    }
}

fn too_large(path: &str, size: u64) -> FileResult {
    FileResult {
        max_bytes: Some(MAX_FILE_BYTES),
        size: Some(size),
        ..item_error(path, "file_too_large", "File exceeds size limit")
    }
}

/// A read-batch item opened, or its answer (an error).
pub type Opened = Result<(std::fs::File, std::fs::Metadata), Box<FileResult>>;

/// One read-batch item, opened (and looked at through the open file: a
/// FIFO is no file, and a file growing past the limit while read is
/// refused), or its error.
pub fn open_item(root: &Root, path: &str) -> Opened {
    let invalid = |e: ApiError| item_error(path, "invalid_path", e.message);
    let relative = super::paths::normalize_relative(path).map_err(invalid)?;
    if let Some((file, meta)) = root.open_beneath(&relative) {
        return within_limit(path, file, meta);
    }
    let target = root.resolve(path).map_err(invalid)?;
    let (file, meta) = super::paths::open_regular(&target)
        .map_err(|_| item_error(path, "file_not_found", "File not found"))?;
    within_limit(path, file, meta)
}

fn within_limit(path: &str, file: std::fs::File, meta: std::fs::Metadata) -> Opened {
    if meta.len() > MAX_FILE_BYTES {
        return Err(Box::new(too_large(path, meta.len())));
    }
    Ok((file, meta))
}

/// What answering these opened items holds in memory: the bytes, their
/// base64 and the JSON made of it, about three times their size.
pub fn read_cost(opened: &[Opened]) -> u64 {
    opened
        .iter()
        .map(|item| item.as_ref().map_or(0, |(_, meta)| meta.len() * 3) + 512)
        .sum()
}

/// One read-batch item's answer; a file's content is kept as read until
/// the answer is written ([`read_answer`]).
pub struct ReadItem {
    result: FileResult,
    content: Option<Vec<u8>>,
}

/// One read-batch item, read from what [`open_item`] gave.
pub fn read_item(path: &str, opened: Opened) -> ReadItem {
    let (file, meta) = match opened {
        Ok(opened) => opened,
        Err(item) => {
            return ReadItem {
                result: *item,
                content: None,
            };
        }
    };
    match super::paths::read_opened(file, &meta, MAX_FILE_BYTES) {
        Ok(bytes) => ReadItem {
            result: FileResult {
                ok: true,
                path: Some(path.to_owned()),
                kind: Some(EntryKind::File),
                bytes: Some(bytes.len() as u64),
                updated_at: Some(mtime_ms(&meta)),
                revision: Some(revision(&meta)),
                ..FileResult::default()
            },
            content: Some(bytes),
        },
        Err(_) => ReadItem {
            result: item_error(path, "read_failed", "Unable to read file"),
            content: None,
        },
    }
}

/// The read-batch answer, `{"items":[…]}` as [`ReadResults`] gives it:
/// each item's fields, then its content's base64 written straight into the
/// answer as the last one (where `contentBase64` comes in an item that was
/// read), neither kept as a string first nor scanned for characters to
/// escape (base64 has none).
///
/// [`ReadResults`]: openwork_shared::models::ReadResults
pub fn read_answer(items: &[ReadItem]) -> serde_json::Result<Vec<u8>> {
    use base64::Engine;
    use serde::ser::Error;
    let encoded = |len: usize| len.div_ceil(3) * 4;
    let size: usize = items
        .iter()
        .map(|item| item.content.as_ref().map_or(0, |c| encoded(c.len())) + 256)
        .sum();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(b"{\"items\":[");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &item.result)?;
        let Some(content) = &item.content else {
            continue;
        };
        if out.pop() != Some(b'}') {
            return Err(serde_json::Error::custom("an item is not a JSON object"));
        }
        out.extend_from_slice(b",\"contentBase64\":\"");
        let start = out.len();
        out.resize(start + encoded(content.len()), 0);
        base64::engine::general_purpose::STANDARD
            .encode_slice(content, &mut out[start..])
            .map_err(serde_json::Error::custom)?;
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// A write that passed validation.
pub struct PlannedWrite {
    pub path: String,
    pub target: PathBuf,
    pub bytes: Vec<u8>,
    pub if_match: Option<String>,
    pub force: bool,
}

/// Phase 1 of a write-batch entry (its path normalized): decode, size,
/// kind and precondition.
pub fn plan_write(root: &Root, write: FileWrite) -> Result<PlannedWrite, Box<FileResult>> {
    use base64::Engine;
    let path = write.path.as_str();
    let cleaned: String = write
        .content_base64
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/'))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cleaned.as_bytes())
        .map_err(|_| item_error(path, "invalid_payload", "contentBase64 is not valid base64"))
        .map_err(Box::new)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Box::new(too_large(path, bytes.len() as u64)));
    }
    let target = root
        .resolve(path)
        .map_err(|e| Box::new(item_error(path, "invalid_path", e.message)))?;
    if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_file()) {
        return Err(Box::new(item_error(
            path,
            "invalid_path",
            "Path must point to a file",
        )));
    }
    if let (Some(expected), false) = (&write.if_match_revision, write.force) {
        let current = current_revision(&target);
        if current.as_deref() != Some(expected.as_str()) {
            return Err(Box::new(conflict(
                path,
                expected,
                current,
                "File changed since it was loaded",
            )));
        }
    }
    Ok(PlannedWrite {
        target,
        bytes,
        if_match: write.if_match_revision,
        force: write.force,
        path: write.path,
    })
}

fn conflict(path: &str, expected: &str, current: Option<String>, message: &str) -> FileResult {
    FileResult {
        expected_revision: Some(expected.to_owned()),
        current_revision: Some(current),
        ..item_error(path, "conflict", message)
    }
}

/// Phase 2: re-check, then write atomically.
pub fn apply_write(root: &Root, plan: &PlannedWrite) -> (FileResult, Option<Change>) {
    let path = plan.path.as_str();
    // Resolve again: folders may have changed while the approval waited.
    let target = match root.resolve(path) {
        Ok(t) => t,
        Err(e) => return (item_error(path, "invalid_path", e.message), None),
    };
    let previous = current_revision(&target);
    if let (Some(expected), false) = (&plan.if_match, plan.force)
        && previous.as_deref() != Some(expected.as_str())
    {
        return (
            conflict(
                path,
                expected,
                previous,
                "File changed before write could be applied",
            ),
            None,
        );
    }
    let written = target
        .parent()
        .map_or(Ok(()), create_dirs)
        .and_then(|()| stage(&target, &plan.bytes))
        .and_then(|staged| {
            show_new_revision(&staged, previous.as_deref())?;
            staged.commit()
        })
        .and_then(|()| std::fs::metadata(&target));
    match written {
        Ok(meta) => {
            let rev = revision(&meta);
            let item = FileResult {
                ok: true,
                path: Some(path.to_owned()),
                bytes: Some(plan.bytes.len() as u64),
                updated_at: Some(mtime_ms(&meta)),
                revision: Some(rev.clone()),
                previous_revision: Some(previous),
                ..FileResult::default()
            };
            let change = Change {
                revision: Some(rev),
                ..Change::new(FileEventKind::Write, path)
            };
            (item, Some(change))
        }
        Err(e) => (item_error(path, "write_failed", e.to_string()), None),
    }
}

/// New content must show a new revision, or a client holding the old one
/// could overwrite it unawares (`ifMatchRevision`): a revision names the
/// millisecond and the size, so content of the same size written within
/// the millisecond of the old has its time moved on by a millisecond.
fn show_new_revision(staged: &Staged, previous: Option<&str>) -> std::io::Result<()> {
    let meta = staged.file().metadata()?;
    if previous == Some(revision(&meta).as_str()) {
        let later = meta.modified()? + std::time::Duration::from_millis(1);
        staged.file().set_modified(later)?;
    }
    Ok(())
}

/// A file operation, with its paths already normalized.
pub enum Op {
    Mkdir {
        path: String,
    },
    Delete {
        path: String,
        recursive: bool,
    },
    Rename {
        from: String,
        to: String,
    },
    Invalid {
        kind: String,
        code: &'static str,
        message: String,
    },
}

impl Op {
    /// Read an operation, normalizing its paths (an invalid path fails the
    /// whole request, as traversal always did).
    pub fn parse(op: FileOp) -> ApiResult<Op> {
        let normalized = |p: Option<String>| p.map(|p| normalize_relative(&p)).transpose();
        let missing = |kind: &str, key: &str| Op::Invalid {
            kind: kind.to_owned(),
            code: "operation_failed",
            message: format!("{key} is required"),
        };
        Ok(match op.kind.as_str() {
            "mkdir" => normalized(op.path)?
                .map_or_else(|| missing("mkdir", "path"), |path| Op::Mkdir { path }),
            "delete" => normalized(op.path)?.map_or_else(
                || missing("delete", "path"),
                |path| Op::Delete {
                    path,
                    recursive: op.recursive,
                },
            ),
            "rename" => match (normalized(op.from)?, normalized(op.to)?) {
                (Some(from), Some(to)) => Op::Rename { from, to },
                _ => missing("rename", "from and to"),
            },
            other => Op::Invalid {
                kind: other.to_owned(),
                code: "invalid_operation",
                message: format!("Unsupported operation type: {other}"),
            },
        })
    }

    /// The workspace-relative paths the operation touches.
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Op::Mkdir { path } | Op::Delete { path, .. } => vec![path],
            Op::Rename { from, to } => vec![from, to],
            Op::Invalid { .. } => vec![],
        }
    }
}

/// What an applied write or op changed, for the event log.
pub struct Change {
    pub kind: FileEventKind,
    pub path: String,
    pub to_path: Option<String>,
    pub revision: Option<String>,
}

impl Change {
    pub fn new(kind: FileEventKind, path: &str) -> Self {
        Change {
            kind,
            path: path.to_owned(),
            to_path: None,
            revision: None,
        }
    }
}

fn op_result(kind: &str) -> FileResult {
    FileResult {
        op: Some(kind.to_owned()),
        ..FileResult::default()
    }
}

fn op_failed(kind: &str, code: &str, message: impl Into<String>) -> FileResult {
    FileResult {
        code: Some(code.to_owned()),
        message: Some(message.into()),
        ..op_result(kind)
    }
}

fn op_done(kind: &str) -> FileResult {
    FileResult {
        ok: true,
        ..op_result(kind)
    }
}

pub fn apply_op(root: &Root, op: &Op) -> (FileResult, Option<Change>) {
    let failed =
        |kind: &str, e: &dyn std::fmt::Display| op_failed(kind, "operation_failed", e.to_string());
    match op {
        Op::Mkdir { path } => match root
            .resolve(path)
            .and_then(|t| create_dirs(&t).map_err(ApiError::from))
        {
            Ok(()) => (
                FileResult {
                    path: Some(path.clone()),
                    ..op_done("mkdir")
                },
                Some(Change::new(FileEventKind::Mkdir, path)),
            ),
            Err(e) => (failed("mkdir", &e.message), None),
        },
        Op::Delete { path, recursive } => {
            let target = match root.resolve(path) {
                Ok(t) => t,
                Err(e) => return (failed("delete", &e.message), None),
            };
            let Ok(meta) = std::fs::symlink_metadata(&target) else {
                let missing = FileResult {
                    path: Some(path.clone()),
                    ..op_failed("delete", "file_not_found", "Path not found")
                };
                return (missing, None);
            };
            let removed = match (meta.is_dir(), recursive) {
                (true, true) => std::fs::remove_dir_all(&target),
                (true, false) => std::fs::remove_dir(&target),
                _ => std::fs::remove_file(&target),
            };
            match removed {
                Ok(()) => (
                    FileResult {
                        path: Some(path.clone()),
                        ..op_done("delete")
                    },
                    Some(Change::new(FileEventKind::Delete, path)),
                ),
                Err(e) => (failed("delete", &e), None),
            }
        }
        Op::Rename { from, to } => {
            let (source, dest) = match (root.resolve(from), root.resolve(to)) {
                (Ok(s), Ok(d)) => (s, d),
                (Err(e), _) | (_, Err(e)) => return (failed("rename", &e.message), None),
            };
            let ends = |result: FileResult| FileResult {
                from: Some(from.clone()),
                to: Some(to.clone()),
                ..result
            };
            if std::fs::symlink_metadata(&source).is_err() {
                let missing = op_failed("rename", "file_not_found", "Source path not found");
                return (ends(missing), None);
            }
            let moved = dest
                .parent()
                .map_or(Ok(()), create_dirs)
                .and_then(|()| std::fs::rename(&source, &dest));
            match moved {
                Ok(()) => (
                    ends(op_done("rename")),
                    Some(Change {
                        to_path: Some(to.clone()),
                        ..Change::new(FileEventKind::Rename, from)
                    }),
                ),
                Err(e) => (failed("rename", &e), None),
            }
        }
        Op::Invalid {
            kind,
            code,
            message,
        } => (op_failed(kind, code, message.clone()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_clamped() {
        // A non-number `ttlSeconds` arrives as none (shared::lenient).
        let ttl = |body: &str| {
            let open: openwork_shared::models::FileSessionOpen =
                serde_json::from_str(body).unwrap();
            ttl_ms(open.ttl_seconds)
        };
        assert_eq!(ttl("{}"), 900_000);
        assert_eq!(ttl(r#"{"ttlSeconds":"60"}"#), 900_000);
        assert_eq!(ttl(r#"{"ttlSeconds":1}"#), 30_000);
        assert_eq!(ttl(r#"{"ttlSeconds":90.5}"#), 90_500);
        assert_eq!(ttl(r#"{"ttlSeconds":1e9}"#), 86_400_000);
    }

    #[test]
    fn events_report_a_reset_when_the_cursor_fell_out() {
        let events = FileEvents::default();
        for i in 0..(EVENTS_KEPT + 10) {
            events.record(
                "ws",
                &Change::new(FileEventKind::Write, &format!("f{i}")),
                0,
            );
        }
        let page = events.since("ws", 3);
        assert!(page.reset);
        assert_eq!(page.items.len(), EVENTS_KEPT);
        let page = events.since("ws", 10);
        assert!(!page.reset);
        assert_eq!(page.cursor, (EVENTS_KEPT + 10) as u64);
    }

    #[test]
    fn same_sized_content_in_the_same_millisecond_gets_a_new_revision() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        std::fs::write(&target, "one").unwrap();
        let old = revision(&std::fs::metadata(&target).unwrap());
        // Staged content of the same size, dated to the old content's time:
        // what a write in the same millisecond looks like.
        let staged = stage(&target, b"two").unwrap();
        let then = std::fs::metadata(&target).unwrap().modified().unwrap();
        staged.file().set_modified(then).unwrap();
        assert_eq!(revision(&staged.file().metadata().unwrap()), old);
        show_new_revision(&staged, Some(&old)).unwrap();
        staged.commit().unwrap();
        let new = revision(&std::fs::metadata(&target).unwrap());
        assert_ne!(new, old);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "two");
        // A revision that differs anyway leaves the time as written.
        let staged = stage(&target, b"three").unwrap();
        let written = staged.file().metadata().unwrap().modified().unwrap();
        show_new_revision(&staged, Some(&new)).unwrap();
        assert_eq!(
            staged.file().metadata().unwrap().modified().unwrap(),
            written
        );
    }

    #[test]
    fn the_answer_is_what_serializing_the_results_gives() {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path();
        std::fs::write(root_path.join("a.txt"), b"hello \"world\"\n\x00\xff").unwrap();
        std::fs::write(root_path.join("empty"), b"").unwrap();
        std::os::unix::fs::symlink("a.txt", root_path.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root_path.join("out")).unwrap();
        let root = Root::new(root_path).unwrap();
        let paths = ["a.txt", "missing", "empty", "link", "out"];
        let items: Vec<ReadItem> = paths
            .iter()
            .map(|p| read_item(p, open_item(&root, p)))
            .collect();
        let expected = openwork_shared::models::ReadResults {
            items: items
                .iter()
                .map(|item| FileResult {
                    content_base64: item
                        .content
                        .as_ref()
                        .map(|c| base64::engine::general_purpose::STANDARD.encode(c)),
                    ..item.result.clone()
                })
                .collect(),
        };
        let written = read_answer(&items).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        // Read through the symlink inside; refused through the one out.
        assert!(items[3].content.is_some());
        assert_eq!(items[4].result.code.as_deref(), Some("invalid_path"));
        assert_eq!(items[1].result.code.as_deref(), Some("file_not_found"));
    }
}
