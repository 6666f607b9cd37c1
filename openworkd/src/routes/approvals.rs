use crate::app::AppState;
use crate::auth::Host;
use crate::error::ApiResult;
use crate::http::{JsonBody, Params};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{ApprovalList, ApprovalReplied, ApprovalReply, Reply};
use serde::Deserialize;

pub async fn list(State(st): State<AppState>, _host: Host) -> Json<ApprovalList> {
    Json(ApprovalList {
        items: st.approvals.list(),
    })
}

/// Anything but exactly `"allow"` denies.
pub async fn reply(
    State(st): State<AppState>,
    _host: Host,
    Params(id): Params<String>,
    body: JsonBody,
) -> ApiResult<Json<ApprovalReplied>> {
    // Any JSON is accepted: whatever is not an object with
    // `"reply": "allow"` denies.
    let reply = ApprovalReply::deserialize(body.json()?).map_or(Reply::Deny, |r| r.reply);
    let allowed = reply == Reply::Allow;
    st.approvals.reply(&id, allowed)?;
    Ok(Json(ApprovalReplied { ok: true, allowed }))
}
