use crate::app::AppState;
use crate::auth::Host;
use crate::error::ApiResult;
use crate::http::{Params, Payload};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use openwork_shared::models::{OkBody, TokenCreate, TokenCreated, TokenList};

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
    _host: Host,
    Payload(TokenCreate {
        scope,
        label,
        ttl_seconds,
    }): Payload<TokenCreate>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    let created = st
        .blocking(move |st| st.tokens.create(scope, label, ttl_seconds))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn revoke(
    State(st): State<AppState>,
    _host: Host,
    Params(id): Params<String>,
) -> ApiResult<Json<OkBody>> {
    st.blocking(move |st| st.tokens.revoke(&id)).await?;
    Ok(Json(OkBody { ok: true }))
}
