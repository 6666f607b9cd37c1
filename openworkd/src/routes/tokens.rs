use crate::app::AppState;
use crate::auth::{Host, HostWriter};
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Params};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use openwork_shared::models::{Ok as OkBody, TokenCreated, TokenList};
use openwork_shared::{ErrorCode, Scope};
use serde_json::Value;

pub async fn list(State(st): State<AppState>, _host: Host) -> ApiResult<Json<TokenList>> {
    st.blocking(|st| {
        Ok(Json(TokenList {
            items: st.tokens.list(),
        }))
    })
    .await
}

pub async fn create(
    State(st): State<AppState>,
    _host: HostWriter,
    body: Body,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    let body = body.object()?;
    let scope = body
        .get("scope")
        .and_then(Value::as_str)
        .and_then(|s| s.trim().parse::<Scope>().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidScope,
                "Token scope must be owner, collaborator, or viewer",
            )
        })?;
    let label = body
        .get("label")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    let created = st
        .blocking(move |st| st.tokens.create(scope, label))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn revoke(
    State(st): State<AppState>,
    _host: HostWriter,
    Params(id): Params<String>,
) -> ApiResult<Json<OkBody>> {
    st.blocking(move |st| st.tokens.revoke(&id)).await?;
    Ok(Json(OkBody { ok: true }))
}
