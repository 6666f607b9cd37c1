//! The approval gate: every write waits here until the host allows it
//! (manual mode), or passes at once (auto mode).

use crate::approval_history::ApprovalHistory;
use crate::approval_rules::{Rule, RuleDecision, Rules};
use crate::error::{ApiError, ApiResult};
use crate::journal::{Durable, Journal};
use openwork_shared::ErrorCode;
use openwork_shared::models::{Actor, ApprovalDecided, ApprovalItem, ApprovalMode, Decision};
use parking_lot::Mutex;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

struct Pending {
    item: ApprovalItem,
    /// The sequence of its `approval.requested` event.
    seq: u64,
    /// Allowed or not, and by whom.
    reply: oneshot::Sender<(bool, String)>,
}

/// How writes are approved: the rules, the mode when no rule matches, and
/// how long a write waits.
#[derive(Debug, Clone)]
pub struct ApprovalPolicy {
    pub mode: ApprovalMode,
    pub timeout: Duration,
    pub rules: Rules,
}

impl ApprovalPolicy {
    pub fn new(mode: ApprovalMode, timeout_ms: u64, rules: Rules) -> Self {
        ApprovalPolicy {
            mode,
            timeout: Duration::from_millis(timeout_ms),
            rules,
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout.as_millis() as u64
    }
}

/// The requests waiting for the host, the history of decided ones, and the
/// feed of both pushed to listeners (`GET /approvals` as an event stream).
pub struct Approvals {
    pending: Mutex<Vec<Pending>>,
    pub history: ApprovalHistory,
    feed: Mutex<Feed>,
    latest: watch::Sender<u64>,
}

/// Events kept for listeners that resume (`Last-Event-ID`).
const FEED_KEPT: usize = 1_000;

/// Writes one credential may have waiting for the host at once, and all
/// of them together: each holds its request body, and no host reviews
/// more. Past either, a write is refused with `429` at once.
pub const MAX_PENDING_PER_CREDENTIAL: usize = 32;
pub const MAX_PENDING: usize = 256;

/// `approval.requested` (the pending item) or `approval.decided` (the
/// history item), numbered.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub seq: u64,
    pub name: &'static str,
    /// The approval, as JSON text (made once, shared by every listener).
    pub data: Arc<str>,
}

#[derive(Default)]
struct Feed {
    seq: u64,
    events: VecDeque<FeedEvent>,
}

/// What a write asks approval for.
pub struct Request {
    pub workspace_id: String,
    pub action: &'static str,
    pub summary: String,
    pub paths: Vec<String>,
    pub actor: Actor,
}

/// Removes a pending request whose requester went away (client
/// disconnected): nothing is written on behalf of a request nobody waits for.
struct Cleanup<'a> {
    approvals: &'a Approvals,
    id: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        // Still pending: nobody waits for the answer any more.
        if let Some(pending) = self.approvals.take(&self.id) {
            // Nobody waits for it; the journal writes it all the same.
            drop(
                self.approvals
                    .decide(pending.item, Decision::Withdrawn, "client"),
            );
        }
    }
}

/// `value` as compact JSON text.
fn json_text(value: &impl serde::Serialize) -> Arc<str> {
    serde_json::to_string(value).unwrap_or_default().into()
}

/// A request as decided now.
fn decided(item: ApprovalItem, decision: Decision, by: &str) -> ApprovalDecided {
    ApprovalDecided {
        id: item.id,
        workspace_id: item.workspace_id,
        action: item.action,
        summary: item.summary,
        paths: item.paths,
        actor: item.actor,
        created_at: item.created_at,
        decided_at: crate::now_ms(),
        decision,
        decided_by: by.to_owned(),
    }
}

impl Approvals {
    /// The queue, with the history kept under `data_dir`.
    pub fn new(data_dir: &std::path::Path, journal: Arc<Journal>) -> Self {
        Approvals {
            pending: Mutex::default(),
            history: ApprovalHistory::open(data_dir, journal),
            feed: Mutex::default(),
            latest: watch::Sender::new(0),
        }
    }

    fn publish(&self, name: &'static str, data: Arc<str>) -> u64 {
        let mut feed = self.feed.lock();
        feed.seq += 1;
        let seq = feed.seq;
        if feed.events.len() == FEED_KEPT {
            feed.events.pop_front();
        }
        feed.events.push_back(FeedEvent { seq, name, data });
        self.latest.send_replace(seq);
        seq
    }

    /// Record a decision in the history and tell the listeners; the
    /// answer resolves once the record is on disk.
    fn decide(&self, item: ApprovalItem, decision: Decision, by: &str) -> Durable {
        self.record(decided(item, decision, by), false)
    }

    /// Record that a write is let through at once (by the mode or a
    /// rule): the write commits its changes right after, and its decision
    /// shares that commit's flush.
    fn let_through(&self, item: ApprovalItem, by: &str) -> Durable {
        self.record(decided(item, Decision::Allow, by), true)
    }

    fn record(&self, decided: ApprovalDecided, lazy: bool) -> Durable {
        let data = json_text(&decided);
        let record = self.history.record(&decided.id, data.clone(), lazy);
        self.publish("approval.decided", data);
        record
    }

    /// Feed events after `seq`.
    pub fn since(&self, seq: u64) -> Vec<FeedEvent> {
        let feed = self.feed.lock();
        // In order of sequence: only the newest are looked at.
        let newer = feed.events.iter().rev().take_while(|e| e.seq > seq).count();
        feed.events
            .range(feed.events.len() - newer..)
            .cloned()
            .collect()
    }

    /// The latest sequence, and the `approval.requested` events of what is
    /// pending now (for a listener that starts from nothing).
    pub fn snapshot(&self) -> (u64, Vec<FeedEvent>) {
        let pending = self.lock();
        let seq = self.feed.lock().seq;
        let events = pending
            .iter()
            .map(|p| FeedEvent {
                seq: p.seq,
                name: "approval.requested",
                data: json_text(&p.item),
            })
            .collect();
        (seq, events)
    }

    /// The sequence of the last event published.
    pub fn latest(&self) -> u64 {
        *self.latest.borrow()
    }

    /// A receiver that changes whenever an event is published.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Apply `rule` (the first that matched), else the mode; wait for the
    /// host's decision when asked to. Ok means the write may proceed; the
    /// decision's record may still be on its way to disk (wait for it
    /// before answering).
    pub async fn require(
        &self,
        policy: &ApprovalPolicy,
        rule: Option<&Rule>,
        request: Request,
    ) -> ApiResult<Durable> {
        let (mode, timeout) = (policy.mode, policy.timeout);
        let id = uuid::Uuid::new_v4().to_string();
        let item = ApprovalItem {
            id: id.clone(),
            workspace_id: request.workspace_id,
            action: request.action.to_owned(),
            summary: request.summary,
            paths: request.paths,
            created_at: crate::now_ms(),
            actor: request.actor,
        };
        match rule {
            Some(r) if r.decision == RuleDecision::Allow => {
                return Ok(self.let_through(item, &format!("rule:{}", r.name)));
            }
            Some(r) if r.decision == RuleDecision::Deny => {
                settle(self.decide(item, Decision::Deny, &format!("rule:{}", r.name))).await;
                return Err(
                    ApiError::new(ErrorCode::WriteDenied, "Write request denied")
                        .with_details(json!({"requestId": id, "reason": "rule", "rule": r.name})),
                );
            }
            // `ask`: the host decides, whatever the mode.
            Some(_) => {}
            None if mode == ApprovalMode::Auto => {
                return Ok(self.let_through(item, "auto"));
            }
            None => {}
        }
        if timeout.is_zero() {
            settle(self.decide(item, Decision::Timeout, "timeout")).await;
            return Err(denied(&id, "timeout"));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.lock();
            let same = |p: &&Pending| p.item.actor.token_hash == item.actor.token_hash;
            let own = pending.iter().filter(same).count();
            let limits = [
                (own, MAX_PENDING_PER_CREDENTIAL),
                (pending.len(), MAX_PENDING),
            ];
            if let Some(&(waiting, limit)) = limits.iter().find(|(n, max)| n >= max) {
                return Err(ApiError::new(
                    ErrorCode::TooManyRequests,
                    "Too many writes are waiting for the host's approval; try again once some are answered",
                )
                .with_details(json!({"pending": waiting, "limit": limit})));
            }
            let seq = self.publish("approval.requested", json_text(&item));
            pending.push(Pending {
                item,
                seq,
                reply: tx,
            });
        }
        let _cleanup = Cleanup {
            approvals: self,
            id: id.clone(),
        };
        match tokio::time::timeout(timeout, rx).await {
            // The answer's record is the answerer's to wait for.
            Ok(Ok((true, _))) => Ok(Durable::done()),
            Ok(_) => Err(denied(&id, "denied")),
            Err(_) => {
                if let Some(pending) = self.take(&id) {
                    settle(self.decide(pending.item, Decision::Timeout, "timeout")).await;
                }
                Err(denied(&id, "timeout"))
            }
        }
    }

    pub fn list(&self) -> Vec<ApprovalItem> {
        self.lock().iter().map(|p| p.item.clone()).collect()
    }

    /// Answer a pending request on behalf of `by` (`host`,
    /// `owner:<tokenId>`); an error when there is no such request.
    pub fn reply(&self, id: &str, allow: bool, by: &str) -> ApiResult<Durable> {
        match self.take(id) {
            Some(pending) => {
                let decision = if allow {
                    Decision::Allow
                } else {
                    Decision::Deny
                };
                let durable = self.decide(pending.item.clone(), decision, by);
                let _ = pending.reply.send((allow, by.to_owned()));
                Ok(durable)
            }
            None => Err(ApiError::new(
                ErrorCode::ApprovalNotFound,
                "Approval request not found",
            )),
        }
    }

    /// Deny everything still waiting (shutdown); resolves once the
    /// decisions are on disk.
    pub async fn deny_all(&self) {
        let drained: Vec<Pending> = self.lock().drain(..).collect();
        let mut records = Vec::new();
        for pending in drained {
            records.push(self.decide(pending.item.clone(), Decision::Deny, "shutdown"));
            let _ = pending.reply.send((false, "shutdown".to_owned()));
        }
        for record in records {
            settle(record).await;
        }
    }

    fn take(&self, id: &str) -> Option<Pending> {
        let mut pending = self.lock();
        let index = pending.iter().position(|p| p.item.id == id)?;
        Some(pending.remove(index))
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock()
    }
}

/// Wait for a record to reach the disk; a failure is logged (the decision
/// stands).
pub async fn settle(durable: Durable) {
    if let Err(e) = durable.wait().await {
        crate::logging::error(&format!("approval history append failed: {e}"));
    }
}

fn denied(id: &str, reason: &str) -> ApiError {
    ApiError::new(ErrorCode::WriteDenied, "Write request denied")
        .with_details(json!({"requestId": id, "reason": reason}))
}
