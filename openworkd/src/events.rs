//! Reload events: what changed in a workspace's configuration, kept in a
//! bounded ring with one sequence across all workspaces.

use openwork_shared::models::{ReloadEvent, ReloadReason, ReloadTrigger};
use std::collections::VecDeque;
use std::sync::Mutex;

const KEPT: usize = 200;

#[derive(Default)]
pub struct ReloadEvents {
    inner: Mutex<(u64, VecDeque<ReloadEvent>)>,
}

impl ReloadEvents {
    pub fn record(&self, workspace_id: &str, reason: ReloadReason, trigger: ReloadTrigger) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0 += 1;
        let event = ReloadEvent {
            id: uuid::Uuid::new_v4().to_string(),
            seq: inner.0,
            workspace_id: workspace_id.to_owned(),
            reason,
            trigger: Some(trigger),
            timestamp: crate::now_ms(),
        };
        if inner.1.len() == KEPT {
            inner.1.pop_front();
        }
        inner.1.push_back(event);
    }

    /// Events of `workspace_id` after `since`, and the latest sequence.
    pub fn since(&self, workspace_id: &str, since: u64) -> (Vec<ReloadEvent>, u64) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let items = inner
            .1
            .iter()
            .filter(|e| e.seq > since && e.workspace_id == workspace_id)
            .cloned()
            .collect();
        (items, inner.0)
    }
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
