//! `/opencode/*` and `/opencode-router/*` (plain and mounted under
//! `/w/:id`): the policy checks, then a streamed pass-through.

use crate::app::AppState;
use crate::auth::{self, Bearer, require_scope};
use crate::error::{ApiError, ApiResult};
use crate::http::Params;
use crate::pipeline::{Action, Audited};
use crate::proxy_path::ProxyPath;
use crate::upstream::{self, DIRECTORY_HEADER};
use crate::workspace::WorkspaceEntry;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use openwork_shared::models::{Actor, EngineReloaded};
use openwork_shared::{ErrorCode, Scope};
use serde_json::json;
use std::collections::HashMap;

const OPENCODE: &str = "/opencode";
const ROUTER: &str = "/opencode-router";

fn read_only_method(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// What follows `prefix` in the request path, after an optional `/w/<id>`,
/// in the canonical form that is both judged and forwarded.
fn rest_after(req: &Request, prefix: &str) -> ApiResult<ProxyPath> {
    let raw = crate::http::unmounted(req.uri().path())
        .strip_prefix(prefix)
        .unwrap_or_default();
    ProxyPath::parse(raw)
}

/// Engine routes with one of these segments answer or manage the agent's
/// permission and question prompts (see the engine's `GET /doc`:
/// `permission.reply`, `permission.respond`, `question.reply`,
/// `question.reject` and their `/api/session/…` forms).
const PROMPT_SEGMENTS: [&str; 4] = ["permission", "permissions", "question", "questions"];

/// Viewers only read; only owners answer the engine's prompts.
fn opencode_policy(actor: &Actor, method: &Method, rest: &ProxyPath) -> ApiResult<()> {
    if read_only_method(method) {
        return Ok(());
    }
    if actor.scope < Some(Scope::Collaborator) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Viewer tokens are read-only",
        ));
    }
    if actor.scope < Some(Scope::Owner) && rest.mentions(&PROMPT_SEGMENTS) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only owner tokens can reply to permission requests",
        ));
    }
    Ok(())
}

fn unconfigured() -> ApiError {
    ApiError::new(
        ErrorCode::OpencodeUnconfigured,
        "OpenCode base URL is missing for this workspace",
    )
}

/// The base URL of a workspace's engine.
fn base_url(ws: &WorkspaceEntry) -> ApiResult<&str> {
    ws.base_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(unconfigured)
}

/// Directory and credentials the engine expects with every request.
fn engine_headers(ws: &WorkspaceEntry) -> Vec<(HeaderName, HeaderValue)> {
    let mut extra = Vec::new();
    if let Some(dir) = ws.opencode_directory()
        && let Ok(value) = HeaderValue::from_str(&dir)
    {
        extra.push((HeaderName::from_static(DIRECTORY_HEADER), value));
    }
    if let Some(auth) = upstream::basic_auth(ws) {
        extra.push((AUTHORIZATION, auth));
    }
    extra
}

async fn to_engine(st: AppState, ws: WorkspaceEntry, rest: ProxyPath, req: Request) -> Response {
    let base = match base_url(&ws) {
        Ok(base) => base,
        Err(e) => return e.into_response(),
    };
    let target = match upstream::target(base, &rest.to_forward(), req.uri().query()) {
        Ok(target) => target,
        Err(e) => return e.into_response(),
    };
    match upstream::forward(&st.upstream, req, target, engine_headers(&ws)).await {
        Ok(resp) => resp,
        Err(e) => {
            st.metrics.upstream_error("opencode");
            e.into_response()
        }
    }
}

/// `ANY /opencode[/*]`: the active workspace's engine.
pub async fn opencode(State(st): State<AppState>, Bearer(actor): Bearer, req: Request) -> Response {
    let rest = match rest_after(&req, OPENCODE)
        .and_then(|rest| opencode_policy(&actor, req.method(), &rest).map(|()| rest))
    {
        Ok(rest) => rest,
        Err(e) => return e.into_response(),
    };
    let active = st.live().workspaces.first().map(|w| w.id.clone());
    let ws = match active.map(|id| st.workspace(&id)) {
        Some(Ok(ws)) => ws,
        Some(Err(e)) => return e.into_response(),
        None => return unconfigured().into_response(),
    };
    to_engine(st, ws, rest, req).await
}

/// `ANY /w/:id/opencode[/*]`.
pub async fn opencode_mounted(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Params(params): Params<HashMap<String, String>>,
    req: Request,
) -> Response {
    let rest = match rest_after(&req, OPENCODE)
        .and_then(|rest| opencode_policy(&actor, req.method(), &rest).map(|()| rest))
    {
        Ok(rest) => rest,
        Err(e) => return e.into_response(),
    };
    let id = params.get("id").map_or("", String::as_str);
    match st.workspace(id) {
        Ok(ws) => to_engine(st, ws, rest, req).await,
        Err(e) => e.into_response(),
    }
}

/// `ANY /opencode-router[/*]` and `/w/:id/opencode-router[/*]`: the local
/// router's health and bindings for clients, everything else for the host.
pub async fn router(State(st): State<AppState>, req: Request) -> Response {
    match router_checked(&st, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn router_checked(st: &AppState, req: Request) -> ApiResult<Response> {
    let rest = rest_after(&req, ROUTER)?;
    let get = req.method() == Method::GET;
    let any = |paths: &[&[&str]]| paths.iter().any(|p| rest.is(p));
    if get && any(&[&[], &["health"]]) {
        auth::client_from_headers(st, req.headers())?;
    } else if get
        && any(&[
            &["bindings"],
            &["identities", "telegram"],
            &["identities", "slack"],
        ])
    {
        let actor = auth::client_from_headers(st, req.headers())?;
        require_scope(&actor, Scope::Collaborator)?;
    } else {
        auth::host_from_headers(st, req.headers())?;
    }
    let port = st.config.opencode_router_port.ok_or_else(|| {
        ApiError::new(
            ErrorCode::OpencodeRouterUnconfigured,
            "OpenCodeRouter is not configured on this host",
        )
    })?;
    let base = format!("http://127.0.0.1:{port}");
    let target = upstream::target(&base, &rest.to_forward(), req.uri().query())
        .map_err(|_| ApiError::not_found())?;
    let target_text = target.to_string();
    match upstream::forward(&st.upstream, req, target, Vec::new()).await {
        Ok(resp) => Ok(resp),
        Err(failure) => {
            st.metrics.upstream_error("opencode-router");
            Err(ApiError::new(
                ErrorCode::OpencodeRouterUnreachable,
                "OpenCodeRouter is not reachable on this host",
            )
            .with_details(json!({
                "baseUrl": base,
                "port": port,
                "targetUrl": target_text,
                "error": failure.to_string(),
            })))
        }
    }
}

/// `POST /workspace/:id/engine/reload`: ask the engine to dispose of the
/// workspace's instance so it reads its configuration again.
pub async fn engine_reload(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Params(id): Params<String>,
) -> ApiResult<Json<EngineReloaded>> {
    require_scope(&actor, Scope::Collaborator)?;
    let ws = st.workspace(&id)?;
    let base = base_url(&ws)?.to_owned();
    let query = ws.opencode_directory().map(|dir| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("directory", &dir)
            .finish()
    });
    let target = upstream::target(&base, "/instance/dispose", query.as_deref()).map_err(|_| {
        ApiError::new(
            ErrorCode::OpencodeUrlInvalid,
            "OpenCode base URL is invalid",
        )
    })?;
    let req = Request::builder()
        .method(Method::POST)
        .body(axum::body::Body::empty())
        .map_err(ApiError::internal)?;
    let auth = upstream::basic_auth(&ws).map(|value| (AUTHORIZATION, value));
    let resp = upstream::forward(&st.upstream, req, target, auth.into_iter().collect())
        .await
        .inspect_err(|_| st.metrics.upstream_error("opencode"))?;
    if !resp.status().is_success() {
        let (status, body) = upstream::read_answer(resp).await;
        return Err(
            ApiError::new(ErrorCode::OpencodeReloadFailed, "OpenCode reload failed")
                .with_details(json!({"status": status.as_u16(), "body": body})),
        );
    }
    let line = Audited {
        target: base,
        summary: "Reloaded the OpenCode engine".into(),
    };
    st.record(&actor, &ws, Action::EngineReload, line).await;
    Ok(Json(EngineReloaded {
        ok: true,
        reloaded_at: crate::now_ms(),
    }))
}
