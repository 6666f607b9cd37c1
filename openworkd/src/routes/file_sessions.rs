//! File sessions: create/renew/close, catalog snapshot and events, and
//! batch reads, writes and operations.

use crate::app::{AppState, Workspace};
use crate::auth::{Bearer, Writer};
use crate::error::{ApiError, ApiResult};
use crate::http::{JsonBody, Params, Payload, QueryMap};
use crate::now_ms;
use crate::pipeline::{Action, Done, Intent};
use crate::read_budget::Share;
use crate::workspace::WorkspaceEntry;
use crate::workspace::catalog::PageQuery;
use crate::workspace::files::{self, Change, Op, Session};
use crate::workspace::paths::{Root, normalize_relative, resolve_in_workspace};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use openwork_shared::models::{
    Actor, CatalogSnapshot, FileEventList, FileOps, FileResult, FileSessionEnvelope,
    FileSessionOpen, FileSessionRenew, OkBody, ReadBatch, WriteBatch, WriteResults,
};
use openwork_shared::{ErrorCode, Scope};
use std::path::Path;
use std::sync::Arc;

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
    Payload(open): Payload<FileSessionOpen>,
) -> ApiResult<Json<FileSessionEnvelope>> {
    let can_write =
        open.write && !st.config.read_only && actor.scope.is_some_and(|s| s >= Scope::Collaborator);
    let ttl = files::ttl_ms(open.ttl_seconds);
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
    Payload(renew): Payload<FileSessionRenew>,
) -> ApiResult<Json<FileSessionEnvelope>> {
    let now = now_ms();
    let ttl = files::ttl_ms(renew.ttl_seconds);
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
) -> ApiResult<Response> {
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
    let (root, id) = (ws.path.clone(), ws.id.clone());
    let asked = PageQuery {
        prefix,
        after,
        include_dirs,
        limit,
    };
    let page = st
        .blocking(move |state| {
            // The prefix must stay inside the workspace (no symlink out).
            if let Some(p) = &asked.prefix {
                Root::new(&root)?.resolve(p)?;
            }
            Ok(state.catalogs.page(&id, &root, asked))
        })
        .await?;
    let head = CatalogSnapshot {
        session_id: session.id,
        workspace_id: ws.id,
        generated_at: now_ms(),
        cursor,
        total: page.total,
        truncated: page.next_after.is_some(),
        next_after: page.next_after,
        items: Vec::new(),
    };
    // The envelope serialized with no items, then the page's entries (kept
    // as JSON) sent after it: a 10,000-entry snapshot is neither
    // serialized nor copied.
    let envelope = serde_json::to_string(&head).map_err(ApiError::internal)?;
    let Some(open) = envelope.strip_suffix("[]}") else {
        return Err(ApiError::internal("unexpected snapshot envelope"));
    };
    let parts = [
        Bytes::from(open.to_owned()),
        page.items,
        Bytes::from_static(b"}"),
    ];
    let length = parts.iter().map(Bytes::len).sum::<usize>();
    let body = Body::from_stream(futures_util::stream::iter(
        parts.map(Ok::<_, std::convert::Infallible>),
    ));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
        ],
        body,
    )
        .into_response())
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

pub async fn read_batch(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Params(sid): Params<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let (_, ws) = session(&st, &sid, &actor)?;
    let batch: ReadBatch = body.parse()?;
    let paths = Arc::new(files::normalize_all(
        batch.paths.iter().map(String::as_str),
    )?);
    let root = Arc::new(ws.path.clone());
    // One trip when the answer's share of the read budget is free; else
    // the request waits for it, then reads.
    let mut share = None;
    let (items, share) = loop {
        let (root, paths) = (root.clone(), paths.clone());
        match st
            .blocking(move |st| read_pass(st, &root, &paths, share))
            .await?
        {
            Read::Done(items, share) => break (items, share),
            Read::Wait(cost) => share = Some(st.read_budget.take(cost).await?),
        }
    };
    let json = files::read_answer(&items).map_err(ApiError::internal)?;
    drop(items);
    // The share is given back once the answer is sent.
    let body = http_body_util::BodyExt::map_frame(Body::from(json), move |frame| {
        let _held = &share;
        frame
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::new(body),
    )
        .into_response())
}

/// A read-batch pass: read, or how much of the budget to wait for.
enum Read {
    Done(Vec<files::ReadItem>, Share),
    Wait(u64),
}

/// Open the files; read them once their answer has its share of the read
/// budget (`share`, or one free now).
fn read_pass(
    st: &AppState,
    root: &Path,
    paths: &[String],
    share: Option<Share>,
) -> ApiResult<Read> {
    let root = Root::new(root)?;
    let opened: Vec<_> = paths.iter().map(|p| files::open_item(&root, p)).collect();
    let cost = files::read_cost(&opened);
    let Some(share) = share.or_else(|| st.read_budget.try_take(cost)) else {
        return Ok(Read::Wait(cost));
    };
    let items = paths
        .iter()
        .zip(opened)
        .map(|(p, opened)| files::read_item(p, opened))
        .collect();
    Ok(Read::Done(items, share))
}

pub async fn write_batch(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(sid): Params<String>,
    body: JsonBody,
) -> ApiResult<Json<WriteResults>> {
    let (_, ws) = writable_session(&st, &sid, &actor)?;
    let batch: WriteBatch = body.parse()?;
    let mut requested = Vec::new();
    for mut write in batch.writes {
        if write.content_base64.is_empty() {
            return Err(ApiError::invalid_payload("contentBase64 is required"));
        }
        write.path = normalize_relative(&write.path)?;
        requested.push(write);
    }
    let root = ws.path.clone();
    let (failures, planned) = st
        .blocking(move |_| {
            let root = Root::new(&root)?;
            let (mut failures, mut planned) = (Vec::new(), Vec::new());
            for write in requested {
                match files::plan_write(&root, write) {
                    Ok(plan) => planned.push(plan),
                    Err(item) => failures.push(*item),
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
        )
        .bytes(planned.iter().map(|p| p.bytes.len() as u64).sum());
        let ws_id = ws.id.clone();
        let written = st
            .mutate(&actor, &ws, intent, move |st, root| {
                apply_all(st, &ws_id, root, &planned, files::apply_write, true)
            })
            .await?;
        items.extend(written);
    }
    let cursor = st.file_events.cursor(&ws.id);
    Ok(Json(WriteResults { items, cursor }))
}

pub async fn ops(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(sid): Params<String>,
    body: JsonBody,
) -> ApiResult<Json<WriteResults>> {
    let (_, ws) = writable_session(&st, &sid, &actor)?;
    let batch: FileOps = body.parse()?;
    let ops = batch
        .operations
        .into_iter()
        .map(Op::parse)
        .collect::<ApiResult<Vec<_>>>()?;
    let mut paths = Vec::new();
    for rel in ops.iter().flat_map(Op::paths) {
        paths.push(resolve_in_workspace(&ws.path, rel)?);
    }
    let ws_id = ws.id.clone();
    let summary = format!("Apply {} file operation(s) via file session", ops.len());
    let work =
        move |st: &AppState, root: &Path| apply_all(st, &ws_id, root, &ops, files::apply_op, false);
    let items = if paths.is_empty() {
        // Only invalid operations: nothing to approve, nothing changes.
        st.write(&ws, move |st, root| work(st, root).map(|done| done.value))
            .await?
    } else {
        let intent = Intent::new(Action::FilesOps, summary, paths);
        st.mutate(&actor, &ws, intent, work).await?
    };
    let cursor = st.file_events.cursor(&ws.id);
    Ok(Json(WriteResults { items, cursor }))
}

/// Apply each item (under the workspace's write lock), recording a file
/// event for every change and, when `audited`, an audit line.
fn apply_all<T>(
    st: &AppState,
    ws_id: &str,
    root: &Path,
    items: &[T],
    apply: fn(&Root, &T) -> (FileResult, Option<Change>),
    audited: bool,
) -> ApiResult<Done<Vec<FileResult>>> {
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
