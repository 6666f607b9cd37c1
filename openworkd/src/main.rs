//! openworkd: parse flags, resolve the configuration, serve, shut down cleanly.

mod app;
mod approvals;
mod audit;
mod auth;
mod config;
mod error;
mod events;
mod http;
mod logging;
mod metrics;
mod openapi;
mod routes;
mod tokens;
mod upstream;
mod watch;
mod workspace;

use config::{Config, Environment, Flags, TokenSource};
use std::process::ExitCode;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let (flags, ignored) = Flags::parse_lenient(std::env::args().collect());
    for arg in ignored {
        eprintln!("openworkd: ignoring unknown argument {arg}");
    }
    let config = match load_config(&flags) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("openworkd: {e}");
            return ExitCode::from(2);
        }
    };
    if flags.version {
        println!("{}", config.reported_version);
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("openworkd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, flags.verbose)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openworkd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(flags: &Flags) -> Result<Config, config::ConfigError> {
    let dirs = directories::BaseDirs::new();
    let lookup = |name: &str| std::env::var(name).ok();
    let env = Environment {
        var: &lookup,
        home: dirs.as_ref().map(|d| d.home_dir().to_path_buf()),
        config_dir: dirs.as_ref().map(|d| d.config_dir().to_path_buf()),
        cwd: std::env::current_dir().unwrap_or_default(),
    };
    config::resolve(flags, &env, &mut |warning| {
        eprintln!("openworkd: {warning}")
    })
}

async fn serve(config: Config, verbose: bool) -> std::io::Result<()> {
    logging::init(
        config.log_format,
        config.run_id.clone(),
        config.reported_version.clone(),
    );
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {}:{}: {e}", config.host, config.port),
            )
        })?;
    let addr = listener.local_addr()?;
    print_boot(&config, addr.port(), verbose);
    let state = app::AppState::new(config);
    watch::start(&state);
    let service = app::router(state.clone());
    // Signals are taken over before readiness is announced.
    let signals = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::hangup())?,
    );
    // Under systemd (Type=notify) the unit is started once we accept.
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        logging::warn(&format!(
            "cannot tell the service manager we are ready: {e}"
        ));
    }
    axum::serve(listener, service.into_make_service())
        .with_graceful_shutdown(shutdown_signal(state, signals))
        .await
}

fn print_boot(config: &Config, port: u16, verbose: bool) {
    let host = if config.host.contains(':') {
        format!("[{}]", config.host)
    } else {
        config.host.clone()
    };
    logging::info(&format!(
        "OpenWork server listening on http://{host}:{port}"
    ));
    if config.client_token_source == TokenSource::Generated {
        logging::info(&format!("Client token: {}", config.client_token));
    }
    if config.host_token_source == TokenSource::Generated {
        logging::info(&format!("Host token: {}", config.host_token));
    }
    if config.workspaces.is_empty() {
        logging::info("No workspaces configured. Add --workspace or update server.json.");
    } else {
        logging::info(&format!("Workspaces: {}", config.workspaces.len()));
    }
    if verbose {
        let join = |items: Vec<String>| items.join(", ");
        let mode = match config.approval_mode {
            openwork_shared::models::ApprovalMode::Auto => "auto",
            openwork_shared::models::ApprovalMode::Manual => "manual",
        };
        logging::info(&format!("Config path: {}", config.config_path.display()));
        logging::info(&format!("Read-only: {}", config.read_only));
        logging::info(&format!(
            "Approval: {mode} ({}ms)",
            config.approval_timeout_ms
        ));
        logging::info(&format!(
            "CORS origins: {}",
            join(config.cors_origins.clone())
        ));
        let roots = config
            .authorized_roots
            .iter()
            .map(|r| r.display().to_string())
            .collect();
        logging::info(&format!("Authorized roots: {}", join(roots)));
        logging::info(&format!(
            "Token source: {}",
            config.client_token_source.as_str()
        ));
        logging::info(&format!(
            "Host token source: {}",
            config.host_token_source.as_str()
        ));
        logging::info(&format!(
            "Token store: {}",
            config.token_store_path.display()
        ));
        logging::info(&format!("Data dir: {}", config.data_dir.display()));
    }
}

/// Resolves on SIGINT or SIGTERM; pending approvals are denied so their
/// requests finish before the server stops. SIGHUP does not stop the
/// daemon (its default action would): the configuration is read once, so a
/// changed one needs a restart, which the log says.
async fn shutdown_signal(state: app::AppState, (mut term, mut hangup): (Signal, Signal)) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = term.recv();
    let hangup = async {
        while hangup.recv().await.is_some() {
            logging::warn(
                "SIGHUP received: the configuration is read at start only; restart openworkd to apply changes",
            );
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
        _ = hangup => {},
    }
    logging::info("Shutting down");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    state.approvals.deny_all();
}
