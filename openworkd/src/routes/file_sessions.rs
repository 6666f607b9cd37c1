//! File sessions: create/renew/close, catalog snapshot and events, and
//! batch reads, writes and operations.

use crate::app::{AppState, Workspace};
use crate::auth::{Bearer, Writer};
use crate::error::{ApiError, ApiResult};
use crate::http::{JsonBody, Params, QueryMap};
use crate::now_ms;
use crate::pipeline::{Action, Done, Intent};
use crate::workspace::WorkspaceEntry;
use crate::workspace::files::{self, Change, MAX_BATCH, Op, Session};
use crate::workspace::paths::{Root, normalize_relative, resolve_in_workspace};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{Actor, CatalogSnapshot, FileEventList, FileSessionEnvelope, OkBody};
use openwork_shared::{ErrorCode, Scope};
use serde_json::{Value, json};
use std::path::Path;

fn token_hash(actor: &Actor) -> &str {
    actor.token_hash.as_deref().unwrap_or_default()
}

/// The caller's live session and its (still configured) workspace.
fn session(st: &AppState, sid: &str, actor: &Actor) -> ApiResult<(Session, WorkspaceEntry)> {
    let session = st.sessions.get(sid, token_hash(actor), now_ms())?;
    let ws = st
        .workspace_list()
        .into_iter()
        .find(|w| w.id == session.workspace_id)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::WorkspaceNotFound,
                "Workspace not found for this file session",
            )
        })?;
    Ok((session, ws))
}

fn writable_session(
    st: &AppState,
    sid: &str,
    actor: &Actor,
) -> ApiResult<(Session, WorkspaceEntry)> {
    let (session, ws) = session(st, sid, actor)?;
    if !session.can_write {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "File session is read-only",
        ));
    }
    Ok((session, ws))
}

pub async fn create(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Workspace(ws): Workspace,
    body: JsonBody,
) -> ApiResult<Json<FileSessionEnvelope>> {
    let body = body.object()?;
    let wants_write = body.get("write") != Some(&Value::Bool(false));
    let can_write = wants_write
        && !st.config.read_only
        && actor.scope.is_some_and(|s| s >= Scope::Collaborator);
    let ttl = files::ttl_ms(body.get("ttlSeconds"));
    let now = now_ms();
    let session = st
        .sessions
        .create(&ws.id, token_hash(&actor), can_write, ttl, now);
    Ok(envelope(&session, now))
}

fn envelope(session: &Session, now: u64) -> Json<FileSessionEnvelope> {
    Json(FileSessionEnvelope {
        session: session.info(now),
    })
}

pub async fn renew(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Params(sid): Params<String>,
    body: JsonBody,
) -> ApiResult<Json<FileSessionEnvelope>> {
    let body = body.object()?;
    let now = now_ms();
    let ttl = files::ttl_ms(body.get("ttlSeconds"));
    let session = st.sessions.renew(&sid, token_hash(&actor), ttl, now)?;
    Ok(envelope(&session, now))
}

pub async fn close(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Params(sid): Params<String>,
) -> ApiResult<Json<OkBody>> {
    session(&st, &sid, &actor)?;
    st.sessions.remove(&sid);
    Ok(Json(OkBody { ok: true }))
}

pub async fn snapshot(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Params(sid): Params<String>,
    query: QueryMap,
) -> ApiResult<Json<CatalogSnapshot>> {
    let (session, ws) = session(&st, &sid, &actor)?;
    let prefix = query
        .get("prefix")
        .filter(|p| !p.trim().is_empty())
        .map(normalize_relative)
        .transpose()?;
    let after = query
        .get("after")
        .filter(|p| !p.trim().is_empty())
        .map(normalize_relative)
        .transpose()?;
    let include_dirs = !query.is("includeDirs", "false");
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<f64>().ok())
        .filter(|l| *l >= 1.0)
        .map_or(2000, |l| (l.floor() as usize).min(10_000));
    let cursor = st.file_events.cursor(&ws.id);
    let root = ws.path.clone();
    let under = prefix.clone();
    let mut entries = st
        .blocking(move |_| {
            // Only the prefix's subtree is walked; it must stay inside.
            let under = under.map(|p| Root::new(&root)?.resolve(&p)).transpose()?;
            Ok(files::catalog(&root, under.as_deref()))
        })
        .await?;
    entries.retain(|e| {
        (include_dirs || e.kind == "file")
            && prefix.as_ref().is_none_or(|p| {
                e.path
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            && after.as_ref().is_none_or(|a| e.path.as_str() > a.as_str())
    });
    let total = entries.len();
    let truncated = total > limit;
    entries.truncate(limit);
    Ok(Json(CatalogSnapshot {
        session_id: session.id,
        workspace_id: ws.id,
        generated_at: now_ms(),
        cursor,
        total,
        truncated,
        next_after: truncated
            .then(|| entries.last().map(|e| e.path.clone()))
            .flatten(),
        items: entries,
    }))
}

pub async fn events(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Params(sid): Params<String>,
    query: QueryMap,
) -> ApiResult<Json<FileEventList>> {
    let (_, ws) = session(&st, &sid, &actor)?;
    let page = st.file_events.since(&ws.id, query.cursor("since"));
    Ok(Json(FileEventList {
        items: page.items,
        cursor: page.cursor,
        reset: page.reset,
    }))
}

/// The array field `name` of a batch body, 1 to 64 items.
fn batch<'a>(body: &'a serde_json::Map<String, Value>, name: &str) -> ApiResult<&'a Vec<Value>> {
    let items = body
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid_payload(format!("{name} must be an array")))?;
    if items.is_empty() {
        return Err(ApiError::invalid_payload(format!(
            "{name} must not be empty"
        )));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::invalid_payload(format!(
            "{name} must include <= {MAX_BATCH} items"
        )));
    }
    Ok(items)
}

pub async fn read_batch(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Params(sid): Params<String>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let (_, ws) = session(&st, &sid, &actor)?;
    let body = body.object()?;
    let paths = batch(&body, "paths")?;
    let paths = files::normalize_all(paths.iter().map(|p| p.as_str().unwrap_or_default()))?;
    let root = ws.path.clone();
    let items = st
        .blocking(move |_| {
            let root = Root::new(&root)?;
            Ok(paths
                .iter()
                .map(|p| files::read_item(&root, p))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({"items": items})))
}

pub async fn write_batch(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(sid): Params<String>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let (_, ws) = writable_session(&st, &sid, &actor)?;
    let body = body.object()?;
    let mut requested = Vec::new();
    for entry in batch(&body, "writes")? {
        let entry = entry
            .as_object()
            .ok_or_else(|| ApiError::invalid_payload("write entries must be objects"))?;
        let content = entry
            .get("contentBase64")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if content.is_empty() {
            return Err(ApiError::invalid_payload("contentBase64 is required"));
        }
        let path = normalize_relative(
            entry
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )?;
        let if_match = entry
            .get("ifMatchRevision")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let force = entry.get("force") == Some(&Value::Bool(true));
        requested.push((path, content.to_owned(), if_match, force));
    }
    let root = ws.path.clone();
    let (failures, planned) = st
        .blocking(move |_| {
            let root = Root::new(&root)?;
            let (mut failures, mut planned) = (Vec::new(), Vec::new());
            for (path, content, if_match, force) in requested {
                match files::plan_write(&root, &path, &content, if_match, force) {
                    Ok(plan) => planned.push(plan),
                    Err(item) => failures.push(item),
                }
            }
            Ok((failures, planned))
        })
        .await?;
    let mut items = failures;
    if !planned.is_empty() {
        let intent = Intent::new(
            Action::FilesWrite,
            format!("Write {} file(s) via file session", planned.len()),
            planned.iter().map(|p| p.target.clone()).collect(),
        );
        let ws_id = ws.id.clone();
        let written = st
            .mutate(&actor, &ws, intent, move |st, root| {
                apply_all(st, &ws_id, root, &planned, files::apply_write, true)
            })
            .await?;
        items.extend(written);
    }
    Ok(Json(
        json!({"items": items, "cursor": st.file_events.cursor(&ws.id)}),
    ))
}

fn op_string(op: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    op.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// Parse one op; its paths are normalized (errors fail the whole request).
fn parse_op(value: &Value) -> ApiResult<Op> {
    let empty = serde_json::Map::new();
    let op = value.as_object().unwrap_or(&empty);
    let kind = op
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let path = |key: &str| {
        op_string(op, key)
            .map(|p| normalize_relative(&p))
            .transpose()
    };
    let missing = |kind: &str, key: &str| Op::Invalid {
        kind: kind.to_owned(),
        code: "operation_failed",
        message: format!("{key} is required"),
    };
    Ok(match kind.as_str() {
        "mkdir" => {
            path("path")?.map_or_else(|| missing("mkdir", "path"), |path| Op::Mkdir { path })
        }
        "delete" => {
            let recursive = op.get("recursive") == Some(&Value::Bool(true));
            path("path")?.map_or_else(
                || missing("delete", "path"),
                |path| Op::Delete { path, recursive },
            )
        }
        "rename" => match (path("from")?, path("to")?) {
            (Some(from), Some(to)) => Op::Rename { from, to },
            _ => missing("rename", "from and to"),
        },
        other => Op::Invalid {
            kind: other.to_owned(),
            code: "invalid_operation",
            message: format!("Unsupported operation type: {other}"),
        },
    })
}

pub async fn ops(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(sid): Params<String>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let (_, ws) = writable_session(&st, &sid, &actor)?;
    let body = body.object()?;
    let operations = body
        .get("operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| ApiError::invalid_payload("operations must be a non-empty array"))?;
    if operations.len() > MAX_BATCH {
        return Err(ApiError::invalid_payload(format!(
            "operations must include <= {MAX_BATCH} items"
        )));
    }
    let ops = operations
        .iter()
        .map(parse_op)
        .collect::<ApiResult<Vec<_>>>()?;
    let ops_len = ops.len();
    let mut paths = Vec::new();
    for op in &ops {
        let rels: Vec<&String> = match op {
            Op::Mkdir { path } | Op::Delete { path, .. } => vec![path],
            Op::Rename { from, to } => vec![from, to],
            Op::Invalid { .. } => vec![],
        };
        for rel in rels {
            paths.push(resolve_in_workspace(&ws.path, rel)?);
        }
    }
    let ws_id = ws.id.clone();
    let work =
        move |st: &AppState, root: &Path| apply_all(st, &ws_id, root, &ops, files::apply_op, false);
    let items = if paths.is_empty() {
        // Only invalid operations: nothing to approve, nothing changes.
        st.write(&ws, move |st, root| work(st, root).map(|done| done.value))
            .await?
    } else {
        let intent = Intent::new(
            Action::FilesOps,
            format!("Apply {} file operation(s) via file session", ops_len),
            paths,
        );
        st.mutate(&actor, &ws, intent, work).await?
    };
    Ok(Json(
        json!({"items": items, "cursor": st.file_events.cursor(&ws.id)}),
    ))
}

/// Apply each item (under the workspace's write lock), recording a file
/// event for every change and, when `audited`, an audit line.
fn apply_all<T>(
    st: &AppState,
    ws_id: &str,
    root: &Path,
    items: &[T],
    apply: fn(&Root, &T) -> (Value, Option<Change>),
    audited: bool,
) -> ApiResult<Done<Vec<Value>>> {
    let resolver = Root::new(root)?;
    let mut values = Vec::with_capacity(items.len());
    let mut changes = Vec::new();
    for item in items {
        let (value, change) = apply(&resolver, item);
        if let Some(c) = change {
            st.file_events.record(ws_id, &c, now_ms());
            changes.push(c);
        }
        values.push(value);
    }
    let mut done = Done::new(values);
    if audited {
        for c in changes {
            let target = root.join(&c.path).display().to_string();
            done = done.audit(target, format!("Wrote {} via file session", c.path));
        }
    }
    Ok(done)
}
