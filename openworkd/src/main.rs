//! openworkd: parse flags, resolve the configuration, take the listening
//! socket (bound, or passed by the service manager), handle signals, and
//! serve through the library (`openworkd::Server`).

use openworkd::config::{self, Config, Environment, Flags, TokenSource};
use openworkd::tls::Tls;
use openworkd::{Server, install, logging, sched, workspace};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{Signal, SignalKind, signal};

fn main() -> ExitCode {
    let (flags, ignored) = Flags::parse_lenient(std::env::args().collect());
    for arg in ignored {
        eprintln!("openworkd: ignoring unknown argument {arg}");
    }
    if let Some(code) = installer_request(&flags) {
        return code;
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
    if let Err(e) = sched::apply(config.cpu_scheduling) {
        eprintln!("openworkd: keeping the CPU scheduling policy: {e}");
    }
    let tls = match Tls::load(&config) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("openworkd: {e}");
            return ExitCode::from(2);
        }
    };
    raise_open_files_limit();
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
    let served = runtime.block_on(serve(config, tls, flags));
    // Requests are over and the journal closed out by now; a blocking
    // task still running (say, reading a trust store that never answers)
    // must not keep the process from ending.
    runtime.shutdown_timeout(std::time::Duration::from_secs(3));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openworkd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Allow as many open files as the hard limit does: each connection holds
/// one, and the usual soft limit (1,024) is reached by a few hundred
/// clients keeping event streams and idle connections open.
fn raise_open_files_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let raised = Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            eprintln!("openworkd: cannot raise the open files limit to {maximum}: {e}");
        }
    }
}

/// Answer what an installer asked for (man page, completions, launchd
/// agent) and exit, without reading any configuration.
fn installer_request(flags: &Flags) -> Option<ExitCode> {
    if let Some(dir) = &flags.generate_man {
        return Some(match install::write_man_page(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "openworkd: cannot write the man page into {}: {e}",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        });
    }
    if let Some(shell) = flags.generate_completions {
        install::print_completions(shell);
        return Some(ExitCode::SUCCESS);
    }
    if flags.print_launchd_plist {
        let exe = std::env::current_exe().ok()?;
        let home = directories::BaseDirs::new()?.home_dir().to_path_buf();
        let cwd = std::env::current_dir().unwrap_or_default();
        let workspaces: Vec<String> = if flags.workspace.is_empty() {
            vec![cwd.display().to_string()]
        } else {
            flags
                .workspace
                .iter()
                .map(|w| {
                    workspace::normalize_path(&cwd, std::path::Path::new(w))
                        .display()
                        .to_string()
                })
                .collect()
        };
        print!("{}", install::launchd_plist(&exe, &home, &workspaces));
        return Some(ExitCode::SUCCESS);
    }
    None
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

async fn serve(config: Config, tls: Option<Tls>, flags: Flags) -> std::io::Result<()> {
    let _flush = logging::init(
        config.log_format,
        config.run_id.clone(),
        config.reported_version.clone(),
    );
    // Signals are taken over before the boot lines say we are up, so a
    // SIGHUP or SIGTERM sent as soon as they appear is handled, never fatal.
    let terminate = signal(SignalKind::terminate())?;
    let hangup = signal(SignalKind::hangup())?;
    let (listener, passed) = listen(&config).await?;
    let addr = listener.local_addr()?;
    // The configured host, as the boot line always showed it, unless the
    // socket came from the service manager.
    let host = if passed {
        addr.ip().to_string()
    } else {
        config.host.clone()
    };
    if tls.is_none() && !addr.ip().is_loopback() {
        logging::warn(&format!(
            "Serving plain HTTP on {}, which is not a loopback address: tokens and files cross the network unencrypted. \
             Use --tls-cert/--tls-key or --tls-self-signed.",
            addr.ip()
        ));
    }
    let port = addr.port();
    let server = Arc::new(Server::announced(config, tls, |state| {
        print_boot(
            &state.config,
            &host,
            port,
            state.tls.as_ref(),
            flags.verbose,
        );
    }));
    tokio::spawn(reload_on_hangup(server.clone(), flags, hangup));
    // Under systemd (Type=notify) the unit is started once we accept.
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        logging::warn(&format!(
            "cannot tell the service manager we are ready: {e}"
        ));
    }
    server.serve(listener, shutdown_signal(terminate)).await
}

/// The socket passed by the service manager (systemd socket activation:
/// `LISTEN_FDS`/`LISTEN_PID`; true), else one bound to the configured
/// address (false).
async fn listen(config: &Config) -> std::io::Result<(tokio::net::TcpListener, bool)> {
    let mut passed = listenfd::ListenFd::from_env();
    if passed.len() > 0 {
        let socket = passed.take_tcp_listener(0)?.ok_or_else(|| {
            std::io::Error::other("the socket passed by the service manager is not a TCP socket")
        })?;
        socket.set_nonblocking(true)?;
        logging::info(
            "Using the socket passed by the service manager; --host and --port are not used",
        );
        return Ok((tokio::net::TcpListener::from_std(socket)?, true));
    }
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {}:{}: {e}", config.host, config.port),
            )
        })?;
    Ok((listener, false))
}

fn print_boot(config: &Config, host: &str, port: u16, tls: Option<&Tls>, verbose: bool) {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    logging::info(&format!(
        "OpenWork server listening on {scheme}://{host}:{port}"
    ));
    if let Some(tls) = tls {
        logging::info(&format!(
            "TLS certificate fingerprint (SHA-256): {}",
            tls.fingerprint()
        ));
    }
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
        let mode = config.approval_mode.as_str();
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
        logging::info(&format!(
            "CPU scheduling: {}",
            config.cpu_scheduling.as_str()
        ));
    }
}

/// On each SIGHUP, resolve the configuration again (the same flags, the
/// environment, `server.json`) and apply the settings that can change while
/// running; open connections are not touched. A configuration that no
/// longer resolves is reported and the running one kept. The files are
/// read on a blocking thread, never on the workers that serve requests.
async fn reload_on_hangup(server: Arc<Server>, flags: Flags, mut hangup: Signal) {
    let flags = Arc::new(flags);
    while hangup.recv().await.is_some() {
        let (server, flags) = (server.clone(), flags.clone());
        let _ = tokio::task::spawn_blocking(move || reload(&server, &flags)).await;
    }
}

fn reload(server: &Server, flags: &Flags) {
    let config = match load_config(flags) {
        Ok(config) => config,
        Err(e) => {
            logging::error(&format!(
                "SIGHUP: configuration not reloaded, keeping the running one: {e}"
            ));
            return;
        }
    };
    server.reload(&config);
    logging::info(&format!(
        "SIGHUP: configuration reloaded: {} workspace(s), approval {} ({} ms), CORS origins: {}. \
         Listen address, tokens, read-only mode, data directory, proxy settings and CPU scheduling apply at the next start.",
        config.workspaces.len(),
        config.approval_mode.as_str(),
        config.approval_timeout_ms,
        config.cors_origins.join(", ")
    ));
}

/// Resolves on SIGINT or SIGTERM (the server then denies pending approvals
/// so their requests finish before it stops).
async fn shutdown_signal(mut term: Signal) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    logging::info("Shutting down");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}
