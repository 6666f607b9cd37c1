//! Changes made on disk by anyone (an editor, the engine, a shell) become
//! file events and reload events, exactly like changes made through the
//! API. Bursts are coalesced by a debouncer; changes the API already
//! recorded are recognised and not reported twice.

use crate::app::AppState;
use crate::workspace::exchange::UPLOADS;
use crate::workspace::files::{Change, revision};
use crate::workspace::paths::is_temp_name;
use notify_debouncer_full::notify::event::{ModifyKind, RenameMode};
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{
    DebounceEventResult, DebouncedEvent, RecommendedCache, new_debouncer_opt,
};
use openwork_shared::models::{FileEventKind, ReloadReason, ReloadTrigger};
use std::collections::{BTreeSet, HashMap};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a path must be quiet before its change is reported.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// A removal is taken as already reported when the API recorded an event of
/// the same kind this recently.
const REMOVAL_WINDOW_MS: u64 = 3_000;

/// Watch every workspace on a background thread, so start-up never waits
/// for a large tree to be registered. Unparking the returned thread makes
/// it watch the workspaces configured now (after a reload): new ones are
/// added, removed ones dropped.
pub fn start(state: &AppState) -> Option<std::thread::Thread> {
    if !state.config.watch {
        return None;
    }
    let state = *state;
    let spawned = std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            let mut watching = HashMap::new();
            loop {
                sync(&state, &mut watching);
                std::thread::park();
            }
        });
    match spawned {
        Ok(handle) => Some(handle.thread().clone()),
        Err(e) => {
            crate::logging::warn(&format!("Not watching workspaces: {e}"));
            None
        }
    }
}

type Watcher = notify_debouncer_full::Debouncer<
    notify_debouncer_full::notify::RecommendedWatcher,
    notify_debouncer_full::RecommendedCache,
>;

/// Watch each configured workspace not watched yet; stop watching the
/// ones no longer configured.
fn sync(state: &AppState, watching: &mut HashMap<String, Watcher>) {
    let workspaces = state.workspace_list();
    watching.retain(|id, _| {
        let kept = workspaces.iter().any(|w| &w.id == id);
        if !kept {
            state.catalogs.set_watched(id, false);
        }
        kept
    });
    for ws in workspaces {
        if watching.contains_key(&ws.id) {
            continue;
        }
        let Ok(root) = ws.path.canonicalize() else {
            continue;
        };
        let handler_state = *state;
        let (id, handler_root) = (ws.id.clone(), root.clone());
        let handler = move |result: DebounceEventResult| {
            // The kept catalog looks again at what changed (reads, such as
            // a walk opening folders, change nothing); when the watcher
            // lost track, it is dropped.
            match &result {
                Ok(events) if !events.iter().any(|e| e.need_rescan()) => {
                    handler_state.catalogs.changed(
                        &id,
                        &handler_root,
                        events
                            .iter()
                            .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                            .flat_map(|e| e.paths.iter().map(PathBuf::as_path)),
                    );
                }
                _ => handler_state.catalogs.invalidate(&id),
            }
            if let Ok(events) = result {
                Observer::new(&handler_state, &id, &handler_root).apply(&events);
            }
        };
        // Symlinks are not followed (as the catalog does not follow them):
        // one to `/` or to a large tree would otherwise have every folder
        // behind it watched, against the user's whole inotify allowance.
        let config = notify_debouncer_full::notify::Config::default().with_follow_symlinks(false);
        let debouncer = new_debouncer_opt::<_, notify_debouncer_full::notify::RecommendedWatcher, _>(
            DEBOUNCE,
            None,
            handler,
            RecommendedCache::new(),
            config,
        );
        let watched = debouncer.and_then(|mut d| {
            d.watch(&root, RecursiveMode::Recursive)?;
            Ok(d)
        });
        match watched {
            Ok(d) => {
                watching.insert(ws.id.clone(), d);
                state.catalogs.set_watched(&ws.id, true);
            }
            Err(e) => crate::logging::warn(&format!(
                "Not watching {} for changes on disk: {e}",
                root.display()
            )),
        }
    }
    crate::logging::info(&format!(
        "Watching {} workspace(s) for changes on disk",
        watching.len()
    ));
}

struct Observer<'a> {
    state: &'a AppState,
    workspace_id: &'a str,
    root: &'a Path,
}

/// What a reload event is about: reason, trigger type and name (none when
/// a whole folder of them changed).
type Topic = (ReloadReason, &'static str, Option<String>);

impl<'a> Observer<'a> {
    fn new(state: &'a AppState, workspace_id: &'a str, root: &'a Path) -> Self {
        Self {
            state,
            workspace_id,
            root,
        }
    }

    fn apply(&self, events: &[DebouncedEvent]) {
        // A write the API is making is recorded by the API when it ends;
        // judging its changes before that would report them twice.
        self.state.wait_for_writes(self.workspace_id);
        let mut touched = BTreeSet::new();
        let changes = events
            .iter()
            .filter_map(|event| self.change(event))
            .flat_map(|change| self.with_contents(change));
        for change in changes {
            for path in [Some(&change.path), change.to_path.as_ref()]
                .into_iter()
                .flatten()
            {
                if let Some(topic) = topic(path) {
                    touched.insert((topic, path.clone()));
                }
            }
            self.state
                .file_events
                .record_observed(self.workspace_id, &change, crate::now_ms());
        }
        // One event per named item; a folder-wide one only when nothing
        // more precise of that kind changed.
        let named: BTreeSet<ReloadReason> = touched
            .iter()
            .filter(|((_, _, name), _)| name.is_some())
            .map(|((reason, _, _), _)| *reason)
            .collect();
        let mut reported = BTreeSet::new();
        for ((reason, kind, name), path) in touched {
            if (name.is_some() || !named.contains(&reason))
                && reported.insert((reason, name.clone()))
            {
                self.reload(reason, kind, name, &path);
            }
        }
    }

    /// A change, and for a new folder also what is already inside it (made
    /// before the folder's own watch was registered).
    fn with_contents(&self, change: Change) -> Vec<Change> {
        let mut all = Vec::new();
        if change.kind == FileEventKind::Mkdir {
            all.extend(
                walkdir::WalkDir::new(self.root.join(&change.path))
                    .min_depth(1)
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter_map(|e| self.relative(e.path()))
                    .filter_map(|p| self.current(&p, true)),
            );
        }
        all.insert(0, change);
        all
    }

    /// The file event a debounced notification stands for, if any.
    fn change(&self, event: &DebouncedEvent) -> Option<Change> {
        let first = self.relative(event.paths.first()?)?;
        match event.kind {
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                let to = self.relative(event.paths.get(1)?)?;
                if is_temporary(&first) || ignored(&first) {
                    return self.current(&to, true);
                }
                let mut change = Change::new(FileEventKind::Rename, &first);
                change.to_path = Some(to);
                Some(change)
            }
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                let gone = std::fs::symlink_metadata(self.root.join(&first)).is_err();
                (gone && !is_temporary(&first)).then(|| Change::new(FileEventKind::Delete, &first))
            }
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                self.current(&first, true)
            }
            EventKind::Modify(_) => self.current(&first, false),
            _ => None,
        }
    }

    /// A write (files) or, when `created`, a mkdir (folders) for what is
    /// at `path` now; nothing for symlinks, special files or missing paths.
    fn current(&self, path: &str, created: bool) -> Option<Change> {
        let meta = std::fs::symlink_metadata(self.root.join(path)).ok()?;
        if meta.is_file() {
            let mut change = Change::new(FileEventKind::Write, path);
            change.revision = Some(revision(&meta));
            Some(change)
        } else if meta.is_dir() && created {
            Some(Change::new(FileEventKind::Mkdir, path))
        } else {
            None
        }
    }

    /// The workspace-relative, `/`-separated form of a watched path, or
    /// None for paths the catalog does not report (VCS internals, staging).
    fn relative(&self, path: &Path) -> Option<String> {
        let text = crate::workspace::paths::slashed(path, self.root)?;
        (!text.is_empty() && !ignored(&text)).then_some(text)
    }

    fn reload(&self, reason: ReloadReason, kind: &str, name: Option<String>, path: &str) {
        let absolute = self.root.join(path);
        let meta = std::fs::symlink_metadata(&absolute).ok();
        let removed = meta.is_none();
        let since = meta.as_ref().map_or_else(
            || crate::now_ms().saturating_sub(REMOVAL_WINDOW_MS),
            modified_ms,
        );
        // Plugin and MCP changes through the API rewrite the config file.
        let reported_as: &[ReloadReason] = match reason {
            ReloadReason::Config => &[
                ReloadReason::Config,
                ReloadReason::Plugins,
                ReloadReason::Mcp,
            ],
            _ => &[reason],
        };
        let events = &self.state.events;
        if reported_as
            .iter()
            .any(|r| events.covered(self.workspace_id, *r, removed, since))
        {
            return;
        }
        let trigger = ReloadTrigger {
            kind: kind.to_owned(),
            name,
            action: Some(if removed { "removed" } else { "updated" }.to_owned()),
            path: Some(absolute.display().to_string()),
        };
        self.state
            .events
            .record_observed(self.workspace_id, reason, trigger);
    }
}

fn modified_ms(meta: &Metadata) -> u64 {
    crate::workspace::files::mtime_ms(meta).floor() as u64
}

fn ignored(relative: &str) -> bool {
    relative == ".git"
        || relative.starts_with(".git/")
        || relative == UPLOADS
        || relative.starts_with(&format!("{UPLOADS}/"))
}

/// A temporary file of one of our atomic writes.
fn is_temporary(relative: &str) -> bool {
    is_temp_name(relative.rsplit('/').next().unwrap_or(relative))
}

/// Which reload reason a change to `relative` is about, if any.
fn topic(relative: &str) -> Option<Topic> {
    let segments: Vec<&str> = relative.split('/').collect();
    let stem = |name: &str| Some(name.strip_suffix(".md").unwrap_or(name).to_owned());
    match segments.as_slice() {
        [file @ ("opencode.json" | "opencode.jsonc")]
        | [".opencode", file @ ("opencode.json" | "opencode.jsonc")] => {
            Some((ReloadReason::Config, "config", Some((*file).to_owned())))
        }
        [".opencode" | ".claude", "skills"] => Some((ReloadReason::Skills, "skill", None)),
        [".opencode" | ".claude", "skills", name, ..] => {
            Some((ReloadReason::Skills, "skill", Some((*name).to_owned())))
        }
        [".opencode", "commands" | "command"] => Some((ReloadReason::Commands, "command", None)),
        [".opencode", "commands" | "command", name] if name.ends_with(".md") => {
            Some((ReloadReason::Commands, "command", stem(name)))
        }
        [".opencode", "plugins" | "plugin"] => Some((ReloadReason::Plugins, "plugin", None)),
        [".opencode", "plugins" | "plugin", name, ..] => {
            Some((ReloadReason::Plugins, "plugin", Some((*name).to_owned())))
        }
        [".opencode", "agents" | "agent"] => Some((ReloadReason::Agents, "agent", None)),
        [".opencode", "agents" | "agent", name] if name.ends_with(".md") => {
            Some((ReloadReason::Agents, "agent", stem(name)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_workspace_layout() {
        let reason = topic;
        assert_eq!(
            reason("opencode.jsonc"),
            Some((
                ReloadReason::Config,
                "config",
                Some("opencode.jsonc".into())
            ))
        );
        assert_eq!(
            reason(".opencode/skills/deploy/SKILL.md"),
            Some((ReloadReason::Skills, "skill", Some("deploy".into())))
        );
        assert_eq!(
            reason(".opencode/commands/ship.md"),
            Some((ReloadReason::Commands, "command", Some("ship".into())))
        );
        assert_eq!(
            reason(".opencode/skills"),
            Some((ReloadReason::Skills, "skill", None))
        );
        assert_eq!(reason("src/main.rs"), None);
        assert_eq!(reason(".opencode/commands/notes.txt"), None);
    }

    #[test]
    fn temporary_names_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let temp = crate::workspace::paths::TempFile::create_in(dir.path(), 0o600).unwrap();
        let name = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert!(is_temporary(&format!(
            "dir/{}",
            name.file_name().to_string_lossy()
        )));
        drop(temp);
        assert!(!is_temporary("dir/.opencode.json.a1B2c3"));
        assert!(!is_temporary("dir/.env.backup"));
        assert!(!is_temporary("dir/.env"));
        assert!(!is_temporary("notes.md"));
        assert!(ignored(".git/index"));
        assert!(!ignored(".github/workflows/ci.yml"));
    }
}
