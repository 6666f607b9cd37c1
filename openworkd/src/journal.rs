//! Group commit for the append-only logs (audit lines, approval history):
//! one thread takes every request queued since its last round, writes them
//! in order, then makes each file durable with one `fdatasync`, and only
//! then answers. Concurrent writes share a sync instead of queuing for one
//! each, and a request never holds a runtime worker while the disk works.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use tokio::sync::oneshot;

enum Op {
    /// Append these bytes (whole lines) to the file, created with `mode`.
    Append {
        path: PathBuf,
        mode: u32,
        bytes: Vec<u8>,
    },
    /// Replace the file atomically (compaction); ordered with the appends.
    Replace {
        path: PathBuf,
        mode: u32,
        bytes: Vec<u8>,
    },
}

type Answer = oneshot::Sender<Result<(), String>>;

struct Request {
    op: Op,
    done: Answer,
}

/// The writer thread's queue.
pub struct Journal {
    queue: mpsc::Sender<Request>,
}

/// Resolves once the request is on disk (or failed).
pub struct Durable(Option<oneshot::Receiver<Result<(), String>>>);

impl Durable {
    /// Already durable (nothing was queued).
    pub fn done() -> Durable {
        Durable(None)
    }

    pub async fn wait(self) -> io::Result<()> {
        match self.0 {
            None => Ok(()),
            Some(rx) => match rx.await {
                Ok(result) => result.map_err(io::Error::other),
                Err(_) => Err(io::Error::other("the journal writer stopped")),
            },
        }
    }
}

impl Default for Journal {
    fn default() -> Self {
        let (queue, requests) = mpsc::channel::<Request>();
        let spawned = std::thread::Builder::new()
            .name("openworkd-journal".into())
            .spawn(move || {
                while let Ok(first) = requests.recv() {
                    let mut batch = vec![first];
                    batch.extend(requests.try_iter());
                    commit(batch);
                }
            });
        if let Err(e) = spawned {
            crate::logging::error(&format!("cannot start the journal writer: {e}"));
        }
        Journal { queue }
    }
}

impl Journal {
    /// Append `bytes` (whole lines) to `path`.
    pub fn append(&self, path: PathBuf, mode: u32, bytes: Vec<u8>) -> Durable {
        self.send(Op::Append { path, mode, bytes })
    }

    /// Replace `path` with `bytes`, after the appends queued before.
    pub fn replace(&self, path: PathBuf, mode: u32, bytes: Vec<u8>) -> Durable {
        self.send(Op::Replace { path, mode, bytes })
    }

    fn send(&self, op: Op) -> Durable {
        let (done, rx) = oneshot::channel();
        match self.queue.send(Request { op, done }) {
            Ok(()) => Durable(Some(rx)),
            Err(mpsc::SendError(request)) => {
                let _ = request
                    .done
                    .send(Err("the journal writer stopped".to_owned()));
                Durable(Some(rx))
            }
        }
    }
}

/// Apply a batch in order, sync each appended file once, answer everyone.
fn commit(batch: Vec<Request>) {
    let mut open: HashMap<PathBuf, io::Result<File>> = HashMap::new();
    // Who to answer, the file whose sync they wait for, what writing gave.
    let mut results: Vec<(Answer, Option<PathBuf>, Result<(), String>)> =
        Vec::with_capacity(batch.len());
    for Request { op, done } in batch {
        match op {
            Op::Append { path, mode, bytes } => {
                let file = open
                    .entry(path.clone())
                    .or_insert_with(|| open_log(&path, mode));
                let written = match file {
                    Ok(file) => file.write_all(&bytes).map_err(|e| e.to_string()),
                    Err(e) => Err(format!("cannot open {}: {e}", path.display())),
                };
                results.push((done, Some(path), written));
            }
            Op::Replace { path, mode, bytes } => {
                // Appends queued before it are in the old file: sync them
                // first, then replace.
                if let Some(Ok(file)) = open.remove(&path) {
                    let _ = file.sync_data();
                }
                let replaced = crate::workspace::paths::write_atomic_with_mode(&path, &bytes, mode)
                    .map_err(|e| e.to_string());
                results.push((done, None, replaced));
            }
        }
    }
    // Each file once, however many lines it got.
    let synced: HashMap<PathBuf, Result<(), String>> = open
        .into_iter()
        .map(|(path, file)| {
            let result = match file {
                Ok(file) => file.sync_data().map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            (path, result)
        })
        .collect();
    for (done, path, written) in results {
        let result = written.and_then(|()| match path.and_then(|p| synced.get(&p).cloned()) {
            Some(synced) => synced,
            None => Ok(()),
        });
        let _ = done.send(result);
    }
}

/// The file opened for appending; created with exactly `mode` (whatever
/// the umask) and its folder entry made durable when it is new.
fn open_log(path: &std::path::Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new().append(true).open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        opened => return opened,
    }
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    crate::workspace::paths::create_dirs(dir)?;
    let created = std::fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(mode)
        .open(path);
    match created {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            File::open(dir)?.sync_all()?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::OpenOptions::new().append(true).open(path)
        }
        Err(e) => Err(e),
    }
}
