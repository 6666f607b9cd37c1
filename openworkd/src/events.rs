//! Reload events: what changed in a workspace's configuration, kept in a
//! bounded ring with one sequence across all workspaces. Listeners (the
//! Server-Sent Events stream) are woken through a watch channel carrying
//! the latest sequence.

use crate::app::AppState;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use openwork_shared::models::{ReloadEvent, ReloadReason, ReloadTrigger};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::watch;

const KEPT: usize = 200;

pub struct ReloadEvents {
    ring: Mutex<Ring>,
    latest: watch::Sender<u64>,
}

/// The latest sequence and the retained events.
#[derive(Default)]
struct Ring {
    seq: u64,
    events: VecDeque<Retained>,
}

struct Retained {
    event: ReloadEvent,
    /// Seen on disk by the watcher, rather than recorded by an API write.
    observed: bool,
}

impl Default for ReloadEvents {
    fn default() -> Self {
        Self {
            ring: Mutex::default(),
            latest: watch::Sender::new(0),
        }
    }
}

impl ReloadEvents {
    pub fn record(&self, workspace_id: &str, reason: ReloadReason, trigger: ReloadTrigger) {
        self.push(workspace_id, reason, trigger, false);
    }

    /// Record a change seen on disk.
    pub fn record_observed(
        &self,
        workspace_id: &str,
        reason: ReloadReason,
        trigger: ReloadTrigger,
    ) {
        self.push(workspace_id, reason, trigger, true);
    }

    fn push(
        &self,
        workspace_id: &str,
        reason: ReloadReason,
        trigger: ReloadTrigger,
        observed: bool,
    ) {
        let mut ring = self.ring.lock();
        ring.seq += 1;
        let event = ReloadEvent {
            id: uuid::Uuid::new_v4().to_string(),
            seq: ring.seq,
            workspace_id: workspace_id.to_owned(),
            reason,
            trigger: Some(trigger),
            timestamp: crate::now_ms(),
        };
        if ring.events.len() == KEPT {
            ring.events.pop_front();
        }
        ring.events.push_back(Retained { event, observed });
        self.latest.send_replace(ring.seq);
    }

    /// Events of `workspace_id` after `since`, and the latest sequence.
    pub fn since(&self, workspace_id: &str, since: u64) -> (Vec<ReloadEvent>, u64) {
        let ring = self.ring.lock();
        let items = ring
            .events
            .iter()
            .map(|r| &r.event)
            .filter(|e| e.seq > since && e.workspace_id == workspace_id)
            .cloned()
            .collect();
        (items, ring.seq)
    }

    /// Whether an API write recorded an event of `reason` for the workspace,
    /// a removal or not as `removed` says, at or after `at_ms` (so a change
    /// seen on disk is one already reported).
    pub fn covered(
        &self,
        workspace_id: &str,
        reason: ReloadReason,
        removed: bool,
        at_ms: u64,
    ) -> bool {
        let ring = self.ring.lock();
        let is_removal = |e: &ReloadEvent| {
            e.trigger.as_ref().and_then(|t| t.action.as_deref()) == Some("removed")
        };
        ring.events
            .iter()
            .rev()
            .take_while(|r| r.event.timestamp >= at_ms)
            .filter(|r| !r.observed)
            .map(|r| &r.event)
            .any(|e| {
                e.workspace_id == workspace_id && e.reason == reason && is_removal(e) == removed
            })
    }

    /// A receiver that changes whenever an event is recorded.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }
}

/// The reload events of one workspace after `since` as Server-Sent Events:
/// first what is retained, then each new event as it is recorded.
pub fn stream(
    state: AppState,
    workspace_id: String,
    since: u64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let keep_alive = Duration::from_millis(state.config.events_keepalive_ms);
    let changes = state.events.subscribe();
    let fetch = move |seq| state.events.since(&workspace_id, seq).0;
    let follower = Follow::new(changes, since, VecDeque::new(), fetch, |e: &ReloadEvent| {
        e.seq
    });
    let frames = futures_util::stream::unfold(follower, |mut f| async move {
        let event = f.next().await?;
        Some((Ok(frame(&event)), f))
    });
    Sse::new(frames).keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
}

/// One listener's position in a numbered feed (reload events, approvals):
/// what is queued, then what `fetch` finds after the last sequence, then
/// waiting for `changes`.
pub struct Follow<T, F> {
    seq: u64,
    changes: watch::Receiver<u64>,
    queue: VecDeque<T>,
    fetch: F,
    seq_of: fn(&T) -> u64,
}

impl<T, F: Fn(u64) -> Vec<T>> Follow<T, F> {
    pub fn new(
        changes: watch::Receiver<u64>,
        seq: u64,
        queue: VecDeque<T>,
        fetch: F,
        seq_of: fn(&T) -> u64,
    ) -> Self {
        Follow {
            seq,
            changes,
            queue,
            fetch,
            seq_of,
        }
    }

    /// The next item, waiting for one to be published.
    pub async fn next(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            let items = (self.fetch)(self.seq);
            match items.last() {
                Some(last) => {
                    self.seq = (self.seq_of)(last);
                    self.queue.extend(items);
                }
                None => self.changes.changed().await.ok()?,
            }
        }
    }
}

fn frame(event: &ReloadEvent) -> Event {
    Event::default()
        .event("reload")
        .id(event.seq.to_string())
        .json_data(event)
        .unwrap_or_else(|_| Event::default().comment("unserializable event"))
}

/// A trigger naming what changed.
pub fn trigger(kind: &str, name: &str, action: &str, path: Option<String>) -> ReloadTrigger {
    ReloadTrigger {
        kind: kind.to_owned(),
        name: Some(name.to_owned()),
        action: Some(action.to_owned()),
        path,
    }
}

/// The reload event for a write to the OpenCode config file at `path`.
pub fn config_reload(path: &std::path::Path) -> crate::app::Reload {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (
        ReloadReason::Config,
        trigger("config", &name, "updated", Some(path.display().to_string())),
    )
}
