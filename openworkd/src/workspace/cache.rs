//! Parsed files cached until the file changes: an entry is reused while the
//! file's inode, size and modification time are unchanged. Values computed
//! from several files and folders (a skill listing) are cached on the stamps
//! of everything they looked at.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// File systems stamp changes with a coarse clock (a kernel tick, up to two
/// seconds on FAT): a stamp younger than this could be repeated by a change
/// made right after it was read, so it is not trusted for caching.
const STAMP_GRANULARITY_NS: i128 = 2_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        }
    }

    /// Whether any later change is bound to give a different stamp.
    fn settled(&self, now_ns: i128) -> bool {
        self.mtime_ns < now_ns - STAMP_GRANULARITY_NS
    }
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The stamp of whatever `path` names now (symlinks followed), None when
/// nothing is there.
fn stamp_at(path: &Path) -> io::Result<Option<Stamp>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(Stamp::of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub struct StampCache<T> {
    entries: Mutex<HashMap<PathBuf, (Option<Stamp>, T)>>,
}

impl<T> Default for StampCache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> StampCache<T> {
    /// The cached value for `path`, or `load(contents)` (None when the file
    /// does not exist) when the file changed since it was cached.
    pub fn get(&self, path: &Path, load: impl FnOnce(Option<&[u8]>) -> T) -> io::Result<T> {
        self.get_checked(path, || Ok::<(), io::Error>(()), load)
            .map_err(Miss::into_io)
    }

    /// [`get`](Self::get) where `load` is given only the file's last
    /// line within its last `tail` bytes (a log, however long it grew),
    /// read from its end.
    pub fn get_last_line(
        &self,
        path: &Path,
        tail: u64,
        load: impl FnOnce(Option<&[u8]>) -> T,
    ) -> io::Result<T> {
        let read = |p: &Path| {
            let (meta, mut lines) = super::paths::read_last_lines(p, 1, tail, 4096)?;
            Ok((meta, lines.pop().unwrap_or_default()))
        };
        self.get_read(path, || Ok::<(), io::Error>(()), read, load)
            .map_err(Miss::into_io)
    }

    /// [`get`](Self::get) where a cache miss first runs `check` (e.g. the
    /// workspace path resolver) and gives up with its error. A hit needs
    /// the same device, inode, size and mtime as the checked file had, so a
    /// file swapped for a symlink elsewhere is checked again.
    pub fn get_checked<E>(
        &self,
        path: &Path,
        check: impl FnOnce() -> Result<(), E>,
        load: impl FnOnce(Option<&[u8]>) -> T,
    ) -> Result<T, Miss<E>> {
        let read = |p: &Path| super::paths::read_file(p, super::paths::MAX_PARSED_BYTES);
        self.get_read(path, check, read, load)
    }

    fn get_read<E>(
        &self,
        path: &Path,
        check: impl FnOnce() -> Result<(), E>,
        read: impl FnOnce(&Path) -> io::Result<(std::fs::Metadata, Vec<u8>)>,
        load: impl FnOnce(Option<&[u8]>) -> T,
    ) -> Result<T, Miss<E>> {
        // One stat answers a hit. One that fails is explained by the
        // check when it can be (a workspace folder gone, an escape).
        let seen = match stamp_at(path) {
            Ok(seen) => seen,
            Err(e) => {
                check().map_err(Miss::Check)?;
                return Err(Miss::Io(e));
            }
        };
        // A file's absence is explained by the check too: the workspace
        // folder may be what went missing since it was cached.
        let hit = self.lookup(path, seen);
        if hit.is_none() || seen.is_none() {
            check().map_err(Miss::Check)?;
        }
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let (stamp, bytes) = match read(path) {
            Ok((meta, bytes)) => (Some(Stamp::of(&meta)), Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
            Err(e) => return Err(Miss::Io(e)),
        };
        let value = load(bytes.as_deref());
        let mut entries = self.entries.lock();
        if stamp.is_none_or(|s| s.settled(now_ns())) {
            entries.insert(path.to_path_buf(), (stamp, value.clone()));
        } else {
            entries.remove(path);
        }
        Ok(value)
    }

    fn lookup(&self, path: &Path, stamp: Option<Stamp>) -> Option<T> {
        let entries = self.entries.lock();
        match entries.get(path) {
            Some((cached, value)) if *cached == stamp => Some(value.clone()),
            _ => None,
        }
    }
}

/// What a computed value looked at, each check taken before the value read
/// what it covers.
#[derive(Debug, Default)]
pub struct Observed {
    seen: Vec<(PathBuf, Seen)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The path had this stamp, or nothing was there (None).
    Stamp(Option<Stamp>),
    /// Something was there; what it was does not matter.
    Present,
}

impl Observed {
    /// Stat `path` (symlinks followed) and remember what was there. A
    /// missing path is remembered through the folder that lacks its first
    /// missing part: one stamp then covers every path missing from it.
    pub fn stat(&mut self, path: &Path) -> Option<std::fs::Metadata> {
        let found = std::fs::metadata(path);
        self.note(path, &found, false);
        found.ok()
    }

    /// Whether `path` exists, remembered by presence only (a folder whose
    /// content churns, like `.git`, stays "unchanged" while it exists).
    pub fn exists(&mut self, path: &Path) -> bool {
        let found = std::fs::metadata(path);
        self.note(path, &found, true);
        found.is_ok()
    }

    fn note(&mut self, path: &Path, found: &io::Result<std::fs::Metadata>, presence_only: bool) {
        let (at, seen) = match found {
            Ok(_) if presence_only => (path, Seen::Present),
            Ok(meta) => (path, Seen::Stamp(Some(Stamp::of(meta)))),
            Err(e) if is_absent(e) => {
                let (at, stamp) = absence_witness(path);
                (at, Seen::Stamp(stamp))
            }
            Err(_) => (path, Seen::Stamp(None)),
        };
        self.record(at, seen);
    }

    fn record(&mut self, path: &Path, seen: Seen) {
        // The first check of a path is the earliest, so the one to keep.
        if !self.seen.iter().any(|(p, _)| p == path) {
            self.seen.push((path.to_path_buf(), seen));
        }
    }

    /// Whether everything looked at is as it was.
    fn unchanged(&self) -> bool {
        self.seen.iter().all(|(path, seen)| match seen {
            Seen::Present => std::fs::metadata(path).is_ok(),
            Seen::Stamp(stamp) => stamp_at(path).is_ok_and(|now| now == *stamp),
        })
    }

    fn settled(&self) -> bool {
        let now = now_ns();
        self.seen.iter().all(|(_, seen)| match seen {
            Seen::Stamp(Some(stamp)) => stamp.settled(now),
            Seen::Stamp(None) | Seen::Present => true,
        })
    }
}

/// Whether a failed stat means "nothing there" (a missing part, or a part
/// that is a file).
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// What proves `path` missing, and its stamp: the nearest ancestor that
/// exists (no entry can appear in it without changing its stamp), or the
/// path itself when a part of it is a dangling symlink (its target can
/// appear anywhere).
fn absence_witness(path: &Path) -> (&Path, Option<Stamp>) {
    let mut missing = path;
    loop {
        if std::fs::symlink_metadata(missing).is_ok() {
            return (path, None);
        }
        let Some(parent) = missing.parent() else {
            return (path, None);
        };
        match std::fs::metadata(parent) {
            Ok(meta) => return (parent, Some(Stamp::of(&meta))),
            Err(e) if is_absent(&e) => missing = parent,
            Err(_) => return (path, None),
        }
    }
}

/// Values computed from many paths, reused while every path they looked at
/// keeps its stamp.
pub struct ObservedCache<K, V> {
    entries: Mutex<HashMap<K, (std::sync::Arc<Observed>, V)>>,
}

impl<K, V> Default for ObservedCache<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> ObservedCache<K, V> {
    /// The cached value for `key` when nothing it looked at changed, else
    /// `compute`'s, which records what it looks at.
    pub fn get(&self, key: K, compute: impl FnOnce(&mut Observed) -> V) -> V {
        let cached = {
            let entries = self.entries.lock();
            entries.get(&key).map(|(seen, v)| (seen.clone(), v.clone()))
        };
        if let Some((seen, value)) = cached
            && seen.unchanged()
        {
            return value;
        }
        let mut seen = Observed::default();
        let value = compute(&mut seen);
        let mut entries = self.entries.lock();
        if seen.settled() {
            entries.insert(key, (std::sync::Arc::new(seen), value.clone()));
        } else {
            entries.remove(&key);
        }
        value
    }
}

/// Why [`StampCache::get_checked`] could not answer.
#[derive(Debug)]
pub enum Miss<E> {
    Io(io::Error),
    Check(E),
}

impl Miss<io::Error> {
    fn into_io(self) -> io::Error {
        match self {
            Miss::Io(e) | Miss::Check(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Set `path`'s modification time a minute back, out of the racy window.
    fn backdate(path: &Path) {
        let then = SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::open(path)
            .unwrap()
            .set_modified(then)
            .unwrap();
    }

    #[test]
    fn reloads_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let cache = StampCache::<String>::default();
        let loads = Cell::new(0);
        let load = |b: Option<&[u8]>| {
            loads.set(loads.get() + 1);
            String::from_utf8_lossy(b.unwrap_or(b"-")).into_owned()
        };
        assert_eq!(cache.get(&path, load).unwrap(), "-");
        assert_eq!(cache.get(&path, load).unwrap(), "-");
        assert_eq!(loads.get(), 1);
        crate::workspace::paths::write_atomic(&path, b"abc").unwrap();
        backdate(&path);
        assert_eq!(cache.get(&path, load).unwrap(), "abc");
        assert_eq!(cache.get(&path, load).unwrap(), "abc");
        assert_eq!(loads.get(), 2);
        // Same inode, same size: only the modification time tells.
        std::fs::write(&path, b"xyz").unwrap();
        assert_eq!(cache.get(&path, load).unwrap(), "xyz");
        assert_eq!(loads.get(), 3);
    }

    #[test]
    fn a_freshly_written_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let cache = StampCache::<usize>::default();
        let loads = Cell::new(0);
        let load = |_: Option<&[u8]>| {
            loads.set(loads.get() + 1);
            loads.get()
        };
        // A second write within the clock tick could keep the stamp, so a
        // young stamp is never trusted.
        cache.get(&path, load).unwrap();
        cache.get(&path, load).unwrap();
        assert_eq!(loads.get(), 2);
    }

    /// A cache over "does `probe` exist", counting computations.
    fn probe_cache(probe: &Path) -> impl Fn() -> (bool, usize) + '_ {
        let cache = ObservedCache::<(), bool>::default();
        let runs = Cell::new(0);
        move || {
            let found = cache.get((), |seen| {
                runs.set(runs.get() + 1);
                seen.stat(probe).is_some()
            });
            (found, runs.get())
        }
    }

    #[test]
    fn observed_value_notices_a_path_appearing_below_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("a/b/SKILL.md");
        backdate(dir.path());
        let get = probe_cache(&probe);
        assert_eq!(get(), (false, 1));
        assert_eq!(get(), (false, 1), "reused while nothing changed");
        std::fs::create_dir_all(probe.parent().unwrap()).unwrap();
        std::fs::write(&probe, b"x").unwrap();
        assert_eq!(get(), (true, 2));
    }

    #[test]
    fn observed_value_notices_a_dangling_symlink_target_appearing() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("skills");
        std::os::unix::fs::symlink(&target, dir.path().join("link")).unwrap();
        backdate(dir.path());
        let probe = dir.path().join("link/one");
        let get = probe_cache(&probe);
        assert_eq!(get(), (false, 1));
        assert_eq!(get(), (false, 1));
        // The folder holding the link does not change; the target appears.
        std::fs::create_dir_all(target.join("one")).unwrap();
        assert_eq!(get(), (true, 2));
    }

    #[test]
    fn observed_value_is_not_kept_while_a_stamp_is_young() {
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("missing");
        let get = probe_cache(&probe);
        assert_eq!(get(), (false, 1));
        assert_eq!(get(), (false, 2));
    }

    #[test]
    fn presence_only_ignores_churn_inside() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir(&git).unwrap();
        backdate(dir.path());
        let cache = ObservedCache::<(), bool>::default();
        let runs = Cell::new(0);
        let get = || {
            cache.get((), |seen| {
                runs.set(runs.get() + 1);
                seen.exists(&git)
            })
        };
        assert!(get());
        std::fs::write(git.join("index"), b"x").unwrap();
        assert!(get());
        assert_eq!(runs.get(), 1);
        std::fs::remove_dir_all(&git).unwrap();
        assert!(!get());
        assert_eq!(runs.get(), 2);
    }
}
