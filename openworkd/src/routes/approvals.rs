use crate::app::AppState;
use crate::auth::Host;
use crate::error::ApiResult;
use crate::http::{Body, Params};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{ApprovalList, ApprovalReplied};
use serde_json::Value;

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
    body: Body,
) -> ApiResult<Json<ApprovalReplied>> {
    let allowed = body.json()?.get("reply").and_then(Value::as_str) == Some("allow");
    st.approvals.reply(&id, allowed)?;
    Ok(Json(ApprovalReplied { ok: true, allowed }))
}
