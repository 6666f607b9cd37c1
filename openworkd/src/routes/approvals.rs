use crate::app::AppState;
use crate::auth::Host;
use crate::error::ApiResult;
use crate::http::{JsonBody, Params, QueryMap};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{
    Actor, ActorType, ApprovalHistory, ApprovalList, ApprovalReplied, ApprovalReply, Reply,
};
use serde::Deserialize;

pub async fn list(State(st): State<AppState>, _host: Host) -> Json<ApprovalList> {
    Json(ApprovalList {
        items: st.approvals.list(),
    })
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
    st.approvals.reply(&id, allowed, &decided_by(&st, &actor))?;
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
