//! The one write pipeline. Every change to a workspace goes
//! approve → write under the workspace's lock (recording the reload event
//! before the lock is released) → audit, through [`AppState::mutate`].

use crate::app::{AppState, Reload};
use crate::approval_rules::{Rule, Rules, Subject};
use crate::approvals::Request as ApprovalRequest;
use crate::error::ApiResult;
use crate::workspace::WorkspaceEntry;
use openwork_shared::models::{Actor, AuditEntry};
use std::path::{Path, PathBuf};

/// Every kind of change, as the approval queue and the audit log name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ConfigPatch,
    ConfigImport,
    PluginsAdd,
    PluginsRemove,
    SkillsUpsert,
    SkillsDelete,
    McpAdd,
    McpRemove,
    CommandsUpsert,
    CommandsDelete,
    InboxUpload,
    FilesWrite,
    FilesOps,
    EngineReload,
    WorkspaceActivate,
    TokensGrant,
    TokensPair,
}

impl Action {
    pub const ALL: [Action; 17] = [
        Action::ConfigPatch,
        Action::ConfigImport,
        Action::PluginsAdd,
        Action::PluginsRemove,
        Action::SkillsUpsert,
        Action::SkillsDelete,
        Action::McpAdd,
        Action::McpRemove,
        Action::CommandsUpsert,
        Action::CommandsDelete,
        Action::InboxUpload,
        Action::FilesWrite,
        Action::FilesOps,
        Action::EngineReload,
        Action::WorkspaceActivate,
        Action::TokensGrant,
        Action::TokensPair,
    ];

    /// The wire name (reference spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ConfigPatch => "config.patch",
            Action::ConfigImport => "config.import",
            Action::PluginsAdd => "plugins.add",
            Action::PluginsRemove => "plugins.remove",
            Action::SkillsUpsert => "skills.upsert",
            Action::SkillsDelete => "skills.delete",
            Action::McpAdd => "mcp.add",
            Action::McpRemove => "mcp.remove",
            Action::CommandsUpsert => "commands.upsert",
            Action::CommandsDelete => "commands.delete",
            Action::InboxUpload => "workspace.inbox.upload",
            Action::FilesWrite => "workspace.files.session.write",
            Action::FilesOps => "workspace.files.session.ops",
            Action::EngineReload => "engine.reload",
            Action::WorkspaceActivate => "workspace.activate",
            Action::TokensGrant => "tokens.grant",
            Action::TokensPair => "tokens.pair",
        }
    }
}

/// The audit target of changes to the OpenCode config, whichever of
/// `opencode.json`/`opencode.jsonc` holds it (the reference's spelling).
pub const OPENCODE_CONFIG_TARGET: &str = "opencode.json";

/// What a write is about to do: what the host is asked to approve.
pub struct Intent {
    pub action: Action,
    /// The question put to the host ("Add plugin x").
    pub summary: String,
    /// The files and folders the write touches.
    pub paths: Vec<PathBuf>,
    /// The bytes the write brings, when known (for `maxBytes` rules).
    pub bytes: Option<u64>,
}

impl Intent {
    pub fn new(action: Action, summary: impl Into<String>, paths: Vec<PathBuf>) -> Self {
        Intent {
            action,
            summary: summary.into(),
            paths,
            bytes: None,
        }
    }

    pub fn bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }
}

/// One audit line of a write that happened.
pub struct Audited {
    pub target: String,
    pub summary: String,
}

/// What a write did: its answer, the reload event clients should see, and
/// its audit lines (usually one).
pub struct Done<T> {
    pub value: T,
    pub reload: Option<Reload>,
    pub audit: Vec<Audited>,
}

impl<T> Done<T> {
    pub fn new(value: T) -> Self {
        Done {
            value,
            reload: None,
            audit: Vec::new(),
        }
    }

    pub fn reload(mut self, reload: impl Into<Option<Reload>>) -> Self {
        self.reload = reload.into();
        self
    }

    pub fn audit(mut self, target: impl Into<String>, summary: impl Into<String>) -> Self {
        self.audit.push(Audited {
            target: target.into(),
            summary: summary.into(),
        });
        self
    }
}

fn audit_entry(actor: &Actor, ws: &WorkspaceEntry, action: Action, line: &Audited) -> AuditEntry {
    AuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        workspace_id: ws.id.clone(),
        actor: actor.clone(),
        action: action.as_str().to_owned(),
        target: line.target.clone(),
        summary: line.summary.clone(),
        timestamp: crate::now_ms(),
    }
}

/// A path as approval rules see it: where it really lies in the workspace
/// (a symlink inside the workspace must not take a write to a path no rule
/// allows, or away from one a rule denies), else relative as given.
pub fn rule_path(root: &Path, path: &Path) -> String {
    crate::workspace::paths::real_relative(root, &root.join(path)).unwrap_or_else(|| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    })
}

/// The scope an approval rule sees: the token's, or `host`.
fn actor_scope(actor: &Actor) -> Option<&'static str> {
    match actor.kind {
        openwork_shared::models::ActorType::Host => Some("host"),
        openwork_shared::models::ActorType::Remote => actor.scope.map(|s| s.as_str()),
    }
}

impl AppState {
    /// Ask the host (per the approval policy), then run `work` on the
    /// workspace under its write lock, record the reload event it reports
    /// while still holding the lock (so the watcher knows the change as
    /// ours), and append its audit lines.
    pub async fn mutate<T: Send + 'static>(
        &self,
        actor: &Actor,
        ws: &WorkspaceEntry,
        intent: Intent,
        work: impl FnOnce(&AppState, &Path) -> ApiResult<Done<T>> + Send + 'static,
    ) -> ApiResult<T> {
        self.mutate_staged(
            actor,
            ws,
            intent,
            || Ok(()),
            move |(), st, root| work(st, root),
        )
        .await
    }

    /// `mutate` with a first step run once the write is approved but
    /// before the workspace is locked: what can be made ready without the
    /// lock (new content written and flushed to a temporary file) is, so
    /// concurrent writes hold the lock only to move it into place.
    pub async fn mutate_staged<S: Send + 'static, T: Send + 'static>(
        &self,
        actor: &Actor,
        ws: &WorkspaceEntry,
        intent: Intent,
        stage: impl FnOnce() -> ApiResult<S> + Send + 'static,
        work: impl FnOnce(S, &AppState, &Path) -> ApiResult<Done<T>> + Send + 'static,
    ) -> ApiResult<T> {
        let policy = self.live().approval.clone();
        let rule = self.rule_for(&policy.rules, actor, ws, &intent);
        let decision = self
            .approvals
            .require(
                &policy,
                rule.as_ref(),
                ApprovalRequest {
                    workspace_id: ws.id.clone(),
                    action: intent.action.as_str(),
                    summary: intent.summary,
                    paths: intent
                        .paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect(),
                    actor: actor.clone(),
                },
            )
            .await?;
        // One trip to a blocking thread: stage (without the lock), write
        // under the lock, queue the audit lines, then sync the folders the
        // write changed (after the lock, beside the audit and decision
        // flushes, both batched with what other writes append meanwhile).
        let write = self.locked_write(ws);
        let (id, actor_of, ws_of) = (ws.id.clone(), actor.clone(), ws.clone());
        let action = intent.action;
        let outcome = self
            .blocking(move |st| {
                let staged = stage()?;
                let (result, deferred) = write.run(st, move |st, root| {
                    let mut done = work(staged, st, root)?;
                    if let Some((reason, trigger)) = done.reload.take() {
                        st.events.record(&id, reason, trigger);
                    }
                    Ok(done)
                });
                // The audit lines and what the write changed, made durable
                // together (one flush for the write-ahead log's frames).
                let lines = match &result {
                    Ok(done) => done
                        .audit
                        .iter()
                        .map(|line| st.audit.line(&audit_entry(&actor_of, &ws_of, action, line)))
                        .collect(),
                    Err(_) => Vec::new(),
                };
                let committed = st.journal.commit_now(lines, deferred);
                Ok((result, committed))
            })
            .await;
        let (result, synced) = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                // Nothing was written (staging failed).
                crate::approvals::settle(decision).await;
                return Err(e);
            }
        };
        crate::approvals::settle(decision).await;
        synced.map_err(|e| {
            crate::logging::error(&format!("a write could not be made durable: {e}"));
            crate::error::ApiError::from(e)
        })?;
        Ok(result?.value)
    }

    /// The first approval rule that matches this write (none when there
    /// are no rules: nothing is looked up).
    fn rule_for(
        &self,
        rules: &Rules,
        actor: &Actor,
        ws: &WorkspaceEntry,
        intent: &Intent,
    ) -> Option<Rule> {
        if rules.is_empty() {
            return None;
        }
        let relative: Vec<String> = intent
            .paths
            .iter()
            .map(|p| rule_path(&ws.path, p))
            .collect();
        let token = actor
            .token_hash
            .as_deref()
            .and_then(|hash| self.tokens.names_of_hash(hash))
            .unwrap_or_default();
        let workspace_path = ws.path.to_string_lossy();
        rules
            .first_match(&Subject {
                action: intent.action.as_str(),
                workspace_id: &ws.id,
                workspace_path: &workspace_path,
                scope: actor_scope(actor),
                token: token.iter().map(String::as_str).collect(),
                paths: &relative,
                bytes: intent.bytes,
            })
            .cloned()
    }

    /// Append one audit line; a failure is logged, never answered (the
    /// change itself happened).
    pub async fn record(&self, actor: &Actor, ws: &WorkspaceEntry, action: Action, line: Audited) {
        let entry = audit_entry(actor, ws, action, &line);
        if let Err(e) = self.audit.append(&entry).wait().await {
            crate::logging::error(&format!("audit append failed: {e}"));
        }
    }
}
