//! openworkd as a library: the router over a state, and a server that
//! takes a listener and a shutdown signal. `main.rs` adds the flags,
//! signals and socket activation; tests run the router in-process.

mod app;
mod approval_history;
mod approval_rules;
mod approvals;
mod audit;
mod auth;
mod auth_limit;
pub mod config;
mod error;
mod events;
mod grants;
mod http;
pub mod install;
mod journal;
mod listen;
pub mod logging;
mod metrics;
mod openapi;
mod pipeline;
mod proxy_path;
mod read_budget;
mod request_stats;
mod routes;
pub mod sched;
pub mod tls;
mod tokens;
mod upstream;
mod watch;
mod webhooks;
pub mod workspace;

pub use app::route_auth;
pub use app::{AppState, router};
pub use http::Front;
pub use openapi::RouteAuth;

use config::Config;
use std::future::Future;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A daemon ready to serve: its state and the watcher of its workspaces.
pub struct Server {
    state: AppState,
    watcher: Option<std::thread::Thread>,
}

impl Server {
    /// Sweep what interrupted writes left, build the state and start
    /// watching the workspaces (unless `OPENWORK_WATCH=0`). `tls` is what
    /// `Tls::load(&config)` gave: served on every connection when present.
    pub fn new(config: Config, tls: Option<tls::Tls>) -> Server {
        Server::announced(config, tls, |_| {})
    }

    /// `new`, calling `announce` once the state is built (the logs written
    /// back from the journal: what is served from now on is whole) and
    /// before the watcher starts.
    pub fn announced(
        config: Config,
        tls: Option<tls::Tls>,
        announce: impl FnOnce(&AppState),
    ) -> Server {
        sweep_leftovers(&config);
        let state = AppState::with_tls(config, tls);
        announce(&state);
        let watcher = watch::start(&state);
        tokio::spawn(webhooks::dispatch(state));
        Server { state, watcher }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Apply a freshly resolved configuration (SIGHUP).
    pub fn reload(&self, config: &Config) {
        self.state.reload(config);
        if let Some(tls) = &self.state.tls {
            match tls.reload(config) {
                Ok(fingerprint) => logging::info(&format!(
                    "SIGHUP: TLS certificate read again; new connections get SHA-256 {fingerprint}"
                )),
                Err(e) => logging::error(&format!(
                    "SIGHUP: TLS certificate not reloaded, keeping the running one: {e}"
                )),
            }
        }
        if let Some(watcher) = &self.watcher {
            watcher.unpark();
        }
    }

    /// Serve on `listener` until `shutdown` resolves; then pending approvals
    /// are denied and open requests finish.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state;
        let stopping = async move {
            shutdown.await;
            state.approvals.deny_all().await;
            // Event streams end (their clients reconnect elsewhere or later).
            state.stopping.cancel();
        };
        let connections = router(self.state).connections();
        let served = listen::serve(listener, connections, self.state.tls_config(), stopping).await;
        let journal = self.state.journal.clone();
        let _ = tokio::task::spawn_blocking(move || journal.close_out()).await;
        served
    }
}

/// Serve `config` on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = tls::Tls::load(&config).map_err(std::io::Error::other)?;
    Server::new(config, tls).serve(listener, shutdown).await
}

/// Remove, in the background, what writes interrupted by a crash left:
/// temporary files in the workspaces, the data folder and beside the token
/// store.
fn sweep_leftovers(config: &Config) {
    let mut places: Vec<(std::path::PathBuf, usize)> = config
        .workspaces
        .iter()
        .map(|ws| (ws.path.clone(), usize::MAX))
        .collect();
    places.push((config.data_dir.clone(), usize::MAX));
    if let Some(dir) = config.token_store_path.parent() {
        places.push((dir.to_path_buf(), 1));
    }
    let started = std::time::SystemTime::now();
    std::thread::spawn(move || {
        for (root, depth) in places {
            let removed = workspace::paths::remove_leftovers(&root, depth, started);
            if removed > 0 {
                logging::info(&format!(
                    "Removed {removed} temporary file(s) left by interrupted writes under {}",
                    root.display()
                ));
            }
        }
    });
}
