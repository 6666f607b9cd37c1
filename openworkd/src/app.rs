//! Application state and the whole route table.

use crate::approvals::{ApprovalPolicy, Approvals};
use crate::audit::AuditLog;
use crate::auth::Secrets;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::events::ReloadEvents;
use crate::http::{JSON_BODY_LIMIT, front};
use crate::routes::{
    approvals, audit, commands, config, exchange, file_sessions, mcp, meta, plugins, proxy, skills,
    tokens, transfer, ui, workspaces,
};
use crate::tokens::TokenStore;
use crate::workspace::WorkspaceEntry;
use crate::workspace::cache::Caches;
use crate::workspace::files::{FileEvents, Sessions};
use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::routing::{any, delete, get, post};
use openwork_shared::ErrorCode;
use openwork_shared::models::{ReloadReason, ReloadTrigger};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A reload event: why clients should reload, and what changed.
pub type Reload = (ReloadReason, ReloadTrigger);

/// The settings a reload (SIGHUP) replaces, swapped as one: a request sees
/// all of the old ones or all of the new ones, never new workspaces with
/// old authorized roots.
#[derive(Clone)]
pub struct Live {
    /// The active workspace first.
    pub workspaces: Vec<WorkspaceEntry>,
    pub authorized_roots: Vec<PathBuf>,
    pub cors_origins: Vec<String>,
    pub approval: ApprovalPolicy,
}

impl Live {
    fn of(config: &Config) -> Live {
        Live {
            workspaces: config.workspaces.clone(),
            authorized_roots: config.authorized_roots.clone(),
            cors_origins: config.cors_origins.clone(),
            approval: ApprovalPolicy::new(config.approval_mode, config.approval_timeout_ms),
        }
    }

    /// `id` moved to the front of the workspaces, when it is one of them.
    fn with_active(mut self, id: Option<&str>) -> Live {
        if let Some(index) = id.and_then(|id| self.workspaces.iter().position(|w| w.id == id)) {
            let entry = self.workspaces.remove(index);
            self.workspaces.insert(0, entry);
        }
        self
    }
}

pub struct Inner {
    /// The configuration as resolved at start; what a reload can change is
    /// read from `live` instead.
    pub config: Config,
    pub secrets: Secrets,
    live: ArcSwap<Live>,
    pub tokens: TokenStore,
    pub approvals: Approvals,
    pub audit: AuditLog,
    pub events: ReloadEvents,
    pub caches: Caches,
    pub sessions: Sessions,
    pub file_events: FileEvents,
    pub started: Instant,
    pub upstream: crate::upstream::Client,
    pub metrics: crate::metrics::Metrics,
    write_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let inner = Inner {
            secrets: Secrets::new(&config.client_token, &config.host_token),
            live: ArcSwap::from_pointee(Live::of(&config)),
            tokens: TokenStore::new(config.token_store_path.clone()),
            approvals: Approvals::default(),
            audit: AuditLog::new(&config.data_dir),
            events: ReloadEvents::default(),
            caches: Caches::default(),
            sessions: Sessions::default(),
            file_events: FileEvents::default(),
            started: Instant::now(),
            upstream: crate::upstream::client(),
            metrics: crate::metrics::Metrics::default(),
            write_locks: Mutex::new(HashMap::new()),
            config,
        };
        AppState(Arc::new(inner))
    }

    /// Take the workspaces, authorized roots, CORS origins and approval
    /// policy of a freshly resolved configuration, all at once. The active
    /// workspace stays active when it is still configured.
    pub fn reload(&self, new: &Config) {
        self.live.rcu(|current| {
            let active = current.workspaces.first().map(|w| w.id.as_str());
            Live::of(new).with_active(active)
        });
    }

    /// Make workspace `id` the active one (first in the list).
    pub fn activate(&self, id: &str) {
        self.live
            .rcu(|current| Live::clone(current).with_active(Some(id)));
    }

    /// The live settings as they are now.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn workspace_list(&self) -> Vec<WorkspaceEntry> {
        self.live.load().workspaces.clone()
    }

    /// Find a workspace by id and check it lies under an authorized root.
    pub fn workspace(&self, id: &str) -> ApiResult<WorkspaceEntry> {
        let live = self.live.load();
        let ws =
            live.workspaces.iter().find(|w| w.id == id).ok_or_else(|| {
                ApiError::new(ErrorCode::WorkspaceNotFound, "Workspace not found")
            })?;
        if !ws.is_under_any(&live.authorized_roots) {
            return Err(ApiError::new(
                ErrorCode::WorkspaceUnauthorized,
                "Workspace is not authorized",
            ));
        }
        Ok(ws.clone())
    }

    /// Run filesystem work off the async workers.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || work(&state)).await?
    }

    /// Run a write to a workspace's files, one at a time per workspace.
    pub async fn write<T: Send + 'static>(
        &self,
        ws: &WorkspaceEntry,
        work: impl FnOnce(&AppState, &Path) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let lock = {
            let mut locks = self.write_locks.lock();
            locks.entry(ws.id.clone()).or_default().clone()
        };
        let root = ws.path.clone();
        self.blocking(move |state| {
            let _guard = lock.lock();
            work(state, &root)
        })
        .await
    }

    /// Wait until no API write to workspace `id` is in progress.
    pub fn wait_for_writes(&self, id: &str) {
        let lock = self.write_locks.lock().get(id).cloned();
        if let Some(lock) = lock {
            drop(lock.lock());
        }
    }
}

/// The workspace named by the route's `{id}`, found and checked against the
/// authorized roots. Put it after the auth extractor: credentials are
/// checked first.
pub struct Workspace(pub WorkspaceEntry);

impl FromRequestParts<AppState> for Workspace {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_payload(format!("Invalid path parameter: {e}")))?;
        let id = params
            .iter()
            .find(|(name, _)| *name == "id")
            .map_or("", |(_, value)| value);
        state.workspace(id).map(Workspace)
    }
}

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/health", get(meta::health))
        .route("/w/{id}/health", get(meta::health))
        .route("/status", get(meta::status))
        .route("/w/{id}/status", get(meta::mounted_status))
        .route("/capabilities", get(meta::capabilities))
        .route("/w/{id}/capabilities", get(meta::capabilities))
        .route("/whoami", get(meta::whoami))
        .route("/workspaces", get(workspaces::list))
        .route("/w/{id}/workspaces", get(workspaces::mounted_list))
        .route("/workspaces/{id}/activate", post(workspaces::activate))
        .route(
            "/workspace/{id}/config",
            get(config::get).patch(config::patch),
        )
        .route("/workspace/{id}/events", get(config::events))
        .route(
            "/workspace/{id}/plugins",
            get(plugins::list).post(plugins::add),
        )
        .route("/workspace/{id}/plugins/{name}", delete(plugins::remove))
        .route(
            "/workspace/{id}/skills",
            get(skills::list).post(skills::upsert),
        )
        .route(
            "/workspace/{id}/skills/{name}",
            get(skills::get).delete(skills::delete),
        )
        .route("/workspace/{id}/mcp", get(mcp::list).post(mcp::add))
        .route("/workspace/{id}/mcp/{name}", delete(mcp::remove))
        .route(
            "/workspace/{id}/commands",
            get(commands::list).post(commands::upsert),
        )
        .route("/workspace/{id}/commands/{name}", delete(commands::delete))
        .route("/workspace/{id}/audit", get(audit::list))
        .route("/workspace/{id}/export", get(transfer::export))
        .route("/workspace/{id}/import", post(transfer::import))
        .route(
            "/workspace/{id}/inbox",
            get(exchange::list::<false>)
                .post(exchange::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/workspace/{id}/inbox/{item}", get(exchange::item::<false>))
        .route("/workspace/{id}/artifacts", get(exchange::list::<true>))
        .route(
            "/workspace/{id}/artifacts/{item}",
            get(exchange::item::<true>),
        )
        .route(
            "/workspace/{id}/files/sessions",
            post(file_sessions::create),
        )
        .route("/files/sessions/{sid}", delete(file_sessions::close))
        .route("/files/sessions/{sid}/renew", post(file_sessions::renew))
        .route(
            "/files/sessions/{sid}/catalog/snapshot",
            get(file_sessions::snapshot),
        )
        .route(
            "/files/sessions/{sid}/catalog/events",
            get(file_sessions::events),
        )
        .route(
            "/files/sessions/{sid}/read-batch",
            post(file_sessions::read_batch),
        )
        .route(
            "/files/sessions/{sid}/write-batch",
            post(file_sessions::write_batch),
        )
        .route("/files/sessions/{sid}/ops", post(file_sessions::ops))
        .route("/workspace/{id}/engine/reload", post(proxy::engine_reload))
        .route("/opencode", any(proxy::opencode))
        .route("/opencode/{*rest}", any(proxy::opencode))
        .route("/w/{id}/opencode", any(proxy::opencode_mounted))
        .route("/w/{id}/opencode/{*rest}", any(proxy::opencode_mounted))
        .route("/opencode-router", any(proxy::router))
        .route("/opencode-router/{*rest}", any(proxy::router))
        .route("/w/{id}/opencode-router", any(proxy::router))
        .route("/w/{id}/opencode-router/{*rest}", any(proxy::router))
        .route("/ui", get(ui::page))
        .route("/w/{id}/ui", get(ui::page))
        .route("/ui/assets/{name}", get(ui::asset))
        .route("/metrics", get(meta::metrics))
        .route("/openapi.json", get(meta::openapi))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}", post(approvals::reply))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route_layer(axum::middleware::from_fn(crate::metrics::tag_route))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(state.clone());
    // The front layer wraps the routes so it runs before routing (rewrites).
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn_with_state(state, front))
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}
