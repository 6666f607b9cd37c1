//! Group commit for the append-only logs (audit lines, approval history)
//! and for the folder syncs of workspace writes. A round takes every
//! request queued since the last one, appends the lines in order, makes
//! all of it durable with as few device flushes as it can, and only then
//! answers. A write runs the round on its own blocking thread
//! ([`Journal::commit_now`]); what async code queues is taken by the next
//! round, or by the journal's thread, which is woken for it.
//!
//! Lines reach their logs through the page cache; what makes them durable
//! is a copy in a write-ahead log, `<data>/journal.wal`: a file of fixed
//! size, written once with zeros, whose blocks are then only overwritten
//! (no size or block-map change, so no metadata to sync). A round writes
//! its lines there as checksummed frames with direct I/O, so the device has
//! them when the write returns; the flush that makes them durable is then
//! one of the folder syncs the round does anyway (a flush covers every
//! write the device completed before it), or, when the round has none on
//! that device or the file system is not one that overwrites in place, one
//! `fdatasync` of the write-ahead log. Once the log is full, the logs it
//! covers are synced and it starts over (a new epoch). At start, frames of
//! the current epoch are written back where they belong (a power loss may
//! have taken the page cache) before anything reads the logs.
//!
//! Each process locks the write-ahead log it uses; a second openworkd on
//! the same data folder takes the next one. Without any (all held), each
//! log is synced with `fdatasync` per round, as durable and slower.

use parking_lot::{Mutex, MutexGuard};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use crate::workspace::paths::{Deferred, Logged};

/// The write-ahead log's size; a round that does not fit starts a new epoch.
const SEGMENT: u64 = 8 << 20;
/// Its unit: the header (magic and epoch) fills the first; each round's
/// frames start on a new one (a block holding answered frames is never
/// written again in the same epoch, so a torn write cannot take them).
const BLOCK: u64 = 4096;
const HEADER_MAGIC: &[u8; 4] = b"OWJ1";
const FRAME_MAGIC: &[u8; 4] = b"OWJF";
/// Magic, epoch, body length, checksum.
const FRAME_HEAD: usize = 20;
/// How many write-ahead logs a data folder may have: one per openworkd
/// running on it at once.
const WALS: usize = 8;
/// How long a lazy line waits for a commit to share its flush with.
const LAZY_WAIT: Duration = Duration::from_millis(20);
/// How long after the first file kept in the write-ahead log the files and
/// folders it covers are flushed and the log starts over (a checkpoint).
const CHECKPOINT_AFTER: Duration = Duration::from_secs(1);
/// The offset a frame gives for a whole file's new content (a [`Logged`]
/// replace) rather than a line appended at an offset.
const REPLACED: u64 = u64::MAX;
/// Where the header keeps the boot the epoch was started in: file frames
/// are only written back after the machine restarted (a process that died
/// left its files in the page cache, whole).
const BOOT: std::ops::Range<usize> = 12..48;

/// One line (or lines) to append to `path`, created with `mode`.
pub struct Line {
    pub path: PathBuf,
    pub mode: u32,
    pub bytes: Vec<u8>,
}

enum Op {
    /// Append the lines and make these folders' entries durable; answered
    /// once all of it is (for a write's records, with the folders' result).
    Commit {
        lines: Vec<Line>,
        folders: Vec<PathBuf>,
        /// Files replaced with content kept in the write-ahead log.
        logged: Vec<Logged>,
        of_a_write: bool,
    },
    /// Append a line; answered with the next flush (a commit queued soon
    /// after brings it; else the journal flushes after [`LAZY_WAIT`]).
    Lazy(Line),
    /// Replace the file atomically (compaction); ordered with the appends.
    Replace(Line),
}

type Answer = oneshot::Sender<Result<(), String>>;

struct Request {
    op: Op,
    done: Answer,
}

/// The queue of what is to be written, and who writes it: the writer
/// thread for requests from async code, or a blocking thread that commits
/// and waits ([`Journal::commit_now`]), taking along whatever else is
/// queued by then.
#[derive(Clone)]
pub struct Journal {
    shared: Arc<Shared>,
    /// Wakes the writer thread.
    wake: mpsc::Sender<()>,
}

struct Shared {
    queue: Mutex<Vec<Request>>,
    /// Held for a round: whoever holds it next takes the queue.
    writer: Mutex<Writer>,
}

impl Shared {
    /// Write what is queued, then flush everything the write-ahead log
    /// covers and start it over.
    fn close_out(&self) {
        self.round(self.writer.lock());
        let mut writer = self.writer.lock();
        writer.flush_parked();
        if let Err(e) = writer.checkpoint() {
            crate::logging::error(&format!("journal: {e}"));
        }
    }

    /// Run a round over everything queued, if anything is. When all it
    /// still needs is the device's flush, that is made after the writer is
    /// let go: the next round writes its frames while this one flushes.
    /// Returns whether a checkpoint fell due that the journal's thread was
    /// not yet told of.
    fn round(&self, mut writer: MutexGuard<'_, Writer>) -> bool {
        let batch = std::mem::take(&mut *self.queue.lock());
        let flush = match batch.is_empty() {
            true => None,
            false => writer.round(batch),
        };
        let wake = writer.due.is_some() && !writer.timed;
        writer.timed |= wake;
        drop(writer);
        if let Some(flush) = flush {
            flush.finish();
        }
        wake
    }
}

/// Resolves once the request is on disk (or failed).
pub struct Durable {
    answer: Option<oneshot::Receiver<Result<(), String>>>,
    /// For a lazy line: the journal, asked to flush when the line is
    /// waited for before a commit took it.
    lazy: Option<Journal>,
}

impl Durable {
    /// Already durable (nothing was queued).
    pub fn done() -> Durable {
        Durable {
            answer: None,
            lazy: None,
        }
    }

    pub async fn wait(self) -> io::Result<()> {
        let Some(mut rx) = self.answer else {
            return Ok(());
        };
        let answered = match rx.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => {
                if let Some(journal) = &self.lazy {
                    // No commit brought it yet: an empty one does.
                    drop(journal.send(Op::Commit {
                        lines: Vec::new(),
                        folders: Vec::new(),
                        logged: Vec::new(),
                        of_a_write: false,
                    }));
                }
                rx.await.ok()
            }
            Err(oneshot::error::TryRecvError::Closed) => None,
            Ok(result) => Some(result),
        };
        answer_of(answered)
    }
}

impl Journal {
    /// The journal of the logs under `data_dir`: what its write-ahead log
    /// holds is written back first, then the writer thread starts.
    pub fn open(data_dir: &Path) -> Journal {
        let wal = match Wal::open(data_dir) {
            Ok(wal) => wal,
            Err(e) => {
                crate::logging::warn(&format!(
                    "journal: no write-ahead log ({e}); each log is synced on its own"
                ));
                None
            }
        };
        let (wake, woken) = mpsc::channel::<()>();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::new()),
            writer: Mutex::new(Writer {
                wal,
                dirty: BTreeSet::new(),
                parked: Vec::new(),
                held: Vec::new(),
                files: BTreeSet::new(),
                file_folders: BTreeSet::new(),
                due: None,
                timed: false,
            }),
        });
        let theirs = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("openworkd-journal".into())
            .spawn(move || run(&theirs, &woken));
        if let Err(e) = spawned {
            crate::logging::error(&format!("cannot start the journal writer: {e}"));
        }
        Journal { shared, wake }
    }

    /// At a clean stop: what is queued written, then the files and logs the
    /// write-ahead log covers flushed and the log started over, so that the
    /// next start has nothing to write back (and never writes a log's old
    /// lines over what was done to it while the daemon was stopped). Later
    /// commits still work.
    pub fn close_out(&self) {
        self.shared.close_out();
    }

    /// Append `line` (whole lines) to its log.
    pub fn append(&self, line: Line) -> Durable {
        self.send(Op::Commit {
            lines: vec![line],
            folders: Vec::new(),
            logged: Vec::new(),
            of_a_write: false,
        })
    }

    /// Append `line`, durable with the next commit: for a record whose
    /// requester commits more right after (the decision that lets a write
    /// through). Nothing is woken for it; waiting for it before a commit
    /// took it asks for a flush.
    pub fn append_lazy(&self, line: Line) -> Durable {
        let (done, answer) = oneshot::channel();
        let op = Op::Lazy(line);
        self.shared.queue.lock().push(Request { op, done });
        Durable {
            answer: Some(answer),
            lazy: Some(self.clone()),
        }
    }

    /// Append `lines` and make what a write changed durable (`changed`:
    /// folders to sync, files whose content goes into the write-ahead
    /// log), on this thread (a blocking one: never call it on an async
    /// worker). The answer is the change's (the lines are a write's
    /// records: a failure to keep them is logged, the change happened all
    /// the same). It runs with whatever else is queued: once another round
    /// is over, the first to take the writer runs one for all that queued
    /// meanwhile.
    pub fn commit_now(&self, lines: Vec<Line>, changed: Deferred) -> io::Result<()> {
        let (done, mut answer) = oneshot::channel();
        let op = Op::Commit {
            lines,
            folders: changed.folders.into_iter().collect(),
            logged: changed.logged,
            of_a_write: true,
        };
        self.shared.queue.lock().push(Request { op, done });
        let writer = self.shared.writer.lock();
        // Answered already by a round that held the writer; else ours is
        // still queued (run one), or taken by a round still flushing.
        if let Ok(result) = answer.try_recv() {
            return answer_of(Some(result));
        }
        // A checkpoint fell due: the journal's thread keeps the time.
        if self.shared.round(writer) {
            let _ = self.wake.send(());
        }
        answer_of(answer.blocking_recv().ok())
    }

    /// Replace `path` with `bytes`, after the appends queued before.
    pub fn replace(&self, path: PathBuf, mode: u32, bytes: Vec<u8>) -> Durable {
        self.send(Op::Replace(Line { path, mode, bytes }))
    }

    fn send(&self, op: Op) -> Durable {
        let (done, rx) = oneshot::channel();
        self.shared.queue.lock().push(Request { op, done });
        // Gone only with the thread; whoever commits next takes the queue.
        let _ = self.wake.send(());
        Durable {
            answer: Some(rx),
            lazy: None,
        }
    }
}

/// What a request's answer says (`None`: the writer dropped it unanswered).
fn answer_of(answer: Option<Result<(), String>>) -> io::Result<()> {
    answer
        .ok_or_else(|| io::Error::other("the journal writer stopped"))?
        .map_err(io::Error::other)
}

/// The writer thread: a round for what is queued whenever woken; lazy
/// lines nobody committed after are flushed after [`LAZY_WAIT`], files kept
/// in the write-ahead log after [`CHECKPOINT_AFTER`].
fn run(shared: &Shared, woken: &mpsc::Receiver<()>) {
    loop {
        let wait = shared.writer.lock().wait();
        let received = match wait {
            None => woken
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(wait) => woken.recv_timeout(wait),
        };
        match received {
            Ok(()) => {
                while woken.try_recv().is_ok() {}
                shared.round(shared.writer.lock());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => shared.writer.lock().timed_out(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    shared.close_out();
}

/// What a round still has to do once its frames are written: the device's
/// flush, made without holding the writer.
struct Flush {
    flusher: Arc<File>,
    logged: Result<(), String>,
    commits: Vec<Pending>,
    parked: Vec<(Answer, Result<(), String>)>,
}

impl Flush {
    fn finish(self) {
        let flushed = flush_device(&self.flusher);
        let none = BTreeMap::new();
        answer(self.commits, self.parked, self.logged, &flushed, &none);
    }
}

/// Answer a round's commits and lazy lines: `logged` is what writing its
/// frames gave, `flushed` the flush of the device, `synced` each folder's
/// sync.
fn answer(
    commits: Vec<Pending>,
    parked: Vec<(Answer, Result<(), String>)>,
    logged: Result<(), String>,
    flushed: &Result<(), String>,
    synced: &BTreeMap<PathBuf, Result<(), String>>,
) {
    let framed = logged.and_then(|()| flushed.clone());
    for Pending {
        done,
        folders: theirs,
        of_a_write,
        written,
        files,
    } in commits
    {
        let lines = written.and_then(|()| flushed.clone());
        let result = match of_a_write {
            false => lines,
            // A write's change happened: it is answered by its folders'
            // syncs and its files' frames; a record that failed is
            // logged, not answered.
            true => {
                if let Err(e) = lines {
                    crate::logging::error(&format!("audit append failed: {e}"));
                }
                let files = files.map_or(Ok(()), |kept| kept.and_then(|()| framed.clone()));
                theirs
                    .iter()
                    .try_for_each(|f| synced.get(f).cloned().unwrap_or(Ok(())))
                    .and(files)
            }
        };
        let _ = done.send(result);
    }
    for (done, written) in parked {
        let _ = done.send(written.and_then(|()| flushed.clone()));
    }
}

/// A commit in a round, until it is answered.
struct Pending {
    done: Answer,
    /// The folders it waits for.
    folders: Vec<PathBuf>,
    /// A write's records (answered by its folders and files).
    of_a_write: bool,
    /// What appending its lines gave.
    written: Result<(), String>,
    /// Whether it kept files in the write-ahead log, and how that went.
    files: Option<Result<(), String>>,
}

struct Writer {
    wal: Option<Wal>,
    /// Logs appended to since their last sync.
    dirty: BTreeSet<PathBuf>,
    /// Lazy answers waiting for a flush, with what writing their line gave.
    parked: Vec<(Answer, Result<(), String>)>,
    /// Their frames, written with the next round's.
    held: Vec<u8>,
    /// Files kept in the write-ahead log since its epoch began, and their
    /// folders: flushed at the checkpoint, which is then due.
    files: BTreeSet<PathBuf>,
    file_folders: BTreeSet<PathBuf>,
    due: Option<Instant>,
    /// Whether the journal's thread was told a checkpoint is due.
    timed: bool,
}

impl Writer {
    /// Apply a batch in order, flush once, answer; or, when only the
    /// device's flush is left, what to make it and answer with after the
    /// writer is let go.
    fn round(&mut self, batch: Vec<Request>) -> Option<Flush> {
        let mut open: HashMap<PathBuf, io::Result<File>> = HashMap::new();
        let mut frames = std::mem::take(&mut self.held);
        let mut folders = BTreeSet::new();
        let mut commits: Vec<Pending> = Vec::new();
        for Request { op, done } in batch {
            match op {
                Op::Commit {
                    lines,
                    folders: theirs,
                    logged,
                    of_a_write,
                } => {
                    let written = lines
                        .iter()
                        .try_for_each(|line| self.write(&mut open, &mut frames, line));
                    let files = (!logged.is_empty()).then(|| {
                        logged
                            .iter()
                            .try_for_each(|file| self.keep(&mut frames, &mut folders, file))
                    });
                    folders.extend(theirs.iter().cloned());
                    commits.push(Pending {
                        done,
                        folders: theirs,
                        of_a_write,
                        written,
                        files,
                    });
                }
                Op::Lazy(line) => {
                    let written = self.write(&mut open, &mut frames, &line);
                    self.parked.push((done, written));
                }
                Op::Replace(line) => {
                    // Lines queued before it are in the old file (or its
                    // frames would be written back into the new one): make
                    // them durable, start a new epoch, then replace.
                    open.clear();
                    frames.clear();
                    let replaced = self.checkpoint().and_then(|()| {
                        crate::workspace::paths::write_atomic_with_mode(
                            &line.path,
                            &line.bytes,
                            line.mode,
                        )
                        .map_err(|e| e.to_string())
                    });
                    let _ = done.send(replaced);
                }
            }
        }
        if commits.is_empty() {
            // Only lazy lines: their frames and flush come with the next
            // commit (or after LAZY_WAIT).
            self.held = frames;
            return None;
        }
        let logged = self.log(&frames);
        if let Err(e) = &logged {
            // Not durable: whoever wrote a line this round is told so.
            for (_, written) in &mut self.parked {
                *written = Err(e.clone());
            }
            for Pending { written, .. } in &mut commits {
                *written = Err(e.clone());
            }
        }
        let parked = std::mem::take(&mut self.parked);
        let flusher = match &mut self.wal {
            Some(wal) if folders.is_empty() => wal.take_flush(),
            _ => None,
        };
        if let Some(flusher) = flusher {
            return Some(Flush {
                flusher,
                logged,
                commits,
                parked,
            });
        }
        let (flushed, synced) = self.flush(&folders);
        answer(commits, parked, logged, &flushed, &synced);
        None
    }

    /// How long the journal's thread may sleep before a lazy line's flush
    /// or a checkpoint is due (`None`: until woken).
    fn wait(&self) -> Option<Duration> {
        let lazy = (!self.parked.is_empty()).then_some(LAZY_WAIT);
        let due = self
            .due
            .map(|due| due.saturating_duration_since(Instant::now()));
        lazy.into_iter().chain(due).min()
    }

    /// The journal's thread slept its time: flush lazy lines, and
    /// checkpoint when it is due (retried a little later if it fails).
    fn timed_out(&mut self) {
        if !self.parked.is_empty() {
            self.flush_parked();
        }
        if self.due.is_some_and(|due| due <= Instant::now())
            && let Err(e) = self.checkpoint()
        {
            crate::logging::error(&format!("journal: checkpoint: {e}"));
            self.due = Some(Instant::now() + CHECKPOINT_AFTER);
        }
    }

    /// Keep a replaced file's new content as a frame (its file and folder
    /// are flushed at the checkpoint); without a write-ahead log, flush the
    /// file now and sync its folder in this round.
    fn keep(
        &mut self,
        frames: &mut Vec<u8>,
        folders: &mut BTreeSet<PathBuf>,
        file: &Logged,
    ) -> Result<(), String> {
        let Some(wal) = &self.wal else {
            flush_if_there(&file.path, Kind::File)
                .map_err(|e| format!("cannot sync {}: {e}", file.path.display()))?;
            folders.extend(folders_to_root(file));
            return Ok(());
        };
        encode_file(frames, wal.epoch, file);
        self.files.insert(file.path.clone());
        self.file_folders.extend(folders_to_root(file));
        self.due
            .get_or_insert_with(|| Instant::now() + CHECKPOINT_AFTER);
        Ok(())
    }

    /// Write the held frames and flush them: no commit came to share it.
    fn flush_parked(&mut self) {
        let frames = std::mem::take(&mut self.held);
        let flushed = self
            .log(&frames)
            .and_then(|()| self.flush(&BTreeSet::new()).0);
        let parked = std::mem::take(&mut self.parked);
        answer(Vec::new(), parked, Ok(()), &flushed, &BTreeMap::new());
    }

    /// Append `line` to its log (through the page cache) and frame it for
    /// the write-ahead log.
    fn write(
        &mut self,
        open: &mut HashMap<PathBuf, io::Result<File>>,
        frames: &mut Vec<u8>,
        line: &Line,
    ) -> Result<(), String> {
        let file = open
            .entry(line.path.clone())
            .or_insert_with(|| open_log(&line.path, line.mode, false));
        let file = file
            .as_mut()
            .map_err(|e| format!("cannot open {}: {e}", line.path.display()))?;
        // Appended (another process may share the log): where it landed
        // is where this descriptor's offset now ends.
        file.write_all(&line.bytes).map_err(|e| e.to_string())?;
        let end = file.stream_position().map_err(|e| e.to_string())?;
        let offset = end - line.bytes.len() as u64;
        self.dirty.insert(line.path.clone());
        if let Some(wal) = &self.wal {
            encode(frames, wal.epoch, line, offset);
        }
        Ok(())
    }

    /// Put the round's frames in the write-ahead log; when they do not fit,
    /// sync the logs instead and start a new epoch.
    fn log(&mut self, frames: &[u8]) -> Result<(), String> {
        let Some(wal) = &mut self.wal else {
            return Ok(());
        };
        if frames.is_empty() {
            return Ok(());
        }
        match wal.write(frames) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => crate::logging::error(&format!("journal: write-ahead log: {e}")),
        }
        self.checkpoint()
    }

    /// Make every line appended so far durable, and the entries of
    /// `folders`: the lines' result, and each folder's.
    fn flush(
        &mut self,
        folders: &BTreeSet<PathBuf>,
    ) -> (Result<(), String>, BTreeMap<PathBuf, Result<(), String>>) {
        // The frames are on the device (written direct): a folder's sync
        // flushes them with it.
        let mut covered = false;
        let synced = folders
            .iter()
            .map(|dir| {
                let result = match flush_if_there(dir, Kind::Folder) {
                    Ok(meta) => {
                        covered |= meta.is_some_and(|meta| {
                            self.wal.as_ref().is_some_and(|w| w.flushed_by(&meta))
                        });
                        Ok(())
                    }
                    Err(e) => Err(format!("cannot sync {}: {e}", dir.display())),
                };
                (dir.clone(), result)
            })
            .collect();
        let flushed = match &mut self.wal {
            Some(wal) if covered => {
                wal.unsynced = false;
                Ok(())
            }
            Some(wal) => wal.sync(),
            None => self.sync_logs(),
        };
        (flushed, synced)
    }

    /// `fdatasync` every log appended to since its last sync.
    fn sync_logs(&mut self) -> Result<(), String> {
        let mut result = Ok(());
        for path in std::mem::take(&mut self.dirty) {
            let synced = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|f| f.sync_data());
            if let Err(e) = synced {
                result = Err(format!("cannot sync {}: {e}", path.display()));
            }
        }
        result
    }

    /// Flush the files and logs the write-ahead log covers (and the
    /// folders of the files), then start it over.
    fn checkpoint(&mut self) -> Result<(), String> {
        let files = self.files.iter().map(|path| (path, Kind::File));
        let folders = self.file_folders.iter().map(|dir| (dir, Kind::Folder));
        for (path, kind) in files.chain(folders) {
            flush_if_there(path, kind)
                .map_err(|e| format!("cannot sync {}: {e}", path.display()))?;
        }
        self.files.clear();
        self.file_folders.clear();
        self.due = None;
        self.timed = false;
        self.sync_logs()?;
        match &mut self.wal {
            Some(wal) => wal.restart().map_err(|e| format!("write-ahead log: {e}")),
            None => Ok(()),
        }
    }
}

/// The write-ahead log, opened and locked by this process.
struct Wal {
    file: File,
    /// The same file opened for direct I/O, when a write through it is on
    /// the device once it returns and needs no metadata to be found there:
    /// then any later flush of that device makes it durable.
    direct: Option<File>,
    epoch: u64,
    /// Where the next round's frames go (a block boundary).
    end: u64,
    /// Whether frames were written since the last flush.
    unsynced: bool,
    /// The device it is on.
    dev: u64,
    /// With direct writes: a file on the same device that is never
    /// written, whose `fdatasync` is only the device's cache flush (see
    /// [`Wal::sync`]).
    flusher: Option<Arc<File>>,
}

impl Wal {
    /// Take a write-ahead log under `data_dir` for this process: the first
    /// of `journal.wal`, `journal-1.wal` … that no other process holds
    /// (locked for as long as this one runs; created filled with zeros).
    /// Every log that is free is written back first: one a process left
    /// when it died may be any of them. `None` when all are held.
    fn open(data_dir: &Path) -> io::Result<Option<Wal>> {
        crate::workspace::paths::create_dirs(data_dir)?;
        let mut mine: Option<Wal> = None;
        for k in 0..WALS {
            let path = match k {
                0 => data_dir.join("journal.wal"),
                _ => data_dir.join(format!("journal-{k}.wal")),
            };
            // Past the one taken, only those that exist are looked at.
            if mine.is_some() && !path.exists() {
                continue;
            }
            let options = |flags: i32| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | flags)
                    .open(&path)
            };
            let file = options(0)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => continue,
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
            let meta = file.metadata()?;
            let held = read_all(&file, meta.len().min(SEGMENT))?;
            let epoch = match held.get(..12) {
                Some(head) if &head[..4] == HEADER_MAGIC => number(&head[4..12]),
                _ => 0,
            };
            let same_boot = boot_id().is_some_and(|boot| held.get(BOOT) == Some(&boot[..]));
            replay(data_dir, &held, epoch, same_boot)?;
            let taking = mine.is_none();
            // Its staging folder goes with it: emptied of what a process
            // that held it left, and this process's when taken.
            let staging = match k {
                0 => data_dir.join("staging"),
                _ => data_dir.join(format!("staging-{k}")),
            };
            if taking {
                if let Err(e) = crate::workspace::paths::stage_in(&staging) {
                    crate::logging::warn(&format!(
                        "journal: temporary files are written beside their targets: {e}"
                    ));
                }
            } else {
                crate::workspace::paths::remove_leftovers(
                    &staging,
                    crate::workspace::paths::STAGING_DEPTH,
                    std::time::SystemTime::now(),
                );
            }
            if taking && meta.len() < SEGMENT {
                file.write_all_at(&vec![0; SEGMENT as usize], 0)?;
                file.sync_all()?;
                File::open(data_dir)?.sync_all()?;
            }
            let direct = match taking && overwrites_in_place(&file) {
                true => options(direct_flag()).ok(),
                false => None,
            };
            let flusher = match &direct {
                Some(_) => flusher(data_dir, meta.dev()).map(Arc::new),
                None => None,
            };
            let mut wal = Wal {
                dev: meta.dev(),
                file,
                direct,
                flusher,
                epoch,
                end: BLOCK,
                unsynced: false,
            };
            // Written back: a new epoch, so it never is again. One not
            // taken is unlocked as it is dropped.
            wal.restart()?;
            if taking {
                mine = Some(wal);
            }
        }
        if mine.is_none() {
            crate::logging::warn(&format!(
                "journal: every write-ahead log under {} is in use by another openworkd; each log is synced on its own",
                data_dir.display()
            ));
        }
        Ok(mine)
    }

    /// A new epoch: what the log held is no longer written back.
    fn restart(&mut self) -> io::Result<()> {
        self.epoch += 1;
        let mut head = [0u8; BLOCK as usize];
        head[..4].copy_from_slice(HEADER_MAGIC);
        head[4..12].copy_from_slice(&self.epoch.to_le_bytes());
        if let Some(boot) = boot_id() {
            head[BOOT].copy_from_slice(&boot);
        }
        self.file.write_all_at(&head, 0)?;
        self.file.sync_data()?;
        self.end = BLOCK;
        self.unsynced = false;
        Ok(())
    }

    /// Write a round's frames from the next block on, padded to whole
    /// blocks; `false` when they do not fit.
    fn write(&mut self, frames: &[u8]) -> io::Result<bool> {
        let padded = frames.len().div_ceil(BLOCK as usize) * BLOCK as usize;
        if self.end + padded as u64 > SEGMENT {
            return Ok(false);
        }
        // Direct I/O wants a buffer aligned to the block.
        let mut buffer = vec![0u8; padded + BLOCK as usize];
        let start = buffer.as_ptr().align_offset(BLOCK as usize);
        let block = &mut buffer[start..start + padded];
        block[..frames.len()].copy_from_slice(frames);
        match &self.direct {
            Some(direct) => direct.write_all_at(block, self.end)?,
            None => self.file.write_all_at(block, self.end)?,
        }
        self.end += padded as u64;
        self.unsynced = true;
        Ok(true)
    }

    /// Whether syncing a folder with this metadata flushed the device
    /// that already has every frame written.
    fn flushed_by(&self, folder: &std::fs::Metadata) -> bool {
        self.direct.is_some() && folder.dev() == self.dev
    }

    /// The flush the frames written since the last one still need, to be
    /// made by the caller (with direct writes and the flush file only):
    /// counted as made.
    fn take_flush(&mut self) -> Option<Arc<File>> {
        let flusher = self.flusher.as_ref().filter(|_| self.unsynced)?.clone();
        self.unsynced = false;
        Some(flusher)
    }

    /// Make the frames written since the last flush durable. Written
    /// direct, they are on the device already: what is left is the flush of
    /// its cache, which an `fdatasync` of a file with nothing to write
    /// makes. Not the log's own: each write changes its modification time,
    /// which some file systems (ext4 without a journal) then write out
    /// first, a device round trip the frames do not need.
    fn sync(&mut self) -> Result<(), String> {
        if !self.unsynced {
            return Ok(());
        }
        flush_device(self.flusher.as_deref().unwrap_or(&self.file))?;
        self.unsynced = false;
        Ok(())
    }
}

/// `fdatasync` of the write-ahead log or of the flush file (see
/// [`Wal::sync`]).
fn flush_device(file: &File) -> Result<(), String> {
    file.sync_data()
        .map_err(|e| format!("write-ahead log: {e}"))
}

/// The file the journal flushes: an empty file under `<data>/flush`, made
/// durable once and never written (shared by every openworkd on the data
/// folder); `None` when it cannot be had on the log's device.
///
/// On ext4 without a journal, `fdatasync` first writes the block of the
/// inode table that holds the file's inode when any inode in that block
/// changed, such as the write-ahead log's (its modification time) or an
/// audit log's: a device write before each flush. So the file chosen is
/// one whose whole block holds only empty files of its folder (see
/// [`clean_flush_file`]), in subfolders placed apart on the disk (where
/// inodes are given in order, with no others between them).
fn flusher(data_dir: &Path, dev: u64) -> Option<File> {
    let top = data_dir.join("flush");
    own_folder(&top, dev)?;
    crate::workspace::paths::place_subfolders_apart(&top);
    let mut chosen = None;
    for k in 0..FLUSH_FOLDERS {
        let dir = top.join(k.to_string());
        let ino = own_folder(&dir, dev)?;
        match clean_flush_file(&dir, ino).ok()? {
            Some(path) => {
                chosen = Some(path);
                break;
            }
            None => {
                chosen.get_or_insert_with(|| dir.join("f0"));
            }
        }
    }
    let path = chosen?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .ok()?;
    let meta = file.metadata().ok()?;
    (meta.is_file() && meta.dev() == dev && meta.len() == 0).then_some(())?;
    file.sync_all().ok()?;
    let parents = [path.parent()?, &top, data_dir];
    parents
        .iter()
        .try_for_each(|dir| File::open(dir).and_then(|d| d.sync_all()))
        .ok()?;
    Some(file)
}

/// `dir`, made if missing, when it is a real folder (not a symlink) on
/// device `dev`: its inode number.
fn own_folder(dir: &Path, dev: u64) -> Option<u64> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return None,
        _ => {}
    }
    let meta = std::fs::symlink_metadata(dir).ok()?;
    (meta.is_dir() && meta.dev() == dev).then_some(meta.ino())
}

/// Inode numbers in an aligned run of this many share blocks of the inode
/// table only among themselves (16 or 32 inodes a block with ext4's 4 KiB
/// blocks and 256- or 128-byte inodes).
const FLUSH_RUN: u64 = 32;
/// At most this many empty files are made in a flush subfolder…
const FLUSH_FILES: u64 = 2 * FLUSH_RUN;
/// … and at most this many subfolders are tried.
const FLUSH_FOLDERS: usize = 4;

/// A file of `dir` (`f0`, `f1` …) whose inode's whole aligned run belongs
/// to the folder (its files, itself): nothing else can change that part of
/// the inode table while the files stay. Empty files are added a run at a
/// time until one is found (`None`: not within [`FLUSH_FILES`]). On
/// another file system than ext4, `f0`.
fn clean_flush_file(dir: &Path, dir_ino: u64) -> io::Result<Option<PathBuf>> {
    use std::os::unix::fs::DirEntryExt;
    let make = |n: u64| {
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dir.join(format!("f{n}")));
        match made {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    };
    if !crate::workspace::paths::on_ext4(dir) {
        make(0)?;
        return Ok(Some(dir.join("f0")));
    }
    loop {
        let ours: BTreeMap<u64, PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| (e.ino(), e.path()))
            .collect();
        let clean = ours.iter().find_map(|(ino, path)| {
            let first = ino.saturating_sub(1) / FLUSH_RUN * FLUSH_RUN + 1;
            (first..first + FLUSH_RUN)
                .all(|n| n == dir_ino || ours.contains_key(&n))
                .then(|| path.clone())
        });
        let files = ours.len() as u64;
        if clean.is_some() || files >= FLUSH_FILES {
            return Ok(clean);
        }
        (files..files + FLUSH_RUN).try_for_each(make)?;
    }
}

#[cfg(target_os = "linux")]
fn direct_flag() -> i32 {
    libc::O_DIRECT
}

#[cfg(not(target_os = "linux"))]
fn direct_flag() -> i32 {
    0
}

/// Whether a direct write into the zero-filled log is on the device once it
/// returns and changes no metadata the frames need, so that a flush of the
/// device after it makes it durable: ext4 and xfs overwrite a written block
/// in place. Not when the file is encrypted or ext4 journals file data
/// (`data=journal`): ext4 then quietly buffers direct writes.
#[cfg(target_os = "linux")]
fn overwrites_in_place(file: &File) -> bool {
    use crate::workspace::paths::EXT4;
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    const XFS: i64 = 0x5846_5342;
    let kind = match rustix::fs::fstatfs(file) {
        // The field's width depends on the architecture.
        #[allow(clippy::unnecessary_cast)]
        Ok(fs) => fs.f_type as i64,
        Err(_) => return false,
    };
    let Ok(stat) = rustix::fs::statx(file, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID) else {
        return false;
    };
    let encrypted = !stat
        .stx_attributes_mask
        .contains(StatxAttributes::ENCRYPTED)
        || stat.stx_attributes.contains(StatxAttributes::ENCRYPTED);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let journals_data = super_options(&mounts, stat.stx_mnt_id)
        .is_none_or(|options| options.split(',').any(|o| o == "data=journal"));
    (kind == EXT4 || kind == XFS) && !encrypted && !journals_data
}

/// The file-system options of mount `id` in `/proc/self/mountinfo`'s text.
fn super_options(mountinfo: &str, id: u64) -> Option<&str> {
    mountinfo.lines().find_map(|line| {
        let (mount, rest) = line.split_once(' ')?;
        if mount.parse::<u64>().ok()? != id {
            return None;
        }
        // After " - ": type, source, options.
        let (_, tail) = rest.split_once(" - ")?;
        tail.split(' ').nth(2)
    })
}

#[cfg(not(target_os = "linux"))]
fn overwrites_in_place(_file: &File) -> bool {
    false
}

/// A little-endian number of up to 8 bytes.
fn number(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |n, &b| (n << 8) | u64::from(b))
}

fn read_all(file: &File, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// This boot of the machine (Linux), as the kernel names it.
fn boot_id() -> Option<[u8; 36]> {
    let text = std::fs::read("/proc/sys/kernel/random/boot_id").ok()?;
    text.get(..36)?.try_into().ok()
}

/// Append one frame for `line`, appended at `offset` of its log.
fn encode(frames: &mut Vec<u8>, epoch: u64, line: &Line, offset: u64) {
    encode_parts(frames, epoch, line.mode, offset, &line.path, &[&line.bytes]);
}

/// The folders whose entries lead to a logged file, from its own up to its
/// workspace's root (a write may have made any of them): each is synced.
fn folders_to_root(file: &Logged) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dir = file.path.parent();
    while let Some(folder) = dir {
        found.push(folder.to_path_buf());
        if folder.as_os_str().len() <= file.root_len || file.root_len == 0 {
            break;
        }
        dir = folder.parent();
    }
    found
}

/// Append one frame for a file's new content: the inodes before and after
/// the write and the length of its workspace root, then the content.
fn encode_file(frames: &mut Vec<u8>, epoch: u64, file: &Logged) {
    let parts = [
        &file.was.to_le_bytes()[..],
        &file.is.to_le_bytes(),
        &(file.root_len as u32).to_le_bytes(),
        &file.seq.to_le_bytes(),
        &file.bytes,
    ];
    encode_parts(frames, epoch, file.mode, REPLACED, &file.path, &parts);
}

/// Append one frame: `mode`, `offset`, `path`, then `parts` as its bytes.
fn encode_parts(
    frames: &mut Vec<u8>,
    epoch: u64,
    mode: u32,
    offset: u64,
    path: &Path,
    parts: &[&[u8]],
) {
    let path = path.as_os_str().as_bytes();
    let size = parts.iter().map(|p| p.len()).sum::<usize>();
    let mut body = Vec::with_capacity(16 + path.len() + size);
    body.extend_from_slice(&mode.to_le_bytes());
    body.extend_from_slice(&offset.to_le_bytes());
    body.extend_from_slice(&(path.len() as u32).to_le_bytes());
    body.extend_from_slice(path);
    for part in parts {
        body.extend_from_slice(part);
    }
    frames.extend_from_slice(FRAME_MAGIC);
    frames.extend_from_slice(&epoch.to_le_bytes());
    frames.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frames.extend_from_slice(&checksum(epoch, &body).to_le_bytes());
    frames.extend_from_slice(&body);
}

fn checksum(epoch: u64, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&epoch.to_le_bytes());
    hasher.update(body);
    hasher.finalize()
}

/// A frame as read back: the line and where it was appended.
struct Frame<'a> {
    mode: u32,
    offset: u64,
    path: &'a Path,
    bytes: &'a [u8],
}

/// The frames of `epoch` in `held`, in order, up to the first that is not
/// whole (a round cut short was never answered). Each round starts on a
/// block; zeros pad it to the next.
fn frames(held: &[u8], epoch: u64) -> Vec<Frame<'_>> {
    let block = BLOCK as usize;
    let mut found = Vec::new();
    let mut at = block;
    while let Some(head) = held.get(at..at + FRAME_HEAD) {
        if &head[..4] != FRAME_MAGIC {
            if at.is_multiple_of(block) {
                break;
            }
            // The padding after a round: the next one starts on a block.
            at = at.next_multiple_of(block);
            continue;
        }
        if number(&head[4..12]) != epoch {
            break;
        }
        let len = number(&head[12..16]) as usize;
        let Some(body) = held.get(at + FRAME_HEAD..at + FRAME_HEAD + len) else {
            break;
        };
        if u64::from(checksum(epoch, body)) != number(&head[16..20]) || body.len() < 16 {
            break;
        }
        let path_len = number(&body[12..16]) as usize;
        let Some(path) = body.get(16..16 + path_len) else {
            break;
        };
        found.push(Frame {
            mode: number(&body[..4]) as u32,
            offset: number(&body[4..12]),
            path: Path::new(std::ffi::OsStr::from_bytes(path)),
            bytes: &body[16 + path_len..],
        });
        at += FRAME_HEAD + len;
    }
    found
}

/// Write each frame of `epoch` back at its place in its log (under
/// `data_dir` only) where the log lacks it, and sync what changed. A log
/// now shorter than where a frame goes was cut by someone else: left alone.
/// Files kept in the log are written back (see [`write_back`]) unless this
/// is the boot that wrote them (`same_boot`: the page cache kept them).
fn replay(data_dir: &Path, held: &[u8], epoch: u64, same_boot: bool) -> io::Result<()> {
    let mut restored = 0usize;
    let mut touched = BTreeSet::new();
    let mut files: BTreeMap<&Path, Vec<Kept>> = BTreeMap::new();
    for frame in frames(held, epoch) {
        if frame.offset == REPLACED {
            if !same_boot && let Some(kept) = Kept::of(&frame) {
                files.entry(frame.path).or_default().push(kept);
            }
            continue;
        }
        if !frame.path.starts_with(data_dir) || (frame.offset > 0 && !frame.path.exists()) {
            continue;
        }
        let file = match open_log(frame.path, frame.mode, true) {
            Ok(file) => file,
            Err(e) => {
                crate::logging::warn(&format!(
                    "journal: cannot restore {}: {e}",
                    frame.path.display()
                ));
                continue;
            }
        };
        let len = file.metadata()?.len();
        if len < frame.offset {
            continue;
        }
        let mut there = vec![0; frame.bytes.len()];
        let have = (len - frame.offset).min(there.len() as u64) as usize;
        file.read_exact_at(&mut there[..have], frame.offset)?;
        if have == there.len() && there == frame.bytes {
            continue;
        }
        file.write_all_at(frame.bytes, frame.offset)?;
        restored += 1;
        touched.insert(frame.path.to_path_buf());
    }
    for path in &touched {
        File::open(path)?.sync_data()?;
    }
    if restored > 0 {
        crate::logging::warn(&format!(
            "journal: restored {restored} log lines that had not reached the disk"
        ));
    }
    let mut rewritten = 0usize;
    for (path, mut kept) in files {
        match write_back(path, &mut kept) {
            Ok(true) => rewritten += 1,
            Ok(false) => {}
            Err(e) => {
                crate::logging::warn(&format!("journal: cannot restore {}: {e}", path.display()))
            }
        }
    }
    if rewritten > 0 {
        crate::logging::warn(&format!(
            "journal: restored {rewritten} workspace files that had not reached the disk"
        ));
    }
    Ok(())
}

/// A file frame as read back.
struct Kept<'a> {
    mode: u32,
    /// The inodes the path held before and after the write (0: none).
    was: u64,
    is: u64,
    root_len: usize,
    /// When it was renamed into place (the last is what the path holds).
    seq: u64,
    content: &'a [u8],
}

impl<'a> Kept<'a> {
    fn of(frame: &Frame<'a>) -> Option<Kept<'a>> {
        let (head, content) = frame.bytes.split_at_checked(28)?;
        Some(Kept {
            mode: frame.mode,
            was: number(&head[..8]),
            is: number(&head[8..16]),
            root_len: number(&head[16..20]) as usize,
            seq: number(&head[20..28]),
            content,
        })
    }
}

/// Write back the content the writes of this epoch left at `path` last
/// (atomically, durably) if the path still holds what one of them left or
/// replaced (any inode they renamed into place, or the one the first
/// replaced; nothing, when one of them created it) and that content
/// differs. A path changed by someone since is left alone, and so is one
/// whose folders below the workspace are no longer plain folders.
fn write_back(path: &Path, kept: &mut [Kept]) -> io::Result<bool> {
    kept.sort_by_key(|k| k.seq);
    let Some(last) = kept.last() else {
        return Ok(false);
    };
    let ours = |ino: u64| kept.iter().any(|k| k.is == ino || k.was == ino);
    let created = kept.iter().any(|k| k.was == 0);
    let current = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && ours(meta.ino()) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound && created => None,
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {
            crate::logging::warn(&format!(
                "journal: {} changed after the write it keeps: left as it is",
                path.display()
            ));
            return Ok(false);
        }
    };
    if current.is_some_and(|meta| meta.len() == last.content.len() as u64)
        && std::fs::read(path)? == last.content
    {
        return Ok(false);
    }
    let parent = path.parent().ok_or_else(|| io::Error::other("no folder"))?;
    plain_folders(parent, last.root_len)?;
    crate::workspace::paths::create_dirs(parent)?;
    crate::workspace::paths::write_atomic_with_mode(path, last.content, last.mode)?;
    Ok(true)
}

/// Refuse a folder path with anything but plain folders (a symlink, a
/// file) below its first `root_len` bytes (the workspace): a write-back
/// must land where the write did. Missing folders are fine (created).
fn plain_folders(dir: &Path, root_len: usize) -> io::Result<()> {
    let bytes = dir.as_os_str().as_bytes();
    let root = Path::new(std::ffi::OsStr::from_bytes(
        &bytes[..root_len.min(bytes.len())],
    ));
    let below = dir.strip_prefix(root).unwrap_or(dir);
    let mut at = root.to_path_buf();
    for part in below.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            _ => {
                return Err(io::Error::other(format!(
                    "{} is not a plain folder",
                    at.display()
                )));
            }
        }
    }
    Ok(())
}

/// The file opened for appending (and reading), or with `at_offsets` for
/// writing at given offsets (writing back); created with exactly `mode`
/// (whatever the umask) and its folder entry made durable when it is new.
fn open_log(path: &Path, mode: u32, at_offsets: bool) -> io::Result<File> {
    use std::os::unix::fs::PermissionsExt;
    let options = || {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        match at_offsets {
            true => options.write(true),
            false => options.append(true),
        };
        options
    };
    match options().open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        opened => return opened,
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::workspace::paths::create_dirs(dir)?;
    match options().create_new(true).mode(mode).open(path) {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            File::open(dir)?.sync_all()?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => options().open(path),
        Err(e) => Err(e),
    }
}

/// What a path to flush names when the flush comes.
#[derive(Clone, Copy)]
enum Kind {
    /// A file: its data is flushed.
    File,
    /// A folder: its entries are.
    Folder,
}

/// Flush what `path` names now, if it still names a `kind`: its metadata,
/// or `None` when it no longer does. A write's flush comes after the
/// write, and in between the workspace may change under it: the file or
/// folder removed or moved away, a folder on the way replaced by a file or
/// a symlink loop, the file replaced by a symlink, a FIFO or a device, or
/// made unreachable to this process. What was written there is then gone
/// or superseded; there is nothing of it to flush, and that is not a
/// failure (a write must not fail, nor every later one, because the path
/// changed since). A file is looked at from its folder before it is
/// opened, never following a symlink, so nothing but a regular file is
/// ever opened (opening a FIFO would wait for a writer; a device could act).
fn flush_if_there(path: &Path, kind: Kind) -> io::Result<Option<std::fs::Metadata>> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;
    let gone = |e: Errno| match e {
        Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::ACCESS | Errno::PERM => Ok(None),
        e => Err(io::Error::from(e)),
    };
    let base = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let folder = match kind {
        Kind::Folder => path,
        Kind::File => path.parent().unwrap_or(Path::new(".")),
    };
    let folder = match rustix::fs::open(folder, base | OFlags::DIRECTORY, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => return gone(e),
    };
    let opened = match (kind, path.file_name()) {
        (Kind::Folder, _) => folder,
        (Kind::File, None) => return Ok(None),
        (Kind::File, Some(name)) => {
            let regular = |stat: &rustix::fs::Stat| {
                FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile
            };
            let seen = match rustix::fs::statat(&folder, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) if regular(&stat) => stat,
                Ok(_) => return Ok(None),
                Err(e) => return gone(e),
            };
            let fd = match rustix::fs::openat(&folder, name, base | OFlags::NOFOLLOW, Mode::empty())
            {
                Ok(fd) => fd,
                Err(e) => return gone(e),
            };
            match rustix::fs::fstat(&fd) {
                Ok(stat) if regular(&stat) && stat.st_ino == seen.st_ino => fd,
                Ok(_) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let file = File::from(opened);
    match kind {
        Kind::File => file.sync_data()?,
        Kind::Folder => file.sync_all()?,
    }
    file.metadata().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(path: &Path, text: &str) -> Line {
        Line {
            path: path.to_path_buf(),
            mode: 0o600,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn mount_options_are_read_from_mountinfo() {
        let text = "25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard\n\
                    31 25 0:27 / /data rw shared:2 - ext4 /dev/vdb rw,data=journal\n";
        assert_eq!(super_options(text, 25), Some("rw,discard"));
        assert_eq!(super_options(text, 31), Some("rw,data=journal"));
        assert_eq!(super_options(text, 7), None);
    }

    #[test]
    fn the_flush_file_shares_its_part_of_the_inode_table_with_no_other_file() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        // Files made before and after, in the same folder and beside it,
        // as the logs are.
        let busy = |name: &str| {
            let path = tmp.path().join(name);
            std::fs::write(&path, "x").unwrap();
            std::fs::metadata(&path).unwrap().ino()
        };
        let mut others: Vec<u64> = (0..20).map(|n| busy(&format!("before{n}"))).collect();
        let dev = std::fs::metadata(tmp.path()).unwrap().dev();
        let file = flusher(tmp.path(), dev).expect("a flush file");
        others.extend((0..20).map(|n| busy(&format!("after{n}"))));
        let ino = file.metadata().unwrap().ino();
        let top = tmp.path().join("flush");
        assert_eq!(file.metadata().unwrap().len(), 0);
        if crate::workspace::paths::on_ext4(tmp.path()) {
            let first = (ino - 1) / FLUSH_RUN * FLUSH_RUN + 1;
            let run = first..first + FLUSH_RUN;
            assert!(others.iter().all(|n| !run.contains(n)), "{ino} {others:?}");
            let inos = |dir: &Path| -> Vec<u64> {
                std::fs::read_dir(dir).map_or(Vec::new(), |entries| {
                    entries
                        .map(|e| e.unwrap().metadata().unwrap().ino())
                        .collect()
                })
            };
            let folder = (0..FLUSH_FOLDERS)
                .map(|k| top.join(k.to_string()))
                .find(|dir| inos(dir).contains(&ino))
                .expect("in one of the subfolders");
            let ours = inos(&folder);
            let dir = std::fs::metadata(&folder).unwrap().ino();
            assert!(run.clone().all(|n| n == dir || ours.contains(&n)));
            assert!(ours.len() as u64 <= FLUSH_FILES);
        }
        // Found again as it was when the journal opens again.
        let again = flusher(tmp.path(), dev).expect("a flush file");
        assert_eq!(again.metadata().unwrap().ino(), ino);
        // Not on another device, nor through a symlink put in its place.
        assert!(flusher(tmp.path(), dev + 1).is_none());
        std::fs::remove_dir_all(&top).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("before0"), &top).unwrap();
        assert!(flusher(tmp.path(), dev).is_none());
    }

    #[test]
    fn frames_read_back_up_to_the_first_torn_one() {
        let dir = Path::new("/data/audit/w.jsonl");
        let mut held = vec![0u8; BLOCK as usize];
        encode(&mut held, 7, &line(dir, "one\n"), 0);
        encode(&mut held, 7, &line(dir, "two\n"), 4);
        let whole = held.len();
        encode(&mut held, 7, &line(dir, "three\n"), 8);
        // Torn: the last frame's final byte never reached the disk.
        held.truncate(held.len() - 1);
        let found = frames(&held, 7);
        assert_eq!(found.len(), 2);
        assert_eq!((found[1].offset, found[1].bytes), (4, &b"two\n"[..]));
        // An older epoch's frames are not this one's.
        assert!(frames(&held[..whole], 8).is_empty());
        // A flipped bit ends the frames there.
        let mut flipped = held[..whole].to_vec();
        flipped[whole - 2] ^= 1;
        assert_eq!(frames(&flipped, 7).len(), 1);
    }

    #[test]
    fn a_full_write_ahead_log_starts_over_and_loses_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("audit").join("w.jsonl");
        let rounds = (SEGMENT / BLOCK) as usize + 50;
        {
            let journal = Journal::open(tmp.path());
            for n in 0..rounds {
                let text = format!("{n}\n");
                journal
                    .commit_now(vec![line(&log, &text)], Deferred::default())
                    .unwrap();
            }
            let wal = &journal.shared.writer.lock().wal;
            let wal = wal.as_ref().expect("the write-ahead log is in use");
            assert!(wal.epoch >= 2, "it filled up and started over");
            // Only this epoch's rounds are left to write back.
            let held = read_all(&wal.file, SEGMENT).unwrap();
            assert!(frames(&held, wal.epoch).len() < rounds / 2);
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let expected: String = (0..rounds).map(|n| format!("{n}\n")).collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn two_journals_on_one_data_folder_share_its_logs() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("approvals").join("history.jsonl");
        let (first, second) = (Journal::open(tmp.path()), Journal::open(tmp.path()));
        assert!(
            tmp.path().join("journal-1.wal").exists(),
            "the second has its own"
        );
        commit_from_threads(&[("a:", &first), ("b:", &second)], &log, 1000);
    }

    #[test]
    fn concurrent_commits_are_each_answered_once_their_round_is_flushed() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("audit").join("w.jsonl");
        let journal = Journal::open(tmp.path());
        // A round's flush is made after the writer is let go, so the next
        // round writes meanwhile: a committer whose request such a round
        // took waits for that round's answer, never answered by another.
        let names: Vec<String> = (0..8).map(|t| format!("{t}:")).collect();
        let writers: Vec<(&str, &Journal)> = names.iter().map(|n| (n.as_str(), &journal)).collect();
        commit_from_threads(&writers, &log, 300);
    }

    /// Commit `count` lines `{name}{n}` to `log` from one thread per
    /// writer; each line is in the log once its commit returns, and in the
    /// end each writer's lines are there in order, none written over another.
    fn commit_from_threads(writers: &[(&str, &Journal)], log: &Path, count: usize) {
        std::thread::scope(|scope| {
            for &(name, journal) in writers {
                scope.spawn(move || {
                    for n in 0..count {
                        let text = format!("{name}{n}\n");
                        journal
                            .commit_now(vec![line(log, &text)], Deferred::default())
                            .unwrap();
                        let written = std::fs::read_to_string(log).unwrap();
                        assert!(written.contains(&text), "answered before it was written");
                    }
                });
            }
        });
        let text = std::fs::read_to_string(log).unwrap();
        assert_eq!(text.lines().count(), writers.len() * count);
        for (name, _) in writers {
            let mine: Vec<&str> = text.lines().filter(|l| l.starts_with(name)).collect();
            let expected: Vec<String> = (0..count).map(|n| format!("{name}{n}")).collect();
            assert_eq!(mine, expected);
        }
    }

    /// A file frame as a write keeps it (`was` and `is`: the inodes before
    /// and after it; `seq`: when it was renamed) for `path` in the
    /// workspace `root`.
    fn file_frame(
        held: &mut Vec<u8>,
        root: &Path,
        path: &Path,
        (was, is, seq): (u64, u64, u64),
        text: &str,
    ) {
        let file = Logged {
            path: path.to_path_buf(),
            mode: 0o640,
            bytes: text.as_bytes().to_vec(),
            was,
            is,
            root_len: root.as_os_str().len(),
            seq,
        };
        encode_file(held, 5, &file);
    }

    fn ino(path: &Path) -> u64 {
        std::fs::symlink_metadata(path).unwrap().ino()
    }

    #[test]
    fn files_are_written_back_after_the_machine_restarted_unless_changed_since() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let root = tmp.path().join("ws");
        let at = |name: &str| root.join(name);
        let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap();
        std::fs::create_dir_all(at("a")).unwrap();
        for (name, text) in [
            // The renamed inode is in place, its content never got there.
            ("a/torn.md", "new con"),
            // The rename never got there: the replaced inode is in place.
            ("a/old.md", "old"),
            // Replaced by someone else since (another inode).
            ("a/theirs.md", "theirs"),
            ("a/whole.md", "whole"),
        ] {
            std::fs::write(at(name), text).unwrap();
        }
        let mut held = vec![0u8; BLOCK as usize];
        let mut frame = |name: &str, (was, is): (u64, u64), seq: u64, text: &str| {
            file_frame(&mut held, &root, &at(name), (was, is, seq), text);
        };
        let torn = ino(&at("a/torn.md"));
        frame("a/torn.md", (1, 2), 1, "first");
        frame("a/torn.md", (2, torn), 2, "new content");
        // Two writes, neither rename got there, their frames in the log in
        // the other order (the second committed first): the last renamed
        // wins, over the inode the first replaced.
        let old = ino(&at("a/old.md"));
        frame("a/old.md", (3, 4), 4, "newest");
        frame("a/old.md", (old, 3), 3, "newer");
        // Made by the write, lost with its folders.
        frame("b/c/made.md", (0, 1), 5, "made");
        frame("a/theirs.md", (1, 2), 6, "ours");
        // Removed by someone else since.
        frame("a/gone.md", (1, 2), 7, "ours");
        let whole = ino(&at("a/whole.md"));
        frame("a/whole.md", (1, whole), 8, "whole");

        // The same boot: the page cache kept every file, none is touched.
        replay(&data, &held, 5, true).unwrap();
        assert_eq!(read("a/torn.md"), "new con");
        assert!(!at("b").exists());

        replay(&data, &held, 5, false).unwrap();
        assert_eq!(read("a/torn.md"), "new content");
        assert_eq!(read("a/old.md"), "newest");
        assert_eq!(read("b/c/made.md"), "made");
        let mode = std::fs::metadata(at("b/c/made.md"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(read("a/theirs.md"), "theirs");
        assert!(!at("a/gone.md").exists());
        assert_eq!(
            ino(&at("a/whole.md")),
            whole,
            "a whole file is not rewritten"
        );

        // A folder below the workspace became a symlink: nothing is
        // written through it.
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::remove_dir_all(at("b")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, at("b")).unwrap();
        replay(&data, &held, 5, false).unwrap();
        assert!(!elsewhere.join("c").exists());
    }

    #[test]
    fn every_folder_a_logged_file_may_have_made_is_synced() {
        let file = |path: &str, root: &str| Logged {
            path: PathBuf::from(path),
            mode: 0o644,
            bytes: Vec::new(),
            was: 0,
            is: 1,
            root_len: root.len(),
            seq: 0,
        };
        let folders = |f: &Logged| folders_to_root(f);
        assert_eq!(
            folders(&file("/w/ws/a/b/f.md", "/w/ws")),
            ["/w/ws/a/b", "/w/ws/a", "/w/ws"].map(PathBuf::from)
        );
        assert_eq!(
            folders(&file("/w/ws/f.md", "/w/ws")),
            [PathBuf::from("/w/ws")]
        );
        // No root known: its own folder only.
        assert_eq!(
            folders(&file("/w/ws/a/f.md", "")),
            [PathBuf::from("/w/ws/a")]
        );
    }

    #[test]
    fn a_kept_file_is_flushed_by_a_checkpoint_within_a_second() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("ws").join("f.md");
        let journal = Journal::open(&tmp.path().join("data"));
        let epoch = |journal: &Journal| {
            let writer = journal.shared.writer.lock();
            let wal = writer.wal.as_ref().expect("the write-ahead log is in use");
            let held = read_all(&wal.file, SEGMENT).unwrap();
            let kept = frames(&held, wal.epoch)
                .iter()
                .filter(|f| f.offset == REPLACED)
                .count();
            (wal.epoch, kept)
        };
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "text").unwrap();
        let changed = Deferred {
            folders: BTreeSet::new(),
            logged: vec![Logged {
                path: file.clone(),
                mode: 0o644,
                bytes: b"text".to_vec(),
                was: 0,
                is: ino(&file),
                root_len: 0,
                seq: 0,
            }],
        };
        let (before, _) = epoch(&journal);
        journal.commit_now(Vec::new(), changed).unwrap();
        assert_eq!(epoch(&journal), (before, 1), "kept in the log");
        let deadline = Instant::now() + Duration::from_secs(10);
        while epoch(&journal).0 == before {
            assert!(Instant::now() < deadline, "no checkpoint");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(epoch(&journal).1, 0, "a new epoch holds nothing");
        assert!(journal.shared.writer.lock().files.is_empty());
    }

    #[test]
    fn replay_restores_lost_lines_and_leaves_what_is_there() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("audit").join("w.jsonl");
        let outside = tmp.path().with_extension("outside");
        let mut held = vec![0u8; BLOCK as usize];
        encode(&mut held, 3, &line(&log, "one\n"), 0);
        encode(&mut held, 3, &line(&log, "two\n"), 4);
        encode(&mut held, 3, &line(&outside, "never\n"), 0);
        // The disk kept the first line and half of the second.
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::fs::write(&log, "one\ntw").unwrap();
        replay(tmp.path(), &held, 3, false).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        assert!(
            !outside.exists(),
            "a frame outside the data folder is ignored"
        );
        // Replayed again: nothing changes.
        replay(tmp.path(), &held, 3, false).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        // A log cut short by someone else is left alone.
        std::fs::write(&log, "").unwrap();
        let mut later = vec![0u8; BLOCK as usize];
        encode(&mut later, 4, &line(&log, "three\n"), 8);
        replay(tmp.path(), &later, 4, false).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
    }
}
