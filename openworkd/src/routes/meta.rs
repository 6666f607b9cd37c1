use crate::app::{AppState, Workspace};
use crate::auth::Bearer;
use crate::error::ApiResult;
use crate::routes::sees_secrets;
use crate::workspace::WorkspaceEntry;
use axum::Json;
use axum::extract::State;
use openwork_shared::Scope;
use openwork_shared::models::*;

pub async fn health(State(st): State<AppState>) -> Json<Health> {
    Json(health_at(&st, std::time::Instant::now()))
}

/// The liveness answer as of `now` (also given by the front before
/// routing, see `http::Front`).
pub fn health_at(st: &AppState, now: std::time::Instant) -> Health {
    Health {
        ok: true,
        version: st.config.reported_version.clone(),
        uptime_ms: st.uptime_ms_at(now),
    }
}

fn status_of(st: &AppState, actor: &Actor, workspaces: &[WorkspaceEntry]) -> Status {
    let c = &st.config;
    let active = workspaces.first();
    let live = st.live();
    let roots = &live.authorized_roots;
    Status {
        ok: true,
        version: c.reported_version.clone(),
        uptime_ms: st.uptime_ms(),
        read_only: c.read_only,
        approval: approval_config(st),
        cors_origins: live.cors_origins.clone(),
        workspace_count: workspaces.len(),
        active_workspace_id: active.map(|w| w.id.clone()),
        workspace: active.map(|w| w.info(sees_secrets(actor))),
        authorized_roots: roots.iter().map(|r| r.display().to_string()).collect(),
        server: ServerInfo {
            host: c.host.clone(),
            port: c.port,
            config_path: Some(c.config_path.display().to_string()),
        },
        token_source: TokenSources {
            client: c.client_token_source.as_str().into(),
            host: c.host_token_source.as_str().into(),
        },
        tls: st.tls.as_ref().map(|tls| TlsInfo {
            fingerprint: tls.fingerprint().to_string(),
            self_signed: tls.self_signed(),
        }),
    }
}

fn approval_config(st: &AppState) -> ApprovalConfig {
    let live = st.live();
    let policy = &live.approval;
    ApprovalConfig {
        mode: policy.mode,
        timeout_ms: policy.timeout_ms(),
    }
}

pub async fn status(State(st): State<AppState>, Bearer(actor): Bearer) -> Json<Status> {
    Json(status_of(&st, &actor, &st.workspace_list()))
}

pub async fn mounted_status(
    State(st): State<AppState>,
    Bearer(actor): Bearer,
    Workspace(ws): Workspace,
) -> ApiResult<Json<Status>> {
    Ok(Json(status_of(&st, &actor, &[ws])))
}

pub async fn capabilities(State(st): State<AppState>, _client: Bearer) -> Json<Capabilities> {
    let c = &st.config;
    let write = !c.read_only;
    let rw = || ReadWrite { read: true, write };
    let (enabled, placement, mode) = match c.browser_provider.as_deref() {
        Some("sandbox-headless") => (true, "in-sandbox", "headless"),
        Some("host-interactive") => (true, "host-machine", "interactive"),
        Some("client-interactive") => (true, "client-machine", "interactive"),
        _ => (false, "external", "none"),
    };
    let any_base_url = st
        .workspace_list()
        .iter()
        .any(|w| w.base_url.as_deref().is_some_and(|u| !u.trim().is_empty()));
    Json(Capabilities {
        schema_version: 1,
        server_version: c.reported_version.clone(),
        skills: SkillsCapability {
            read: true,
            write,
            source: "openwork".into(),
        },
        // The skill hub is not served by openworkd.
        hub: Hub {
            skills: HubSkills {
                read: false,
                install: false,
                repo: HubRepo {
                    owner: "different-ai".into(),
                    name: "openwork-hub".into(),
                    git_ref: "main".into(),
                },
            },
        },
        plugins: rw(),
        mcp: rw(),
        commands: rw(),
        config: rw(),
        approvals: approval_config(&st),
        sandbox: Sandbox {
            enabled: c.sandbox_enabled,
            backend: c.sandbox_backend.clone(),
        },
        ui: UiCapability { toy: c.toy_ui },
        tokens: TokensCapability {
            scoped: true,
            scopes: Scope::ALL.to_vec(),
        },
        proxy: ProxyCapability {
            opencode: any_base_url,
            opencode_router: c.opencode_router_port.is_some(),
        },
        tool_providers: ToolProviders {
            browser: BrowserProvider {
                enabled,
                placement: placement.into(),
                mode: mode.into(),
            },
            files: FilesProvider {
                injection: write && c.inbox_enabled,
                outbox: c.outbox_enabled,
                inbox_path: ".opencode/openwork/inbox/".into(),
                outbox_path: ".opencode/openwork/outbox/".into(),
                max_bytes: c.inbox_max_bytes,
            },
        },
    })
}

pub async fn whoami(Bearer(actor): Bearer) -> Json<Whoami> {
    Json(Whoami { ok: true, actor })
}

/// `GET /metrics`: host token or owner token, unless made public.
pub async fn metrics(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    if !st.config.metrics_public {
        crate::auth::host_from_headers(&st, &headers)?;
    }
    let text = st
        .metrics
        .render(st.approvals.list().len(), st.sessions.live(crate::now_ms()));
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        text,
    )
        .into_response())
}

/// `GET /openapi.json`: the API description, no auth.
pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document().clone())
}
