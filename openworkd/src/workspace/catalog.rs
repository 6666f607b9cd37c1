//! The file-session catalog of each workspace, kept in memory while the
//! workspace is watched and kept current folder by folder. Before each
//! answer every kept folder's modification time is compared with the one
//! it had when read: a folder that gained, lost or renamed an entry is read
//! again at once, without waiting for the watcher. What the watcher or an
//! API write reports changed (content edited in place moves no folder's
//! time) is looked at again too. A folder whose time was too close to its
//! reading to tell a later change apart (file system clocks are coarse) is
//! read again until it has settled. Each entry is also kept as JSON, so a
//! snapshot is assembled, not serialized, and the last page served is kept
//! while nothing in the tree changes.

use crate::workspace::files::{mtime_ms, revision};
use crate::workspace::paths::{is_temp_name, slashed};
use axum::body::Bytes;
use openwork_shared::models::{CatalogEntry, EntryKind};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::Metadata;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// Changes kept for the next snapshot, at most; past this many the kept
/// tree is dropped.
const MAX_REPORTED: usize = 10_000;

/// How far apart two modification times must be to tell them apart.
const CLOCK_GRAIN: std::time::Duration = std::time::Duration::from_millis(100);

/// One file or folder of the catalog.
pub struct Item {
    pub dir: bool,
    /// Size and modification time, as the entry shows them.
    stamp: (u64, Option<SystemTime>),
    /// Its catalog entry as JSON.
    pub json: Box<str>,
}

/// Every file and folder under a root. Symlinks and special files are
/// skipped (never followed), temporary files of interrupted writes left out.
#[derive(Default)]
pub struct Tree {
    /// By path under the root (names joined with `/`), in byte order.
    items: BTreeMap<Box<str>, Item>,
    /// Every folder read (the root is `""`), as it was then.
    folders: HashMap<Box<str>, Folder>,
    /// Entries reported changed, to be looked at again.
    reported: BTreeSet<Box<str>>,
    /// An entry was added, removed or changed since the last refresh.
    altered: bool,
    /// New folders found, to be walked (a stack, not recursion: any depth).
    unread: Vec<Box<str>>,
}

struct Folder {
    /// Its modification time when read.
    modified: Option<SystemTime>,
    /// To be read again before the next answer.
    stale: bool,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn joined(folder: &str, name: &str) -> Box<str> {
    if folder.is_empty() {
        name.into()
    } else {
        format!("{folder}/{name}").into_boxed_str()
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// An entry the catalog lists: a file or a folder, not a temporary file.
fn listed(name: &str, meta: &Metadata) -> bool {
    !is_temp_name(name) && (meta.is_file() || meta.is_dir())
}

impl Tree {
    /// Walk everything under `root`.
    pub fn walk(root: &Path) -> Tree {
        let mut tree = Tree::default();
        tree.read_folder(root, "");
        tree
    }

    /// Read again every folder that changed or was reported changed
    /// (parents before what lies inside them), then look again at each
    /// entry reported changed. True when any entry changed.
    fn refresh(&mut self, root: &Path) -> bool {
        let mut due: Vec<Box<str>> = self
            .folders
            .iter()
            .filter(|(path, f)| f.stale || modified(&root.join(&***path)) != f.modified)
            .map(|(path, _)| path.clone())
            .collect();
        due.sort();
        for path in &due {
            // A folder read before may have taken this one away.
            if self.folders.contains_key(path) {
                self.read_folder(root, path);
            }
        }
        for path in std::mem::take(&mut self.reported) {
            if due.binary_search(&Box::from(parent(&path))).is_err() {
                self.look_again(root, &path);
            }
        }
        std::mem::take(&mut self.altered)
    }

    /// Read one folder and walk the new folders found in it.
    fn read_folder(&mut self, root: &Path, folder: &str) {
        self.unread.push(folder.into());
        self.read_unread(root);
    }

    fn read_unread(&mut self, root: &Path) {
        while let Some(folder) = self.unread.pop() {
            self.read_one_folder(root, &folder);
        }
    }

    /// Read one folder: names gone are dropped with all under them, new
    /// folders noted to be walked, each entry's size and time taken anew.
    fn read_one_folder(&mut self, root: &Path, folder: &str) {
        let dir = root.join(folder);
        let started = SystemTime::now();
        // The root may be reached through a symlink; nothing under it is.
        let meta = if folder.is_empty() {
            std::fs::metadata(&dir)
        } else {
            std::fs::symlink_metadata(&dir)
        }
        .ok();
        let time = meta.as_ref().and_then(|m| m.modified().ok());
        let mut found: Vec<(Box<str>, Metadata)> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let meta = entry.metadata().ok()?;
                listed(&name, &meta).then(|| (name.into_boxed_str(), meta))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for gone in self
            .children(folder)
            .iter()
            .filter(|name| found.binary_search_by(|(n, _)| n.cmp(name)).is_err())
        {
            self.remove(&joined(folder, gone));
        }
        for (name, meta) in &found {
            self.put(&joined(folder, name), meta);
        }
        let settled = time.is_some_and(|t| t + CLOCK_GRAIN < started);
        self.folders.insert(
            folder.into(),
            Folder {
                modified: time,
                stale: !settled,
            },
        );
        // Its own entry shows the time that a name coming or going inside
        // it moved, though its parent's names stayed the same.
        if let Some(meta) = meta.filter(|m| m.is_dir() && self.items.contains_key(folder)) {
            self.put(folder, &meta);
        }
    }

    /// The names the tree holds in `folder`: one range lookup per name,
    /// stepping over what lies inside each subfolder.
    fn children(&self, folder: &str) -> Vec<Box<str>> {
        let base = if folder.is_empty() {
            String::new()
        } else {
            format!("{folder}/")
        };
        let end = format!("{folder}0");
        let end = if folder.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(end.as_str())
        };
        let mut names: Vec<Box<str>> = Vec::new();
        let mut from = base.clone();
        let mut inclusive = true;
        loop {
            let start = if inclusive {
                Bound::Included(from.as_str())
            } else {
                Bound::Excluded(from.as_str())
            };
            let Some((path, _)) = self.items.range::<str, _>((start, end)).next() else {
                return names;
            };
            let rest = path.get(base.len()..).unwrap_or_default();
            match rest.split_once('/') {
                // Inside a subfolder (named before): go past "name/…".
                Some((name, _)) => {
                    from = format!("{base}{name}0");
                    inclusive = true;
                }
                None => {
                    names.push(rest.into());
                    from = path.to_string();
                    inclusive = false;
                }
            }
        }
    }

    /// Look at one entry again (its folder was not read again): its size
    /// and time now. A name that came or went moved its folder's time, so
    /// the folder is read again instead.
    fn look_again(&mut self, root: &Path, path: &str) {
        let meta = std::fs::symlink_metadata(root.join(path)).ok();
        let name = path.rsplit('/').next().unwrap_or_default();
        match meta {
            Some(meta) if self.items.contains_key(path) && listed(name, &meta) => {
                self.put(path, &meta);
                self.read_unread(root);
            }
            _ => {
                if let Some(folder) = self.folders.get_mut(parent(path)) {
                    folder.stale = true;
                }
            }
        }
    }

    /// Enter or update one entry; a folder where a file was (or the other
    /// way round) replaces it with all it held, a new folder is noted to be
    /// walked.
    fn put(&mut self, path: &str, meta: &Metadata) {
        let dir = meta.is_dir();
        let stamp = (if dir { 0 } else { meta.len() }, meta.modified().ok());
        match self.items.get(path) {
            Some(item) if item.dir == dir && item.stamp == stamp => return,
            Some(item) if item.dir != dir => self.remove(path),
            _ => {}
        }
        let entry = CatalogEntry {
            path: path.to_owned(),
            kind: if dir { EntryKind::Dir } else { EntryKind::File },
            size: stamp.0,
            mtime_ms: mtime_ms(meta),
            revision: revision(meta),
        };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        self.items.insert(
            path.into(),
            Item {
                dir,
                stamp,
                json: json.into_boxed_str(),
            },
        );
        self.altered = true;
        if dir && !self.folders.contains_key(path) {
            self.unread.push(path.into());
        }
    }

    /// Drop `path` and, for a folder, everything under it.
    fn remove(&mut self, path: &str) {
        let Some(item) = self.items.remove(path) else {
            return;
        };
        self.altered = true;
        if item.dir {
            let under: Vec<Box<str>> = self
                .select(Some(path), None)
                .map(|(p, _)| p.into())
                .collect();
            for p in under {
                self.items.remove(&p);
            }
            let below = format!("{path}/");
            self.folders
                .retain(|p, _| **p != *path && !p.starts_with(below.as_str()));
        }
    }

    /// Something at `path` changed: the entry is looked at again and, for
    /// a folder, its names read again.
    fn changed(&mut self, path: &str) {
        if let Some(folder) = self.folders.get_mut(path) {
            folder.stale = true;
        }
        if !path.is_empty() {
            self.reported.insert(path.into());
        }
    }

    /// The entries at `prefix` or under it (all without one), after
    /// `after`, in order.
    pub fn select(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&str, &Item)> {
        // Entries from `low` (or past `after`) up to `high`.
        let range = |low: &str, high: Option<&str>| {
            if let (Some(a), Some(h)) = (after, high)
                && a >= h
            {
                return None;
            }
            let start = match after {
                Some(a) if a >= low => Bound::Excluded(a),
                _ => Bound::Included(low),
            };
            let end = high.map_or(Bound::Unbounded, Bound::Excluded);
            Some(self.items.range::<str, _>((start, end)))
        };
        let (exact, under) = match prefix {
            None => (None, range("", None)),
            // "p/" .. "p0" ('0' follows '/') is exactly what lies under p.
            Some(p) => (
                self.items
                    .get_key_value(p)
                    .filter(|_| after.is_none_or(|a| a < p)),
                range(&format!("{p}/"), Some(&format!("{p}0"))),
            ),
        };
        exact
            .into_iter()
            .chain(under.into_iter().flatten())
            .map(|(path, item)| (&**path, item))
    }

    /// One page of a snapshot.
    pub fn page(&self, asked: &PageQuery) -> Page {
        let mut chosen = self
            .select(asked.prefix.as_deref(), asked.after.as_deref())
            .filter(|(_, item)| asked.include_dirs || !item.dir);
        let shown: Vec<(&str, &Item)> = chosen.by_ref().take(asked.limit).collect();
        let rest = chosen.count();
        let size = shown.iter().map(|(_, i)| i.json.len() + 1).sum::<usize>();
        let mut items = String::with_capacity(size + 2);
        items.push('[');
        for (n, (_, item)) in shown.iter().enumerate() {
            if n > 0 {
                items.push(',');
            }
            items.push_str(&item.json);
        }
        items.push(']');
        Page {
            total: shown.len() + rest,
            next_after: (rest > 0)
                .then(|| shown.last().map(|(path, _)| (*path).to_owned()))
                .flatten(),
            items: Bytes::from(items),
        }
    }
}

/// What a snapshot page asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub prefix: Option<String>,
    pub after: Option<String>,
    pub include_dirs: bool,
    pub limit: usize,
}

/// One page of a snapshot: how many entries were selected, where the next
/// page starts (when truncated), and the page's entries as a JSON array.
#[derive(Clone)]
pub struct Page {
    pub total: usize,
    pub next_after: Option<String>,
    pub items: Bytes,
}

/// The kept tree of one workspace.
#[derive(Default)]
struct Slot {
    watched: bool,
    tree: Option<Tree>,
    /// The last page served, while the tree has not changed since.
    last: Option<(PageQuery, Page)>,
}

impl Slot {
    fn forget(&mut self) {
        self.tree = None;
        self.last = None;
    }
}

/// The kept trees, one per workspace id.
#[derive(Default)]
pub struct Catalogs(Mutex<HashMap<String, Arc<Mutex<Slot>>>>);

impl Catalogs {
    fn slot(&self, workspace_id: &str) -> Arc<Mutex<Slot>> {
        self.0
            .lock()
            .entry(workspace_id.to_owned())
            .or_default()
            .clone()
    }

    /// Keep a tree for this workspace only while its watcher runs.
    pub fn set_watched(&self, workspace_id: &str, watched: bool) {
        let slot = self.slot(workspace_id);
        let mut slot = slot.lock();
        slot.watched = watched;
        slot.forget();
    }

    /// The kept tree can no longer be trusted (the watcher lost track).
    pub fn invalidate(&self, workspace_id: &str) {
        self.slot(workspace_id).lock().forget();
    }

    /// Something at or inside each of `paths` changed. Paths outside
    /// `root` are not in the tree.
    pub fn changed<'a>(
        &self,
        workspace_id: &str,
        root: &Path,
        paths: impl IntoIterator<Item = &'a Path>,
    ) {
        let slot = self.slot(workspace_id);
        let mut slot = slot.lock();
        let Some(tree) = slot.tree.as_mut() else {
            return;
        };
        for relative in paths.into_iter().filter_map(|p| slashed(p, root)) {
            tree.changed(&relative);
        }
        // Many changes and no snapshot asked for: walking again later
        // costs less than keeping them all.
        if tree.reported.len() > MAX_REPORTED {
            slot.forget();
        }
    }

    /// A page of the snapshot of the workspace at `root`, from the kept
    /// tree (brought up to date) while the workspace is watched, else from
    /// a new walk. The same page asked again of an unchanged tree is
    /// served as it was (its entries are not copied again).
    pub fn page(&self, workspace_id: &str, root: &Path, asked: PageQuery) -> Page {
        let slot = self.slot(workspace_id);
        let mut slot = slot.lock();
        if !slot.watched {
            drop(slot);
            return Tree::walk(root).page(&asked);
        }
        let Slot { tree, last, .. } = &mut *slot;
        let unchanged = match tree {
            Some(tree) => !tree.refresh(root),
            None => false,
        };
        let tree = tree.get_or_insert_with(|| Tree::walk(root));
        if let Some((query, page)) = last
            && unchanged
            && *query == asked
        {
            return page.clone();
        }
        let page = tree.page(&asked);
        *last = Some((asked, page.clone()));
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths<'a>(chosen: impl Iterator<Item = (&'a str, &'a Item)>) -> Vec<String> {
        chosen.map(|(p, _)| p.to_owned()).collect()
    }

    fn write(root: &Path, path: &str, text: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap_or(root)).unwrap_or_default();
        std::fs::write(full, text).unwrap_or_default();
    }

    #[test]
    fn a_prefix_selects_itself_and_what_lies_under_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for path in ["c/d/e.txt", "c-x/f", "c.txt", "cc/g", "b.txt"] {
            write(dir.path(), path, "x");
        }
        let tree = Tree::walk(dir.path());
        assert_eq!(
            paths(tree.select(Some("c"), None)),
            ["c", "c/d", "c/d/e.txt"]
        );
        assert_eq!(paths(tree.select(Some("c"), Some("c/d"))), ["c/d/e.txt"]);
        assert_eq!(paths(tree.select(None, Some("c/d/e.txt"))), ["cc", "cc/g"]);
        assert_eq!(tree.select(None, None).count(), tree.items.len());
        assert!(tree.select(Some("nothing"), None).next().is_none());
        // A cursor past the prefix's range selects nothing (and never panics).
        for after in ["c0", "c0x", "d", "c/", "c/d/e.txt"] {
            assert!(
                tree.select(Some("c"), Some(after)).all(|(p, _)| p > after),
                "{after}"
            );
        }
        let (_, item) = tree
            .select(Some("b.txt"), None)
            .next()
            .unwrap_or_else(|| unreachable!());
        let entry: CatalogEntry =
            serde_json::from_str(&item.json).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((entry.path.as_str(), entry.size), ("b.txt", 1));
    }

    /// Date every folder under `root` back, as if written long ago.
    fn settle(root: &Path) {
        let then = SystemTime::now() - std::time::Duration::from_secs(60);
        for folder in folder_times(root).keys() {
            let dated = std::fs::File::open(folder).and_then(|f| f.set_modified(then));
            assert!(dated.is_ok(), "{dated:?}");
        }
    }

    #[test]
    fn a_folders_names_step_over_what_its_subfolders_hold() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for path in ["x/a", "x/b/c", "x-y", "x.txt", "x0/d", "xa"] {
            write(dir.path(), path, "x");
        }
        let tree = Tree::walk(dir.path());
        let names = |folder: &str| -> Vec<String> {
            tree.children(folder)
                .iter()
                .map(|n| n.to_string())
                .collect()
        };
        assert_eq!(names(""), ["x", "x-y", "x.txt", "x0", "xa"]);
        assert_eq!(names("x"), ["a", "b"]);
        assert_eq!(names("x/b"), ["c"]);
        assert!(names("x.txt").is_empty());
    }

    #[test]
    fn any_depth_is_walked_without_recursion() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let deep = "d/".repeat(1500);
        write(dir.path(), &format!("{deep}leaf.txt"), "x");
        let root = dir.path().to_path_buf();
        // A small stack: a walk recursing once per level would overflow it.
        let walked = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || Tree::walk(&root).items.len())
            .map(|t| t.join());
        assert!(matches!(walked, Ok(Ok(1501))), "{walked:?}");
    }

    #[test]
    fn a_refresh_follows_names_kinds_and_reported_edits() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let root = dir.path();
        write(root, "a/b/one.txt", "1");
        write(root, "a/two.txt", "2");
        settle(root);
        let mut tree = Tree::walk(root);
        assert!(tree.folders.values().all(|f| !f.stale));
        let all = |tree: &Tree| paths(tree.select(None, None));
        assert_eq!(all(&tree), ["a", "a/b", "a/b/one.txt", "a/two.txt"]);
        // A folder removed with what it held, a new one walked.
        std::fs::remove_dir_all(root.join("a/b")).unwrap_or_default();
        write(root, "a/c/d/three.txt", "3");
        tree.refresh(root);
        assert_eq!(
            all(&tree),
            ["a", "a/c", "a/c/d", "a/c/d/three.txt", "a/two.txt"]
        );
        // A file where a folder was, and a folder where a file was.
        std::fs::remove_dir_all(root.join("a/c")).unwrap_or_default();
        write(root, "a/c", "now a file");
        std::fs::remove_file(root.join("a/two.txt")).unwrap_or_default();
        write(root, "a/two.txt/inside", "x");
        tree.refresh(root);
        assert_eq!(all(&tree), ["a", "a/c", "a/two.txt", "a/two.txt/inside"]);
        assert!(tree.select(Some("a/c"), None).all(|(_, item)| !item.dir));
        assert!(tree.folders.keys().all(|f| !f.starts_with("a/c")));
        // Symlinks and temporary files are left out.
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("a"), root.join("a/loop")).unwrap_or_default();
        tree.refresh(root);
        assert!(!all(&tree).contains(&"a/loop".to_owned()));
        // An edit in place moves no folder's time: it shows once reported.
        settle(root);
        assert!(tree.refresh(root));
        assert!(!tree.refresh(root), "nothing changed");
        assert!(tree.folders.values().all(|f| !f.stale));
        let size = |tree: &Tree| {
            tree.select(Some("a/c"), None)
                .next()
                .and_then(|(_, item)| serde_json::from_str::<CatalogEntry>(&item.json).ok())
                .map_or(0, |e| e.size)
        };
        assert_eq!(size(&tree), 10);
        std::fs::write(root.join("a/c"), "longer than before").unwrap_or_default();
        assert!(!tree.refresh(root));
        assert_eq!(size(&tree), 10);
        tree.changed("a/c");
        tree.changed("a/not-there");
        tree.refresh(root);
        assert_eq!(size(&tree), 18);
    }

    /// One change a workspace can go through.
    #[derive(Debug, Clone)]
    enum Step {
        /// Write a file (in place when it exists), making its folders.
        Write(String, usize),
        MakeFolder(String),
        /// Remove a file, or a folder with all it holds.
        Remove(String),
        /// Rename an entry to a free name.
        Rename(String, String),
        /// A symlink or a temporary file: never listed.
        Unlisted(String, bool),
    }

    fn place() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c.txt"]), 1..4)
            .prop_map(|names| names.join("/"))
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (place(), 0usize..40).prop_map(|(p, n)| Step::Write(p, n)),
            1 => place().prop_map(Step::MakeFolder),
            2 => place().prop_map(Step::Remove),
            2 => (place(), place()).prop_map(|(a, b)| Step::Rename(a, b)),
            1 => (place(), any::<bool>()).prop_map(|(p, link)| Step::Unlisted(p, link)),
        ]
    }

    /// Apply `step` under `root` (steps that make no sense there, like a
    /// file inside a file, do nothing); the paths it touched.
    fn apply(root: &Path, step: &Step) -> Vec<String> {
        let at = |p: &str| root.join(p);
        match step {
            Step::Write(p, n) => {
                let parent = at(p).parent().map(Path::to_path_buf);
                let made = parent.is_none_or(|d| std::fs::create_dir_all(d).is_ok());
                if made && std::fs::write(at(p), "x".repeat(*n)).is_ok() {
                    return vec![p.clone()];
                }
            }
            Step::MakeFolder(p) => {
                if std::fs::create_dir_all(at(p)).is_ok() {
                    return vec![p.clone()];
                }
            }
            Step::Remove(p) => {
                let removed =
                    std::fs::remove_file(at(p)).or_else(|_| std::fs::remove_dir_all(at(p)));
                if removed.is_ok() {
                    return vec![p.clone()];
                }
            }
            Step::Rename(from, to) => {
                let free = !at(to).exists() && !to.starts_with(&format!("{from}/"));
                if free && std::fs::rename(at(from), at(to)).is_ok() {
                    return vec![from.clone(), to.clone()];
                }
            }
            Step::Unlisted(p, link) => {
                let made = if *link {
                    std::os::unix::fs::symlink(root, at(p))
                } else {
                    let name = format!("{}/{}", parent(p), crate::workspace::paths::temp_name());
                    std::fs::write(at(name.trim_start_matches('/')), "t")
                };
                if made.is_ok() {
                    return vec![p.clone()];
                }
            }
        }
        Vec::new()
    }

    /// Every folder's time, to tell which ones a step changed.
    fn folder_times(root: &Path) -> HashMap<std::path::PathBuf, Option<SystemTime>> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_dir())
            .map(|e| (e.path().to_path_buf(), modified(e.path())))
            .collect()
    }

    proptest::proptest! {
        /// Whatever happens to a workspace, the kept tree, once refreshed,
        /// lists what a walk from scratch lists, entry for entry. Folders a
        /// step changed are dated back to a time of their own (as if long
        /// ago) so that unchanged folders are not read again; what the
        /// watcher reports is reported only when `reported` says so (an
        /// edit in place always is: it moves no folder's time).
        #[test]
        fn the_kept_tree_lists_what_a_fresh_walk_lists(
            steps in proptest::collection::vec((step(), proptest::prelude::any::<bool>()), 1..24),
        ) {
            let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
            let root = dir.path();
            write(root, "a/b/one.txt", "1");
            write(root, "c.txt", "2");
            settle(root);
            let mut tree = Tree::walk(root);
            let long_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
            for (i, (step, reported)) in steps.iter().enumerate() {
                let before = folder_times(root);
                let edited_in_place = matches!(step, Step::Write(p, _) if root.join(p).is_file());
                let touched = apply(root, step);
                // Changed folders get a distinct time in the past.
                let then = long_ago + std::time::Duration::from_secs(i as u64 + 1);
                for (folder, time) in folder_times(root) {
                    if before.get(&folder) != Some(&time) {
                        let dated = std::fs::File::open(&folder).and_then(|f| f.set_modified(then));
                        proptest::prop_assert!(dated.is_ok(), "{dated:?}");
                    }
                }
                if *reported || edited_in_place {
                    // As the watcher names them: where they really are.
                    let real_root = root.canonicalize().unwrap_or_else(|e| unreachable!("{e}"));
                    for path in &touched {
                        let real = root.join(path).canonicalize().ok();
                        match real.and_then(|r| slashed(&r, &real_root)) {
                            Some(under) => tree.changed(&under),
                            None => tree.changed(path),
                        }
                    }
                }
                tree.refresh(root);
                let kept: Vec<(String, String)> = tree
                    .select(None, None)
                    .map(|(p, item)| (p.to_owned(), item.json.to_string()))
                    .collect();
                let fresh = Tree::walk(root);
                let walked: Vec<(String, String)> = fresh
                    .select(None, None)
                    .map(|(p, item)| (p.to_owned(), item.json.to_string()))
                    .collect();
                proptest::prop_assert_eq!(kept, walked, "after step {} {:?}", i, step);
            }
        }
    }
}
