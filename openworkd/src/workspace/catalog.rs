//! The file-session catalog of each workspace, kept in memory while the
//! workspace is watched. A snapshot is served from memory when the tree
//! has not changed since it was walked: every watched change (made through
//! the API or seen on disk) drops it, and before serving it the folders'
//! modification times are compared (a name added, removed or renamed
//! anywhere shows at once, without waiting for the watcher). Each entry is
//! also kept as JSON, so a snapshot is assembled, not serialized. A walk
//! is kept only when every folder's time is clearly older than the walk
//! (a change in the same clock tick would not move it).

use crate::workspace::files::{mtime_ms, revision};
use crate::workspace::paths::is_temp_name;
use openwork_shared::models::{CatalogEntry, EntryKind};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Every file and folder under a root, as walked once.
pub struct Tree {
    /// Sorted by path, byte-wise.
    pub entries: Vec<CatalogEntry>,
    /// Each entry as JSON, in the same order.
    pub json: Vec<Box<str>>,
    /// Every folder walked (the root too), with its modification time then.
    folders: Vec<(PathBuf, Option<SystemTime>)>,
    /// Every folder's time is safely older than the walk: a later change
    /// cannot leave it unchanged (file system clocks are coarse).
    settled: bool,
}

/// How far apart two modification times must be to tell them apart.
const CLOCK_GRAIN: std::time::Duration = std::time::Duration::from_millis(100);

impl Tree {
    /// Walk `root`: files and folders, symlinks and special files skipped
    /// (never followed), temporary files of interrupted writes left out.
    pub fn walk(root: &Path) -> Tree {
        let started = SystemTime::now();
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut folders = vec![(root.to_path_buf(), modified(root))];
        let mut entries: Vec<CatalogEntry> = walkdir::WalkDir::new(root)
            .min_depth(1)
            .follow_links(false)
            .follow_root_links(false)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() || e.file_type().is_dir())
            .filter(|e| !e.file_name().to_str().is_some_and(is_temp_name))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                if meta.is_dir() {
                    folders.push((e.path().to_path_buf(), meta.modified().ok()));
                }
                let relative = e.path().strip_prefix(root).ok()?;
                let path = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                Some(CatalogEntry {
                    path,
                    kind: if meta.is_dir() {
                        EntryKind::Dir
                    } else {
                        EntryKind::File
                    },
                    size: if meta.is_dir() { 0 } else { meta.len() },
                    mtime_ms: mtime_ms(&meta),
                    revision: revision(&meta),
                })
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let json = entries
            .iter()
            .map(|e| {
                serde_json::to_string(e)
                    .unwrap_or_default()
                    .into_boxed_str()
            })
            .collect();
        let settled = folders
            .iter()
            .all(|(_, time)| time.is_some_and(|t| t + CLOCK_GRAIN < started));
        Tree {
            entries,
            json,
            folders,
            settled,
        }
    }

    /// No folder gained, lost or renamed an entry since the walk.
    fn folders_unchanged(&self) -> bool {
        self.folders
            .iter()
            .all(|(dir, then)| std::fs::metadata(dir).and_then(|m| m.modified()).ok() == *then)
    }

    /// The indexes of the entries at `prefix` or under it (all without
    /// one), after `after`, in order.
    pub fn select(&self, prefix: Option<&str>, after: Option<&str>) -> Vec<usize> {
        let at = |path: &str| self.entries.partition_point(|e| e.path.as_str() < path);
        let past = |index: usize| after.is_none_or(|a| self.entries[index].path.as_str() > a);
        let Some(prefix) = prefix else {
            let start = after.map_or(0, |a| {
                self.entries.partition_point(|e| e.path.as_str() <= a)
            });
            return (start..self.entries.len()).collect();
        };
        let mut chosen = Vec::new();
        let exact = at(prefix);
        if self.entries.get(exact).is_some_and(|e| e.path == prefix) && past(exact) {
            chosen.push(exact);
        }
        // "p/" .. "p0" ('0' follows '/') is exactly what lies under p.
        let (below, end) = (at(&format!("{prefix}/")), at(&format!("{prefix}0")));
        chosen.extend((below..end).filter(|i| past(*i)));
        chosen
    }
}

#[derive(Default)]
struct Slot {
    /// Bumped by every change, so a walk that raced one is not kept.
    generation: u64,
    watched: bool,
    tree: Option<Arc<Tree>>,
}

/// The kept trees, one per workspace id.
#[derive(Default)]
pub struct Catalogs(Mutex<HashMap<String, Slot>>);

impl Catalogs {
    /// Keep trees for this workspace only while its watcher runs.
    pub fn set_watched(&self, workspace_id: &str, watched: bool) {
        let mut map = self.0.lock();
        let slot = map.entry(workspace_id.to_owned()).or_default();
        slot.generation += 1;
        slot.watched = watched;
        slot.tree = None;
    }

    /// Something under the workspace changed.
    pub fn invalidate(&self, workspace_id: &str) {
        if let Some(slot) = self.0.lock().get_mut(workspace_id) {
            slot.generation += 1;
            slot.tree = None;
        }
    }

    /// The tree of the workspace at `root`: the kept one while nothing
    /// changed, else a new walk (kept if the workspace is watched and
    /// nothing changed during it).
    pub fn tree(&self, workspace_id: &str, root: &Path) -> Arc<Tree> {
        let (generation, watched, kept) = {
            let map = self.0.lock();
            map.get(workspace_id).map_or((0, false, None), |s| {
                (s.generation, s.watched, s.tree.clone())
            })
        };
        if let Some(tree) = kept
            && tree.folders_unchanged()
        {
            return tree;
        }
        let tree = Arc::new(Tree::walk(root));
        if watched && tree.settled {
            let mut map = self.0.lock();
            if let Some(slot) = map.get_mut(workspace_id)
                && slot.generation == generation
            {
                slot.tree = Some(tree.clone());
            }
        }
        tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_selects_itself_and_what_lies_under_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for path in ["c/d/e.txt", "c-x/f", "c.txt", "cc/g", "b.txt"] {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap_or(dir.path())).unwrap_or_default();
            std::fs::write(full, "x").unwrap_or_default();
        }
        let tree = Tree::walk(dir.path());
        let paths = |chosen: Vec<usize>| -> Vec<String> {
            chosen
                .into_iter()
                .map(|i| tree.entries[i].path.clone())
                .collect()
        };
        assert_eq!(
            paths(tree.select(Some("c"), None)),
            ["c", "c/d", "c/d/e.txt"]
        );
        assert_eq!(paths(tree.select(Some("c"), Some("c/d"))), ["c/d/e.txt"]);
        assert_eq!(paths(tree.select(None, Some("c/d/e.txt"))), ["cc", "cc/g"]);
        assert_eq!(tree.select(None, None).len(), tree.entries.len());
        assert!(tree.select(Some("nothing"), None).is_empty());
        assert_eq!(
            tree.json[0],
            serde_json::to_string(&tree.entries[0])
                .unwrap_or_default()
                .into_boxed_str()
        );
    }
}
