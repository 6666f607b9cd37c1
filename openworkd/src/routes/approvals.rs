use crate::app::AppState;
use crate::approval_rules::{SCOPES, Subject};
use crate::approvals::FeedEvent;
use crate::auth::Host;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::events::Follow;
use crate::http::Payload;
use crate::http::{JsonBody, Params, QueryMap};
use crate::pipeline::Action;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use openwork_shared::ErrorCode;
use openwork_shared::models::{
    Actor, ActorType, ApprovalCheck, ApprovalHistory, ApprovalList, ApprovalMode, ApprovalReplied,
    ApprovalReply, ApprovalVerdict, Reply, Verdict,
};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

/// `GET /approvals`: the pending list, or with `Accept: text/event-stream`
/// a live stream of `approval.requested` and `approval.decided` events
/// (`Last-Event-ID` resumes; without it the stream starts with what is
/// pending now).
pub async fn list(State(st): State<AppState>, _host: Host, headers: HeaderMap) -> Response {
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !wants_stream {
        return Json(ApprovalList {
            items: st.approvals.list(),
        })
        .into_response();
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (seq, queue) = match resume {
        Some(seq) => (seq, VecDeque::new()),
        None => {
            let (seq, pending) = st.approvals.snapshot();
            (seq, pending.into())
        }
    };
    let keep_alive = Duration::from_millis(st.config.events_keepalive_ms);
    let changes = st.approvals.subscribe();
    let fetch = move |seq| st.approvals.since(seq);
    let feed = Follow::new(changes, seq, queue, fetch, |e: &FeedEvent| e.seq);
    let frames = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        let frame = Event::default()
            .event(event.name)
            .id(event.seq.to_string())
            .data(&*event.data);
        Some((Ok::<_, Infallible>(frame), feed))
    });
    Sse::new(frames)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response()
}

/// Anything but exactly `"allow"` denies.
pub async fn reply(
    State(st): State<AppState>,
    Host(actor): Host,
    Params(id): Params<String>,
    body: JsonBody,
) -> ApiResult<Json<ApprovalReplied>> {
    // Any JSON is accepted: whatever is not an object with
    // `"reply": "allow"` denies.
    let reply = ApprovalReply::deserialize(body.json()?).map_or(Reply::Deny, |r| r.reply);
    let allowed = reply == Reply::Allow;
    let record = st.approvals.reply(&id, allowed, &decided_by(&st, &actor))?;
    crate::approvals::settle(record).await;
    Ok(Json(ApprovalReplied { ok: true, allowed }))
}

/// Who answered: the host, or an owner token (by its id).
fn decided_by(st: &AppState, actor: &Actor) -> String {
    if actor.kind == ActorType::Host {
        return "host".to_owned();
    }
    let id = actor
        .token_hash
        .as_deref()
        .and_then(|hash| st.tokens.id_of_hash(hash));
    match id {
        Some(id) => format!("owner:{id}"),
        None => "owner".to_owned(),
    }
}

/// `POST /approvals/check`: which rule, or the mode, would decide a write
/// like the one described (host); nothing is written or queued.
pub async fn check(
    State(st): State<AppState>,
    _host: Host,
    Payload(check): Payload<ApprovalCheck>,
) -> ApiResult<Json<ApprovalVerdict>> {
    let action = Action::ALL
        .iter()
        .find(|a| a.as_str() == check.action.trim())
        .ok_or_else(|| {
            let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            ApiError::invalid_payload(format!(
                "Unknown action {:?}; actions: {}",
                check.action,
                known.join(", ")
            ))
        })?;
    if let Some(scope) = &check.scope
        && !SCOPES.contains(&scope.as_str())
    {
        return Err(ApiError::invalid_payload(format!(
            "scope must be one of {}",
            SCOPES.join(", ")
        )));
    }
    let live = st.live();
    let ws = match &check.workspace {
        Some(w) => {
            let w = w.trim_end_matches('/');
            let found = live
                .workspaces
                .iter()
                .find(|ws| ws.id == w || ws.path.to_string_lossy() == w);
            Some(found.ok_or_else(|| {
                ApiError::new(ErrorCode::WorkspaceNotFound, "Workspace not found")
            })?)
        }
        None => live.workspaces.first(),
    };
    let (ws_id, ws_path) = ws
        .map(|ws| (ws.id.clone(), ws.path.to_string_lossy().into_owned()))
        .unwrap_or_default();
    // A token named by id or label goes by both.
    let token: Vec<String> = match &check.token {
        Some(t) => st
            .tokens
            .list()
            .into_iter()
            .find(|info| info.id == *t || info.label.as_deref() == Some(t))
            .map(|info| std::iter::once(info.id).chain(info.label).collect())
            .unwrap_or_else(|| vec![t.clone()]),
        None => Vec::new(),
    };
    let paths: Vec<String> = check
        .paths
        .iter()
        .map(|p| {
            let p = p.trim_start_matches("./");
            ws.map_or_else(
                || p.to_owned(),
                |ws| crate::pipeline::rule_path(&ws.path, Path::new(p)),
            )
        })
        .collect();
    let policy = &live.approval;
    let rule = policy.rules.first_match(&Subject {
        action: action.as_str(),
        workspace_id: &ws_id,
        workspace_path: &ws_path,
        scope: check.scope.as_deref(),
        token: token.iter().map(String::as_str).collect(),
        paths: &paths,
        bytes: check.bytes,
    });
    Ok(Json(match rule {
        Some(rule) => ApprovalVerdict {
            decision: rule.decision.verdict(),
            rule: Some(rule.name.clone()),
            decided_by: format!("rule:{}", rule.name),
        },
        None if policy.mode == ApprovalMode::Auto => ApprovalVerdict {
            decision: Verdict::Allow,
            rule: None,
            decided_by: "auto".into(),
        },
        None => ApprovalVerdict {
            decision: Verdict::Ask,
            rule: None,
            decided_by: "host".into(),
        },
    }))
}

/// `GET /approvals/history?limit=N&before=ID`: decided requests, newest
/// first (host).
pub async fn history(
    State(st): State<AppState>,
    _host: Host,
    query: QueryMap,
) -> Json<ApprovalHistory> {
    let limit = query
        .get("limit")
        .and_then(|l| l.trim().parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    Json(ApprovalHistory {
        items: st.approvals.history.page(limit, query.get("before")),
    })
}
