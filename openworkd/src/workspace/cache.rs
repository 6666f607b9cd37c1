//! Parsed files cached until the file changes: an entry is reused while the
//! file's inode, size and modification time are unchanged.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
            .map_err(|e| match e {
                Miss::Io(e) | Miss::Check(e) => e,
            })
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
        // One stat answers a hit.
        let seen = match std::fs::metadata(path) {
            Ok(meta) => Some(Stamp::of(&meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Miss::Io(e)),
        };
        if let Some(hit) = self.lookup(path, seen) {
            return Ok(hit);
        }
        check().map_err(Miss::Check)?;
        let (stamp, bytes) = match std::fs::File::open(path) {
            Ok(mut file) => {
                let stamp = Stamp::of(&file.metadata().map_err(Miss::Io)?);
                let mut bytes = Vec::with_capacity(stamp.len as usize);
                file.read_to_end(&mut bytes).map_err(Miss::Io)?;
                (Some(stamp), Some(bytes))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
            Err(e) => return Err(Miss::Io(e)),
        };
        let value = load(bytes.as_deref());
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(path.to_path_buf(), (stamp, value.clone()));
        Ok(value)
    }

    fn lookup(&self, path: &Path, stamp: Option<Stamp>) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(path) {
            Some((cached, value)) if *cached == stamp => Some(value.clone()),
            _ => None,
        }
    }
}

/// Why [`StampCache::get_checked`] could not answer.
#[derive(Debug)]
pub enum Miss<E> {
    Io(io::Error),
    Check(E),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

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
        assert_eq!(cache.get(&path, load).unwrap(), "abc");
        assert_eq!(cache.get(&path, load).unwrap(), "abc");
        assert_eq!(loads.get(), 2);
    }
}

/// The parsed-file caches the daemon keeps.
#[derive(Default)]
pub struct Caches {
    pub json: StampCache<crate::error::ApiResult<std::sync::Arc<serde_json::Value>>>,
    pub skills: StampCache<Option<super::skills::SkillDoc>>,
    pub audit_tail: StampCache<Option<u64>>,
}
