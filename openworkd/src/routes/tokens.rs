use crate::app::AppState;
use crate::auth::Host;
use crate::error::{ApiError, ApiResult};
use crate::grants;
use crate::http::{Params, Payload};
use crate::now_ms;
use crate::pipeline::{Action, Audited};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderMap, header};
use openwork_shared::models::{
    Actor, ActorType, GrantCreate, GrantCreated, GrantList, PairRequest, Paired,
};
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

/// `POST /tokens/grants`: a one-time pairing code (host or owner).
pub async fn open_grant(
    State(st): State<AppState>,
    Host(actor): Host,
    headers: HeaderMap,
    Payload(create): Payload<GrantCreate>,
) -> ApiResult<(StatusCode, Json<GrantCreated>)> {
    let ttl = create.ttl_seconds.unwrap_or(grants::DEFAULT_TTL_SECONDS);
    if ttl > grants::MAX_TTL_SECONDS {
        return Err(ApiError::invalid_payload(format!(
            "ttlSeconds must be at most {}",
            grants::MAX_TTL_SECONDS
        )));
    }
    let (info, code) = st.grants.open(create.scope, create.label, ttl, now_ms());
    let summary = format!("Opened a pairing grant for a {} token", info.scope);
    audit_host_action(&st, &actor, Action::TokensGrant, &info.id, summary).await;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(
            || format!("{}:{}", st.config.host, st.config.port),
            str::to_owned,
        );
    Ok((
        StatusCode::CREATED,
        Json(GrantCreated {
            id: info.id,
            code,
            scope: info.scope,
            expires_at: info.expires_at,
            url: format!("http://{host}"),
        }),
    ))
}

/// `GET /tokens/grants`: open grants, never their codes.
pub async fn list_grants(State(st): State<AppState>, _host: Host) -> Json<GrantList> {
    Json(GrantList {
        items: st.grants.list(now_ms()),
    })
}

/// `DELETE /tokens/grants/:id`.
pub async fn revoke_grant(
    State(st): State<AppState>,
    _host: Host,
    Params(id): Params<String>,
) -> ApiResult<Json<OkBody>> {
    st.grants.revoke(&id)?;
    Ok(Json(OkBody { ok: true }))
}

/// `POST /pair` (no credentials): redeem a code, once, for a token.
pub async fn pair(
    State(st): State<AppState>,
    Payload(request): Payload<PairRequest>,
) -> ApiResult<(StatusCode, Json<Paired>)> {
    let grant = st.grants.redeem(&request.code, now_ms())?;
    let label = grant.label.clone().or_else(|| Some("paired".to_owned()));
    let created = st
        .blocking(move |st| st.tokens.create(grant.scope, label, None))
        .await?;
    let actor = Actor {
        kind: ActorType::Remote,
        client_id: None,
        token_hash: Some(crate::tokens::sha256_hex(&created.token)),
        scope: Some(created.scope),
    };
    let summary = format!("Paired a client with a {} token", created.scope);
    audit_host_action(&st, &actor, Action::TokensPair, &created.id, summary).await;
    Ok((
        StatusCode::CREATED,
        Json(Paired {
            token: created.token,
            id: created.id,
            scope: created.scope,
            expires_at: created.expires_at,
        }),
    ))
}

/// Host operations are audited in the active workspace's log.
async fn audit_host_action(
    st: &AppState,
    actor: &Actor,
    action: Action,
    target: &str,
    summary: String,
) {
    let Some(ws) = st.live().workspaces.first().cloned() else {
        return;
    };
    let line = Audited {
        target: target.to_owned(),
        summary,
    };
    st.record(actor, &ws, action, line).await;
}
