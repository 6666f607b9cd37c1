//! Authentication extractors. Every route names what it needs in its
//! signature: `Bearer` (any valid bearer), `Writer` (collaborator, server
//! writable), `Host` (host token or owner bearer; a read-only server keeps
//! host operations: tokens, approvals).

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::tokens::sha256_hex;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use openwork_shared::models::{Actor, ActorType};
use openwork_shared::routes::HOST_TOKEN_HEADER;
use openwork_shared::{ErrorCode, Scope};
use serde_json::json;
use subtle::ConstantTimeEq;

const CLIENT_ID_HEADER: &str = "x-openwork-client-id";

/// Precomputed hashes of the configured tokens, compared in constant time.
pub struct Secrets {
    client_hash: [u8; 32],
    host_hash: [u8; 32],
}

fn digest(value: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(value.as_bytes()).into()
}

impl Secrets {
    pub fn new(client_token: &str, host_token: &str) -> Self {
        Self {
            client_hash: digest(client_token),
            host_hash: digest(host_token),
        }
    }
}

/// The token after `Bearer ` (scheme matched case-insensitively).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("bearer") || !rest.starts_with(char::is_whitespace) {
        return None;
    }
    // `Bearer\s+(.+)`: the token is the rest of the line after the spaces.
    Some(rest.trim_start()).filter(|t| !t.is_empty())
}

fn client_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CLIENT_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What the request's credentials say, without judging them (for the log).
pub fn presented(headers: &HeaderMap) -> &'static str {
    if headers.contains_key(HOST_TOKEN_HEADER) {
        "host"
    } else if bearer(headers).is_some() {
        "client"
    } else {
        "none"
    }
}

fn client_actor(state: &AppState, headers: &HeaderMap) -> ApiResult<Actor> {
    let invalid = || ApiError::new(ErrorCode::Unauthorized, "Invalid bearer token");
    let raw = bearer(headers).ok_or_else(invalid)?;
    let token = raw.trim();
    // One hash serves the comparisons and, usually, the actor's tokenHash.
    let hashed = digest(token);
    let hex = hex::encode(hashed);
    let scope = if bool::from(hashed.ct_eq(&state.secrets.client_hash)) {
        Some(Scope::Collaborator)
    } else {
        state.tokens.scope_of_hash(&hex, crate::now_ms())
    };
    let scope = scope.ok_or_else(invalid)?;
    let token_hash = if raw == token { hex } else { sha256_hex(raw) };
    Ok(Actor {
        kind: ActorType::Remote,
        client_id: client_id(headers),
        token_hash: Some(token_hash),
        scope: Some(scope),
    })
}

fn host_actor(state: &AppState, headers: &HeaderMap) -> ApiResult<Actor> {
    if let Some(host) = headers.get(HOST_TOKEN_HEADER).and_then(|v| v.to_str().ok())
        && bool::from(digest(host).ct_eq(&state.secrets.host_hash))
    {
        return Ok(Actor {
            kind: ActorType::Host,
            client_id: None,
            token_hash: Some(sha256_hex(host)),
            scope: Some(Scope::Owner),
        });
    }
    match client_actor(state, headers) {
        Ok(actor) if actor.scope == Some(Scope::Owner) => Ok(actor),
        _ => Err(ApiError::new(ErrorCode::Unauthorized, "Invalid host token")),
    }
}

/// Refuse an actor below `required`.
pub fn require_scope(actor: &Actor, required: Scope) -> ApiResult<()> {
    let scope = actor
        .scope
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "Missing token scope"))?;
    if scope < required {
        return Err(
            ApiError::new(ErrorCode::Forbidden, "Insufficient token scope")
                .with_details(json!({"required": required, "scope": scope})),
        );
    }
    Ok(())
}

pub fn require_writable(state: &AppState) -> ApiResult<()> {
    if state.config.read_only {
        return Err(ApiError::new(ErrorCode::ReadOnly, "Server is read-only"));
    }
    Ok(())
}

/// Any valid bearer token (viewer and up).
pub struct Bearer(pub Actor);

/// A bearer token of collaborator scope or more, on a writable server.
pub struct Writer(pub Actor);

/// The host token, or an owner bearer token.
pub struct Host(pub Actor);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        client_actor(state, &parts.headers).map(Bearer)
    }
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let actor = client_actor(state, &parts.headers)?;
        require_writable(state)?;
        require_scope(&actor, Scope::Collaborator)?;
        Ok(Writer(actor))
    }
}

impl FromRequestParts<AppState> for Host {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        host_actor(state, &parts.headers).map(Host)
    }
}

/// Bearer credentials, for handlers whose policy depends on the path.
pub fn client_from_headers(state: &AppState, headers: &HeaderMap) -> ApiResult<Actor> {
    client_actor(state, headers)
}

/// Host credentials on top of a client's (global commands).
pub fn host_from_headers(state: &AppState, headers: &HeaderMap) -> ApiResult<Actor> {
    host_actor(state, headers)
}
