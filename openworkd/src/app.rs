//! Application state and the whole route table.

use crate::approvals::{ApprovalPolicy, Approvals};
use crate::audit::AuditLog;
use crate::auth::Secrets;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::events::ReloadEvents;
use crate::http::JSON_BODY_LIMIT;
use crate::openapi::{BodyDoc, RouteAuth, any_json, binary, html, multipart, openmetrics, typed};
use crate::routes::{
    approvals, artifacts, audit, commands, config, file_sessions, inbox, mcp, meta, plugins, proxy,
    skills, tokens, transfer, ui, workspaces,
};
use crate::tokens::TokenStore;
use crate::workspace::Caches;
use crate::workspace::WorkspaceEntry;
use crate::workspace::files::{FileEvents, Sessions};
use crate::workspace::paths::Deferred;
use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawPathParams};
use axum::handler::Handler;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{MethodRouter, any, delete, get, patch, post};
use openwork_shared::ErrorCode;
use openwork_shared::models::{ReloadReason, ReloadTrigger};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tower::util::MapResponseLayer;

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
    pub webhooks: Arc<Vec<crate::webhooks::Webhook>>,
    /// The approvals feed's sequence when webhooks were configured (after
    /// none were): they are sent every event after it, however late their
    /// sender starts following.
    pub webhooks_from: u64,
}

impl Live {
    fn of(config: &Config) -> Live {
        Live {
            workspaces: config.workspaces.clone(),
            authorized_roots: config.authorized_roots.clone(),
            cors_origins: config.cors_origins.clone(),
            approval: ApprovalPolicy::new(
                config.approval_mode,
                config.approval_timeout_ms,
                config.approval_rules.clone(),
            ),
            webhooks: Arc::new(config.approval_webhooks.clone()),
            webhooks_from: 0,
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
    /// Whether the live CORS origins include `*` (then every answer carries
    /// CORS headers; otherwise only answers to requests naming an origin).
    cors_wildcard: AtomicBool,
    pub tokens: TokenStore,
    pub approvals: Approvals,
    pub audit: AuditLog,
    pub events: ReloadEvents,
    /// Cancelled when the daemon stops: event streams end.
    pub stopping: tokio_util::sync::CancellationToken,
    /// Notified when the live settings were reloaded.
    pub reloaded: tokio::sync::Notify,
    pub caches: Caches,
    pub sessions: Sessions,
    /// What read-batch answers may hold in memory together.
    pub read_budget: crate::read_budget::ReadBudget,
    /// The file-session catalog of watched workspaces, kept in memory.
    pub catalogs: crate::workspace::catalog::Catalogs,
    pub file_events: FileEvents,
    pub started: Instant,
    pub upstream: crate::upstream::UpstreamClient,
    pub auth_limiter: crate::auth_limit::AuthLimiter,
    pub grants: crate::grants::Grants,
    pub metrics: crate::metrics::Metrics,
    /// The certificate served, when serving HTTPS.
    pub tls: Option<crate::tls::Tls>,
    /// Appends the logs and syncs what writes changed (group commit).
    pub journal: Arc<crate::journal::Journal>,
    write_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// The daemon's state, shared by every request. It lives as long as the
/// process (a daemon makes one), so handing it to a request is a copy of
/// a reference, not a count shared between cores.
#[derive(Clone, Copy)]
pub struct AppState(&'static Inner);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        self.0
    }
}

impl AppState {
    pub fn new(config: Config) -> Self {
        Self::with_tls(config, None)
    }

    pub fn with_tls(config: Config, tls: Option<crate::tls::Tls>) -> Self {
        let journal = Arc::new(crate::journal::Journal::open(&config.data_dir));
        let inner = Inner {
            tls,
            secrets: Secrets::new(&config.client_token, &config.host_token),
            live: ArcSwap::from_pointee(Live::of(&config)),
            cors_wildcard: AtomicBool::new(wildcard(&config.cors_origins)),
            tokens: TokenStore::new(config.token_store_path.clone()),
            approvals: Approvals::new(&config.data_dir, journal.clone()),
            audit: AuditLog::new(&config.data_dir, journal.clone()),
            journal,
            events: ReloadEvents::default(),
            stopping: Default::default(),
            reloaded: Default::default(),
            caches: Caches::default(),
            sessions: Sessions::default(),
            read_budget: Default::default(),
            catalogs: Default::default(),
            file_events: FileEvents::default(),
            started: Instant::now(),
            upstream: crate::upstream::client(),
            auth_limiter: crate::auth_limit::AuthLimiter::default(),
            grants: crate::grants::Grants::default(),
            metrics: crate::metrics::Metrics::default(),
            write_locks: Mutex::new(HashMap::new()),
            config,
        };
        AppState(Box::leak(Box::new(inner)))
    }

    /// Take the workspaces, authorized roots, CORS origins and approval
    /// policy of a freshly resolved configuration, all at once. The active
    /// workspace stays active when it is still configured.
    pub fn reload(&self, new: &Config) {
        let now = self.approvals.latest();
        self.live.rcu(|current| {
            let active = current.workspaces.first().map(|w| w.id.as_str());
            let mut live = Live::of(new).with_active(active);
            live.webhooks_from = match current.webhooks.is_empty() {
                true => now,
                false => current.webhooks_from,
            };
            live
        });
        self.cors_wildcard
            .store(wildcard(&new.cors_origins), Ordering::Relaxed);
        self.reloaded.notify_waiters();
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

    /// The `Access-Control-Allow-Origin` an answer to a request from
    /// `origin` carries, if any: `*` when any origin is allowed, else the
    /// origin itself when it is in the list.
    pub fn cors_allow(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        if self.cors_wildcard.load(Ordering::Relaxed) {
            return Some(HeaderValue::from_static("*"));
        }
        let origin = origin?;
        let live = self.live.load();
        let listed = live
            .cors_origins
            .iter()
            .any(|a| a.as_bytes() == origin.as_bytes());
        listed.then(|| origin.clone())
    }

    pub fn uptime_ms(&self) -> u64 {
        self.uptime_ms_at(std::time::Instant::now())
    }

    /// The uptime as of `now` (a reading already taken).
    pub fn uptime_ms_at(&self, now: std::time::Instant) -> u64 {
        now.saturating_duration_since(self.started).as_millis() as u64
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

    /// The TLS served, if any.
    pub fn tls_config(self) -> Option<&'static crate::tls::Tls> {
        self.0.tls.as_ref()
    }

    /// `resp` as is, unless it is an event stream: then its body ends when
    /// the daemon stops (it would otherwise hold the stop until its grace
    /// runs out).
    pub fn stream_until_stop(self, resp: axum::response::Response) -> axum::response::Response {
        let streaming = resp
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !streaming {
            return resp;
        }
        use futures_util::StreamExt;
        let (parts, body) = resp.into_parts();
        let data = body
            .into_data_stream()
            .take_until(self.0.stopping.cancelled());
        let body = axum::body::Body::from_stream(data);
        axum::response::Response::from_parts(parts, body)
    }

    /// Run filesystem work off the async workers.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let state = *self;
        tokio::task::spawn_blocking(move || work(&state)).await?
    }

    /// Run a write to a workspace's files, one at a time per workspace;
    /// what it changed is made durable by the journal (each folder synced
    /// once), after the lock is released, before answering.
    pub async fn write<T: Send + 'static>(
        &self,
        ws: &WorkspaceEntry,
        work: impl FnOnce(&AppState, &Path) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let write = self.locked_write(ws);
        self.blocking(move |state| {
            let (result, deferred) = write.run(state, work);
            state.journal.commit_now(Vec::new(), deferred)?;
            result
        })
        .await
    }

    /// What runs a write to `ws` under its lock, on a blocking thread.
    pub fn locked_write(&self, ws: &WorkspaceEntry) -> LockedWrite {
        let lock = {
            let mut locks = self.write_locks.lock();
            locks.entry(ws.id.clone()).or_default().clone()
        };
        LockedWrite {
            lock,
            root: ws.path.clone(),
            id: ws.id.clone(),
        }
    }

    /// Wait until no API write to workspace `id` is in progress.
    pub fn wait_for_writes(&self, id: &str) {
        let lock = self.write_locks.lock().get(id).cloned();
        if let Some(lock) = lock {
            drop(lock.lock());
        }
    }
}

/// A write to one workspace, run one at a time per workspace.
pub struct LockedWrite {
    lock: Arc<Mutex<()>>,
    root: PathBuf,
    id: String,
}

impl LockedWrite {
    /// Run `work` under the workspace's lock (blocking), collecting what
    /// it leaves to make durable (see `paths::defer_durability`).
    pub fn run<T>(
        self,
        state: &AppState,
        work: impl FnOnce(&AppState, &Path) -> ApiResult<T>,
    ) -> (ApiResult<T>, Deferred) {
        let _guard = self.lock.lock();
        let mut done = crate::workspace::paths::defer_durability(|| work(state, &self.root));
        let root_len = self.root.as_os_str().len();
        for file in &mut done.1.logged {
            file.root_len = match file.path.starts_with(&self.root) {
                true => root_len,
                false => 0,
            };
        }
        state
            .catalogs
            .changed(&self.id, &self.root, done.1.touched());
        done
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

/// One route: method and path, who may call it, its handler, and what
/// `/openapi.json` says of it (mounted copies, proxies and assets are
/// described there in prose, not documented one by one).
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub auth: RouteAuth,
    pub doc: Option<Doc>,
    handler: MethodRouter<AppState>,
}

/// A route's entry in the OpenAPI document.
pub struct Doc {
    pub summary: &'static str,
    pub request: Option<BodyDoc>,
    pub response: BodyDoc,
}

fn route<H, T>(method: &'static str, path: &'static str, auth: RouteAuth, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let handler = match method {
        "any" => any(handler),
        "get" => get(handler),
        "post" => post(handler),
        "patch" => patch(handler),
        _ => delete(handler),
    };
    Route {
        method,
        path,
        auth,
        doc: None,
        handler,
    }
}

impl Route {
    fn doc(mut self, summary: &'static str, request: Option<BodyDoc>, response: BodyDoc) -> Route {
        self.doc = Some(Doc {
            summary,
            request,
            response,
        });
        self
    }

    fn unlimited_body(mut self) -> Route {
        self.handler = self.handler.layer(DefaultBodyLimit::disable());
        self
    }
}

/// Every route of the daemon, registered once: the router, the OpenAPI
/// document and the auth matrix are all built from this table.
#[rustfmt::skip]
pub fn routes() -> Vec<Route> {
    use RouteAuth::{Client, Collaborator, Host, None as Open};
    use openwork_shared::models::{OkBody, *};
    vec![
        route("get", "/health", Open, meta::health).doc("Liveness and version", None, typed::<Health>),
        route("get", "/w/{id}/health", Open, meta::health),
        route("get", "/status", Client, meta::status).doc("Host status", None, typed::<Status>),
        route("get", "/w/{id}/status", Client, meta::mounted_status),
        route("get", "/capabilities", Client, meta::capabilities).doc("What this server can do", None, typed::<Capabilities>),
        route("get", "/w/{id}/capabilities", Client, meta::capabilities),
        route("get", "/whoami", Client, meta::whoami).doc("The caller's identity and scope", None, typed::<Whoami>),
        route("get", "/workspaces", Client, workspaces::list).doc("Workspaces and the active one", None, typed::<WorkspaceList>),
        route("get", "/w/{id}/workspaces", Client, workspaces::mounted_list),
        route("post", "/workspaces/{id}/activate", Host, workspaces::activate).doc("Make a workspace the active one", None, typed::<WorkspaceActivated>),
        route("get", "/workspace/{id}/config", Client, config::get).doc("opencode.json[c] and .opencode/openwork.json", None, typed::<WorkspaceConfig>),
        route("patch", "/workspace/{id}/config", Collaborator, config::patch).doc("Set top-level config keys (comments kept)", Some(typed::<ConfigPatch>), typed::<UpdatedAt>),
        route("get", "/workspace/{id}/events", Client, config::events).doc("Reload events since a cursor (SSE with Accept: text/event-stream)", None, typed::<ReloadEvents>),
        route("post", "/workspace/{id}/engine/reload", Collaborator, proxy::engine_reload).doc("Ask the OpenCode engine to reload the workspace", None, typed::<EngineReloaded>),
        route("get", "/workspace/{id}/plugins", Client, plugins::list).doc("Plugins", None, typed::<PluginList>),
        route("post", "/workspace/{id}/plugins", Collaborator, plugins::add).doc("Add a plugin", Some(typed::<PluginAdd>), typed::<PluginList>),
        route("delete", "/workspace/{id}/plugins/{name}", Collaborator, plugins::remove).doc("Remove a plugin", None, typed::<PluginList>),
        route("get", "/workspace/{id}/skills", Client, skills::list).doc("Skills", None, typed::<SkillList>),
        route("post", "/workspace/{id}/skills", Collaborator, skills::upsert).doc("Create or update a skill", Some(typed::<SkillUpsert>), typed::<SkillItem>),
        route("get", "/workspace/{id}/skills/{name}", Client, skills::get).doc("One skill with its content", None, typed::<SkillDetail>),
        route("delete", "/workspace/{id}/skills/{name}", Collaborator, skills::delete).doc("Delete a skill", None, typed::<SkillDeleted>),
        route("get", "/workspace/{id}/mcp", Client, mcp::list).doc("MCP servers", None, typed::<McpList>),
        route("post", "/workspace/{id}/mcp", Collaborator, mcp::add).doc("Add an MCP server", Some(typed::<McpAdd>), typed::<McpList>),
        route("delete", "/workspace/{id}/mcp/{name}", Collaborator, mcp::remove).doc("Remove an MCP server", None, typed::<McpList>),
        route("get", "/workspace/{id}/commands", Client, commands::list).doc("Commands", None, typed::<CommandList>),
        route("post", "/workspace/{id}/commands", Collaborator, commands::upsert).doc("Create or update a command", Some(typed::<CommandUpsert>), typed::<CommandList>),
        route("delete", "/workspace/{id}/commands/{name}", Collaborator, commands::delete).doc("Delete a command", None, typed::<OkBody>),
        route("get", "/workspace/{id}/audit", Client, audit::list).doc("Recent audit entries", None, typed::<AuditList>),
        route("get", "/workspace/{id}/export", Client, transfer::export).doc("Export config, skills and commands", None, typed::<WorkspaceExport>),
        route("post", "/workspace/{id}/import", Collaborator, transfer::import).doc("Import an export", Some(typed::<WorkspaceImport>), typed::<OkBody>),
        route("get", "/workspace/{id}/inbox", Client, artifacts::list::<false>).doc("Uploaded files", None, typed::<FileList>),
        route("post", "/workspace/{id}/inbox", Collaborator, inbox::upload).unlimited_body().doc("Upload a file (multipart: file, path)", Some(multipart), typed::<InboxUploaded>),
        route("get", "/workspace/{id}/inbox/{item}", Client, artifacts::item::<false>).doc("Download an uploaded file", None, binary),
        route("get", "/workspace/{id}/artifacts", Client, artifacts::list::<true>).doc("Artifacts offered by the workspace", None, typed::<FileList>),
        route("get", "/workspace/{id}/artifacts/{item}", Client, artifacts::item::<true>).doc("Download an artifact (Range supported)", None, binary),
        route("post", "/workspace/{id}/files/sessions", Client, file_sessions::create).doc("Open a file session", Some(typed::<FileSessionOpen>), typed::<FileSessionEnvelope>),
        route("post", "/files/sessions/{sid}/renew", Client, file_sessions::renew).doc("Extend a file session", Some(typed::<FileSessionRenew>), typed::<FileSessionEnvelope>),
        route("delete", "/files/sessions/{sid}", Client, file_sessions::close).doc("Close a file session", None, typed::<OkBody>),
        route("get", "/files/sessions/{sid}/catalog/snapshot", Client, file_sessions::snapshot).doc("Files and folders, paged", None, typed::<CatalogSnapshot>),
        route("get", "/files/sessions/{sid}/catalog/events", Client, file_sessions::events).doc("File events since a cursor", None, typed::<FileEventList>),
        route("post", "/files/sessions/{sid}/read-batch", Client, file_sessions::read_batch).doc("Read up to 64 files", Some(typed::<ReadBatch>), typed::<ReadResults>),
        route("post", "/files/sessions/{sid}/write-batch", Collaborator, file_sessions::write_batch).doc("Write up to 64 files (one approval)", Some(typed::<WriteBatch>), typed::<WriteResults>),
        route("post", "/files/sessions/{sid}/ops", Collaborator, file_sessions::ops).doc("mkdir, delete, rename", Some(typed::<FileOps>), typed::<WriteResults>),
        route("any", "/opencode", Client, proxy::opencode),
        route("any", "/opencode/{*rest}", Client, proxy::opencode),
        route("any", "/w/{id}/opencode", Client, proxy::opencode_mounted),
        route("any", "/w/{id}/opencode/{*rest}", Client, proxy::opencode_mounted),
        route("any", "/opencode-router", Client, proxy::router),
        route("any", "/opencode-router/{*rest}", Client, proxy::router),
        route("any", "/w/{id}/opencode-router", Client, proxy::router),
        route("any", "/w/{id}/opencode-router/{*rest}", Client, proxy::router),
        route("get", "/ui", Open, ui::page).doc("The web page", None, html),
        route("get", "/w/{id}/ui", Open, ui::page),
        route("get", "/ui/assets/{name}", Open, ui::asset),
        route("get", "/metrics", Host, meta::metrics).doc("Prometheus metrics (OpenMetrics text)", None, openmetrics),
        route("get", "/openapi.json", Open, meta::openapi).doc("This document", None, any_json),
        route("get", "/approvals", Host, approvals::list).doc("Pending approvals", None, typed::<ApprovalList>),
        route("get", "/approvals/history", Host, approvals::history).doc("Decided approval requests, newest first", None, typed::<ApprovalHistory>),
        route("post", "/approvals/check", Host, approvals::check).doc("Which approval rule (or the mode) would decide a write; nothing is written", Some(typed::<ApprovalCheck>), typed::<ApprovalVerdict>),
        route("post", "/approvals/{id}", Host, approvals::reply).doc("Allow or deny a pending write", Some(typed::<ApprovalReply>), typed::<ApprovalReplied>),
        route("get", "/tokens", Host, tokens::list).doc("Scoped tokens", None, typed::<TokenList>),
        route("post", "/tokens", Host, tokens::create).doc("Issue a scoped token", Some(typed::<TokenCreate>), typed::<TokenCreated>),
        route("delete", "/tokens/{id}", Host, tokens::revoke).doc("Revoke a scoped token", None, typed::<OkBody>),
        route("post", "/tokens/grants", Host, tokens::open_grant).doc("Open a one-time pairing code", Some(typed::<GrantCreate>), typed::<GrantCreated>),
        route("get", "/tokens/grants", Host, tokens::list_grants).doc("Open pairing grants (never their codes)", None, typed::<GrantList>),
        route("delete", "/tokens/grants/{id}", Host, tokens::revoke_grant).doc("Revoke a pairing grant", None, typed::<OkBody>),
        route("post", "/pair", Open, tokens::pair).doc("Redeem a pairing code for a token (once)", Some(typed::<PairRequest>), typed::<Paired>),
    ]
}

/// Method, path and credentials of every route except the proxies, whose
/// policy depends on the method and path (for the auth matrix).
pub fn route_auth() -> Vec<(&'static str, &'static str, RouteAuth)> {
    routes()
        .into_iter()
        .filter(|r| r.method != "any")
        .map(|r| (r.method, r.path, r.auth))
        .collect()
}

fn wildcard(origins: &[String]) -> bool {
    origins.iter().any(|o| o == "*")
}

/// The daemon's service: the routes behind the front (`http::Front`).
/// Each route tags its answers with its template for the metrics.
pub fn router(state: AppState) -> crate::http::Front {
    let mut routes = Router::new();
    for r in self::routes() {
        let template = crate::metrics::Route(r.path);
        let tag = MapResponseLayer::new(move |mut resp: Response| {
            resp.extensions_mut().insert(template);
            resp
        });
        // `any` routes answer every method from their fallback, which only
        // `layer` reaches; the others leave methods they do not serve
        // untagged (the 404 of an unmatched request).
        let tagged = if r.method == "any" {
            r.handler.layer(tag)
        } else {
            r.handler.route_layer(tag)
        };
        // Routes that read a body accept up to JSON_BODY_LIMIT (those
        // with `unlimited_body` lift it again, inside); GET routes read
        // none and skip setting it.
        let limited = if r.method == "get" {
            tagged
        } else {
            tagged.layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        };
        routes = routes.route(r.path, limited);
    }
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state);
    crate::http::Front::new(state, routes)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}
