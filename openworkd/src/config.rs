//! Configuration: command-line flags > environment > config file > defaults,
//! resolved in one function (`resolve`) so the precedence is testable.

use crate::workspace::{WorkspaceEntry, normalize_path};
use clap::{CommandFactory, Parser};
use openwork_shared::models::{ApprovalMode, WorkspaceType};
use serde::Deserialize;
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = "\
Environment (a flag wins over its variable; empty variables count as unset):
  OPENWORK_SERVER_CONFIG        config file (default: <config dir>/openwork/server.json)
  OPENWORK_HOST, OPENWORK_PORT  bind address (default 127.0.0.1:8787)
  OPENWORK_TOKEN                client bearer token (collaborator scope)
  OPENWORK_HOST_TOKEN           host token (X-OpenWork-Host-Token header)
  OPENWORK_APPROVAL_MODE        manual | auto
  OPENWORK_APPROVAL_TIMEOUT_MS  how long a write waits for the host (default 30000)
  OPENWORK_WORKSPACES           JSON array, or a ,/; separated list of paths
  OPENWORK_CORS_ORIGINS         JSON array, ,/; separated list, or *
  OPENWORK_READONLY             true | 1 | yes refuses every write
  OPENWORK_OPENCODE_BASE_URL, OPENWORK_OPENCODE_DIRECTORY,
  OPENWORK_OPENCODE_USERNAME, OPENWORK_OPENCODE_PASSWORD
                                the OpenCode engine behind the workspaces
  OPENWORK_TOKEN_STORE          scoped-token store (default: tokens.json beside the config)
  OPENWORK_DATA_DIR             audit logs (default ~/.openwork/openwork-server)
  OPENWORK_INBOX_ENABLED, OPENWORK_INBOX_MAX_BYTES, OPENWORK_OUTBOX_ENABLED
  OPENWORK_SANDBOX_ENABLED, OPENWORK_SANDBOX_BACKEND, OPENWORK_BROWSER_PROVIDER
  OPENWORK_WATCH                0 turns off watching workspaces for edits on disk
  OPENWORK_EVENTS_KEEPALIVE_MS  keep-alive interval of event streams (default 15000)
  OPENWORK_METRICS_PUBLIC       1 serves /metrics without the host token
  OPENWORK_AUTH_LIMIT_LOOPBACK  1 limits failed authentications from loopback addresses too
  OPENWORK_TLS_CERT, OPENWORK_TLS_KEY
                                serve HTTPS with this PEM certificate chain and key
  OPENWORK_TLS_SELF_SIGNED      1 serves HTTPS with a certificate made and kept in the data dir
  OPENWORK_TOY_UI, OPENCODE_ROUTER_HEALTH_PORT, OPENWORK_LOG_FORMAT,
  OPENWORK_LOG_REQUESTS, OPENWORK_RUN_ID
  OPENWORK_CPU_SCHEDULING       batch (default) or normal: how the daemon's threads are scheduled
  OPENWORKD_REPORT_VERSION      version string reported by /health and --version

Unknown arguments are ignored (with a warning) so launchers that pass newer
flags keep working.";

/// Command-line flags. Every value is optional so the environment and the
/// config file can fill what is missing.
#[derive(Debug, Default, Parser)]
#[command(
    name = "openworkd",
    about = "Serve an OpenCode workspace to OpenWork clients over HTTP.",
    long_about = concat!(
        "openworkd ", env!("CARGO_PKG_VERSION"),
        ": a filesystem-backed control plane for OpenWork clients, wire-compatible with openwork-server ",
        "(see --version). Every write waits for the host's approval unless --approval auto."
    ),
    after_help = AFTER_HELP,
    disable_version_flag = true
)]
pub struct Flags {
    /// Print the server version and exit.
    #[arg(long)]
    pub version: bool,
    /// Print the resolved configuration (secrets masked) after startup.
    #[arg(long)]
    pub verbose: bool,
    /// Config file (JSON).
    #[arg(long, value_name = "PATH")]
    pub config: Option<String>,
    /// Address to bind.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Port to bind (0 picks a free one; the real port is printed).
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Client bearer token (generated and printed when not given).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Host token for approvals and token management (generated when not given).
    #[arg(long = "host-token", value_name = "TOKEN")]
    pub host_token: Option<String>,
    /// Approval mode: manual (default) or auto.
    #[arg(long, value_name = "MODE")]
    pub approval: Option<String>,
    /// Milliseconds a write waits for approval before it is denied.
    #[arg(long = "approval-timeout", value_name = "MS")]
    pub approval_timeout: Option<String>,
    /// OpenCode engine URL for the workspaces.
    #[arg(long = "opencode-base-url", value_name = "URL")]
    pub opencode_base_url: Option<String>,
    /// OpenCode directory (used when there is exactly one workspace).
    #[arg(long = "opencode-directory", value_name = "PATH")]
    pub opencode_directory: Option<String>,
    /// OpenCode basic-auth user.
    #[arg(long = "opencode-username", value_name = "USER")]
    pub opencode_username: Option<String>,
    /// OpenCode basic-auth password.
    #[arg(long = "opencode-password", value_name = "PASSWORD")]
    pub opencode_password: Option<String>,
    /// Workspace root; repeat for several. Relative paths are taken from the current directory.
    #[arg(long, value_name = "PATH")]
    pub workspace: Vec<String>,
    /// Allowed CORS origins: a JSON array, a ,/; separated list, or *. Repeatable.
    #[arg(long, value_name = "ORIGINS")]
    pub cors: Vec<String>,
    /// Refuse every write.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Log format: pretty (default) or json.
    #[arg(long = "log-format", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log one line per request (the default).
    #[arg(long = "log-requests")]
    pub log_requests: bool,
    /// Do not log one line per request.
    #[arg(long = "no-log-requests")]
    pub no_log_requests: bool,
    /// How the daemon's threads are scheduled on Linux: batch (default;
    /// fewer preemptions between its own threads, so concurrent writes
    /// cost less CPU) or normal. A policy other than these two that the
    /// daemon was started under (chrt, the service manager) is kept.
    #[arg(long = "cpu-scheduling", value_name = "POLICY")]
    pub cpu_scheduling: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    /// Read again on SIGHUP.
    #[arg(long = "tls-cert", value_name = "PATH")]
    pub tls_cert: Option<String>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long = "tls-key", value_name = "PATH")]
    pub tls_key: Option<String>,
    /// Serve HTTPS with a certificate made for the names served, kept in the
    /// data dir and reused; its SHA-256 fingerprint is printed at start.
    #[arg(long = "tls-self-signed")]
    pub tls_self_signed: bool,
    /// Print a launchd agent (macOS) that runs this binary for the current
    /// user on the given --workspace (default: the current directory), and exit.
    #[arg(long = "print-launchd-plist")]
    pub print_launchd_plist: bool,
    /// Write the man page openworkd.8 into DIR and exit (for packagers).
    #[arg(long = "generate-man", value_name = "DIR", hide = true)]
    pub generate_man: Option<PathBuf>,
    /// Print shell completions for SHELL and exit (for packagers).
    #[arg(long = "generate-completions", value_name = "SHELL", hide = true)]
    pub generate_completions: Option<clap_complete::Shell>,
}

impl Flags {
    /// Parse like the reference: unknown arguments are dropped (and
    /// reported), and a flag that takes a value consumes the next argument
    /// whatever it looks like.
    pub fn parse_lenient(args: Vec<String>) -> (Flags, Vec<String>) {
        let cmd = Flags::command();
        let mut kept = vec![args.first().cloned().unwrap_or_else(|| "openworkd".into())];
        let mut ignored = Vec::new();
        let mut iter = args.into_iter().skip(1);
        while let Some(arg) = iter.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let known = cmd.get_arguments().find(|a| {
                a.get_long().is_some_and(|l| name == format!("--{l}"))
                    || a.get_short().is_some_and(|s| name == format!("-{s}"))
            });
            let is_help = name == "--help" || name == "-h";
            match known {
                _ if is_help => kept.push(arg),
                Some(a) if a.get_action().takes_values() => {
                    let value = inline.or_else(|| iter.next());
                    match value {
                        Some(v) => kept.push(format!("{name}={v}")),
                        None => ignored.push(arg),
                    }
                }
                Some(_) if inline.is_none() => kept.push(arg),
                _ => ignored.push(arg),
            }
        }
        match Flags::try_parse_from(kept) {
            Ok(flags) => (flags, ignored),
            Err(e) => e.exit(),
        }
    }
}

/// The config file, as far as openworkd understands it (unknown fields are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub token: Option<String>,
    pub host_token: Option<String>,
    pub approval: Option<FileApproval>,
    pub workspaces: Option<Vec<FileWorkspace>>,
    pub cors_origins: Option<Vec<String>>,
    pub authorized_roots: Option<Vec<String>>,
    pub read_only: Option<bool>,
    pub opencode_username: Option<String>,
    pub opencode_password: Option<String>,
    pub log_format: Option<String>,
    pub log_requests: Option<bool>,
    pub cpu_scheduling: Option<String>,
    pub auth: Option<FileAuth>,
    pub tls: Option<FileTls>,
}

/// `tls` in the config file; relative paths are taken from its folder.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileTls {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub self_signed: Option<bool>,
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

impl TlsSource {
    pub fn is_files(&self) -> bool {
        matches!(self, TlsSource::Files { .. })
    }
}

/// `auth` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileAuth {
    /// Limit failed authentications from loopback addresses too.
    pub limit_loopback: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileApproval {
    pub mode: Option<ApprovalMode>,
    pub timeout_ms: Option<u64>,
    pub webhooks: Option<Vec<crate::webhooks::Webhook>>,
    pub rules: Option<crate::approval_rules::Rules>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileWorkspace {
    pub path: String,
    pub name: Option<String>,
    pub workspace_type: Option<WorkspaceType>,
    pub base_url: Option<String>,
    pub directory: Option<String>,
    pub opencode_username: Option<String>,
    pub opencode_password: Option<String>,
}

impl FileWorkspace {
    /// The workspace this entry describes; a relative path is taken from
    /// the config file's folder.
    fn entry(&self, config_dir: &Path) -> WorkspaceEntry {
        let path = normalize_path(config_dir, Path::new(&self.path));
        let mut ws = WorkspaceEntry::new(
            path,
            self.name.clone(),
            self.workspace_type.unwrap_or(WorkspaceType::Local),
        );
        ws.base_url = self.base_url.clone();
        ws.directory = self.directory.clone();
        ws.opencode_username = self.opencode_username.clone();
        ws.opencode_password = self.opencode_password.clone();
        ws
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("config file {path} is not valid: {reason}")]
    Malformed { path: String, reason: String },
    #[error("cannot find a home directory; set HOME or pass --config")]
    NoHome,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// How the daemon's threads are scheduled (see [`crate::sched`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuScheduling {
    Batch,
    Normal,
}

impl CpuScheduling {
    pub fn as_str(self) -> &'static str {
        match self {
            CpuScheduling::Batch => "batch",
            CpuScheduling::Normal => "normal",
        }
    }
}

/// Where a token came from (reported by `/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Cli,
    Env,
    File,
    Generated,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Cli => "cli",
            TokenSource::Env => "env",
            TokenSource::File => "file",
            TokenSource::Generated => "generated",
        }
    }
}

/// The fully resolved configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub client_token: String,
    pub client_token_source: TokenSource,
    pub host_token: String,
    pub host_token_source: TokenSource,
    pub approval_mode: ApprovalMode,
    pub approval_timeout_ms: u64,
    /// Where approval events are POSTed (`approval.webhooks`).
    pub approval_webhooks: Vec<crate::webhooks::Webhook>,
    /// `approval.rules`, checked when the file was read.
    pub approval_rules: crate::approval_rules::Rules,
    pub workspaces: Vec<WorkspaceEntry>,
    pub authorized_roots: Vec<PathBuf>,
    pub cors_origins: Vec<String>,
    pub read_only: bool,
    pub config_path: PathBuf,
    pub token_store_path: PathBuf,
    pub data_dir: PathBuf,
    pub home_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_requests: bool,
    pub cpu_scheduling: CpuScheduling,
    pub run_id: String,
    pub reported_version: String,
    pub inbox_enabled: bool,
    pub inbox_max_bytes: u64,
    pub outbox_enabled: bool,
    pub toy_ui: bool,
    pub watch: bool,
    pub events_keepalive_ms: u64,
    pub metrics_public: bool,
    /// Failed authentications from loopback addresses count too.
    pub auth_limit_loopback: bool,
    pub opencode_router_port: Option<u16>,
    pub sandbox_enabled: bool,
    pub sandbox_backend: String,
    pub browser_provider: Option<String>,
    /// Serve HTTPS (none: plain HTTP).
    pub tls: Option<TlsSource>,
}

pub const DEFAULT_PORT: u16 = 8787;
pub const DEFAULT_APPROVAL_TIMEOUT_MS: u64 = 30_000;
const INBOX_DEFAULT_BYTES: u64 = 50_000_000;
const INBOX_CAP_BYTES: u64 = 250_000_000;

/// What `resolve` reads from the process: a variable lookup, the home and
/// current directories. A struct so tests can give their own.
pub struct Environment<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
    pub config_dir: Option<PathBuf>,
    pub cwd: PathBuf,
}

impl Environment<'_> {
    /// A variable, with empty values treated as unset.
    fn get(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.trim().is_empty())
    }
}

/// The first of a flag, an environment variable and a config-file value
/// that is set (the later ones are only looked at when needed, so a value
/// that is not used is never parsed or warned about).
fn layered<T>(
    flag: Option<T>,
    env: impl FnOnce() -> Option<T>,
    file: impl FnOnce() -> Option<T>,
) -> Option<T> {
    flag.or_else(env).or_else(file)
}

/// What every resolver reads: the flags, the environment, the config file
/// (and its folder), and where to report values that were ignored.
struct Sources<'a> {
    flags: &'a Flags,
    env: &'a Environment<'a>,
    file: &'a FileConfig,
    config_dir: &'a Path,
    warn: &'a mut dyn FnMut(String),
}

/// Resolve flags > environment > config file > defaults. `warn` receives
/// each value that was ignored because it could not be parsed.
pub fn resolve(
    flags: &Flags,
    env: &Environment,
    warn: &mut dyn FnMut(String),
) -> Result<Config, ConfigError> {
    let home = env.home.clone().ok_or(ConfigError::NoHome)?;
    let config_path = match layered(
        flags.config.clone(),
        || env.get("OPENWORK_SERVER_CONFIG"),
        || None,
    ) {
        Some(p) => normalize_path(&env.cwd, Path::new(&p)),
        None => default_config_path(&home, env.config_dir.as_deref()),
    };
    let file = load_file(&config_path)?;
    let config_dir = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| env.cwd.clone());
    let mut src = Sources {
        flags,
        env,
        file: &file,
        config_dir: &config_dir,
        warn,
    };
    let (host, port) = listen_address(&mut src);
    let ((client_token, client_token_source), (host_token, host_token_source)) = tokens(&src);
    let (approval_mode, approval_timeout_ms) = approval(&mut src);
    let workspaces = workspaces(&src);
    let authorized_roots = authorized_roots(&src, &workspaces);
    let (log_format, log_requests) = logging(&src);
    let (token_store_path, data_dir) = storage(env, &home, &config_dir);
    let features = Features::from_env(env);
    let tls = tls(&src)?;
    let cpu_scheduling = cpu_scheduling(&src)?;
    Ok(Config {
        tls,
        host,
        port,
        client_token,
        client_token_source,
        host_token,
        host_token_source,
        approval_mode,
        approval_timeout_ms,
        approval_webhooks: file
            .approval
            .as_ref()
            .and_then(|a| a.webhooks.clone())
            .unwrap_or_default(),
        approval_rules: file
            .approval
            .as_ref()
            .and_then(|a| a.rules.clone())
            .unwrap_or_default(),
        workspaces,
        authorized_roots,
        cors_origins: cors_origins(&src),
        read_only: read_only(&src),
        config_path,
        token_store_path,
        data_dir,
        home_dir: home,
        log_format,
        log_requests,
        cpu_scheduling,
        run_id: env
            .get("OPENWORK_RUN_ID")
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        reported_version: env
            .get("OPENWORKD_REPORT_VERSION")
            .unwrap_or_else(|| openwork_shared::COMPAT_VERSION.to_owned()),
        inbox_enabled: features.inbox_enabled,
        inbox_max_bytes: features.inbox_max_bytes,
        outbox_enabled: features.outbox_enabled,
        toy_ui: features.toy_ui,
        watch: features.watch,
        metrics_public: features.metrics_public,
        auth_limit_loopback: layered(
            None,
            || {
                env.get("OPENWORK_AUTH_LIMIT_LOOPBACK")
                    .and_then(|v| parse_bool(&v))
            },
            || file.auth.as_ref().and_then(|a| a.limit_loopback),
        )
        .unwrap_or(false),
        events_keepalive_ms: features.events_keepalive_ms,
        opencode_router_port: features.opencode_router_port,
        sandbox_enabled: features.sandbox_enabled,
        sandbox_backend: features.sandbox_backend,
        browser_provider: features.browser_provider,
    })
}

fn listen_address(src: &mut Sources) -> (String, u16) {
    let host = layered(
        src.flags.host.clone(),
        || src.env.get("OPENWORK_HOST"),
        || src.file.host.clone(),
    )
    .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = layered(
        parse_num::<u16>(src.flags.port.as_deref(), "--port", src.warn),
        || {
            parse_num(
                src.env.get("OPENWORK_PORT").as_deref(),
                "OPENWORK_PORT",
                src.warn,
            )
        },
        || src.file.port,
    )
    .unwrap_or(DEFAULT_PORT);
    (host, port)
}

/// The client and host tokens, each with where it came from.
fn tokens(src: &Sources) -> ((String, TokenSource), (String, TokenSource)) {
    let client = pick_token(
        src.flags.token.clone(),
        src.env.get("OPENWORK_TOKEN"),
        src.file.token.clone(),
    );
    let host = pick_token(
        src.flags.host_token.clone(),
        src.env.get("OPENWORK_HOST_TOKEN"),
        src.file.host_token.clone(),
    );
    (client, host)
}

fn approval(src: &mut Sources) -> (ApprovalMode, u64) {
    let file = src.file.approval.as_ref();
    let flag = match src.flags.approval.as_deref() {
        Some("auto") => Some(ApprovalMode::Auto),
        Some("manual") => Some(ApprovalMode::Manual),
        Some(other) => {
            (src.warn)(format!(
                "ignoring --approval {other}: expected manual or auto"
            ));
            None
        }
        None => None,
    };
    let mode = layered(
        flag,
        || {
            src.env
                .get("OPENWORK_APPROVAL_MODE")
                .map(|m| match m.trim() {
                    "auto" => ApprovalMode::Auto,
                    _ => ApprovalMode::Manual,
                })
        },
        || file.and_then(|a| a.mode),
    )
    .unwrap_or(ApprovalMode::Manual);
    let timeout_ms = layered(
        parse_num::<u64>(
            src.flags.approval_timeout.as_deref(),
            "--approval-timeout",
            src.warn,
        ),
        || {
            let v = src.env.get("OPENWORK_APPROVAL_TIMEOUT_MS");
            parse_num(v.as_deref(), "OPENWORK_APPROVAL_TIMEOUT_MS", src.warn)
        },
        || file.and_then(|a| a.timeout_ms),
    )
    .unwrap_or(DEFAULT_APPROVAL_TIMEOUT_MS);
    (mode, timeout_ms)
}

/// The workspaces from one source only (flags, else the environment, else
/// the file; never merged), with the engine settings they do not set.
fn workspaces(src: &Sources) -> Vec<WorkspaceEntry> {
    let cwd = &src.env.cwd;
    let env_workspaces = src
        .env
        .get("OPENWORK_WORKSPACES")
        .map(|v| parse_list(&v))
        .unwrap_or_default();
    let mut workspaces: Vec<WorkspaceEntry> = if !src.flags.workspace.is_empty() {
        src.flags
            .workspace
            .iter()
            .map(|p| WorkspaceEntry::at(cwd, p))
            .collect()
    } else if !env_workspaces.is_empty() {
        env_workspaces
            .iter()
            .map(|p| WorkspaceEntry::at(cwd, p))
            .collect()
    } else {
        let entries = src.file.workspaces.clone().unwrap_or_default();
        entries.iter().map(|w| w.entry(src.config_dir)).collect()
    };
    let flags = src.flags;
    let env = src.env;
    let base_url = layered(
        flags.opencode_base_url.clone(),
        || env.get("OPENWORK_OPENCODE_BASE_URL"),
        || None,
    );
    let directory = layered(
        flags.opencode_directory.clone(),
        || env.get("OPENWORK_OPENCODE_DIRECTORY"),
        || None,
    );
    let username = layered(
        flags.opencode_username.clone(),
        || env.get("OPENWORK_OPENCODE_USERNAME"),
        || src.file.opencode_username.clone(),
    );
    let password = layered(
        flags.opencode_password.clone(),
        || env.get("OPENWORK_OPENCODE_PASSWORD"),
        || src.file.opencode_password.clone(),
    );
    let single = workspaces.len() == 1;
    for ws in &mut workspaces {
        if ws.base_url.is_none() {
            ws.base_url.clone_from(&base_url);
        }
        if ws.directory.is_none() && single {
            ws.directory.clone_from(&directory);
        }
        if ws.opencode_username.is_none() {
            ws.opencode_username.clone_from(&username);
        }
        if ws.opencode_password.is_none() {
            ws.opencode_password.clone_from(&password);
        }
    }
    workspaces
}

/// The file's `authorizedRoots`, else the workspaces themselves.
fn authorized_roots(src: &Sources, workspaces: &[WorkspaceEntry]) -> Vec<PathBuf> {
    match src.file.authorized_roots.as_ref().filter(|r| !r.is_empty()) {
        Some(roots) => roots
            .iter()
            .map(|r| normalize_path(src.config_dir, Path::new(r)))
            .collect(),
        None => workspaces.iter().map(|w| w.path.clone()).collect(),
    }
}

/// Allowed origins; none configured means any (`*`).
fn cors_origins(src: &Sources) -> Vec<String> {
    let flags = (!src.flags.cors.is_empty())
        .then(|| src.flags.cors.iter().flat_map(|c| parse_list(c)).collect());
    let origins: Vec<String> = layered(
        flags,
        || src.env.get("OPENWORK_CORS_ORIGINS").map(|v| parse_list(&v)),
        || src.file.cors_origins.clone(),
    )
    .unwrap_or_default();
    if origins.is_empty() {
        vec!["*".to_owned()]
    } else {
        origins
    }
}

/// `--tls-cert`/`--tls-key` (or their variables, or `tls.cert`/`tls.key`)
/// name the files; a certificate without its key is an error. Else
/// `--tls-self-signed` (or its variable, or `tls.selfSigned`).
fn tls(src: &Sources) -> Result<Option<TlsSource>, ConfigError> {
    let file = src.file.tls.as_ref();
    let from_file =
        |value: Option<&String>| value.map(|p| normalize_path(src.config_dir, Path::new(p)));
    let cwd_path = |p: String| normalize_path(&src.env.cwd, Path::new(&p));
    let cert = layered(
        src.flags.tls_cert.clone().map(cwd_path),
        || src.env.get("OPENWORK_TLS_CERT").map(cwd_path),
        || from_file(file.and_then(|t| t.cert.as_ref())),
    );
    let key = layered(
        src.flags.tls_key.clone().map(cwd_path),
        || src.env.get("OPENWORK_TLS_KEY").map(cwd_path),
        || from_file(file.and_then(|t| t.key.as_ref())),
    );
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsSource::Files { cert, key })),
        (Some(_), None) => Err(ConfigError::Invalid(
            "a TLS certificate needs its key: add --tls-key (OPENWORK_TLS_KEY, tls.key)".into(),
        )),
        (None, Some(_)) => Err(ConfigError::Invalid(
            "a TLS key needs its certificate: add --tls-cert (OPENWORK_TLS_CERT, tls.cert)".into(),
        )),
        (None, None) => {
            let self_signed = src.flags.tls_self_signed
                || src
                    .env
                    .get("OPENWORK_TLS_SELF_SIGNED")
                    .and_then(|v| parse_bool(&v))
                    .or_else(|| file.and_then(|t| t.self_signed))
                    .unwrap_or(false);
            Ok(self_signed.then_some(TlsSource::SelfSigned))
        }
    }
}

fn read_only(src: &Sources) -> bool {
    src.flags.read_only
        || match src.env.get("OPENWORK_READONLY") {
            Some(v) => matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
            None => src.file.read_only.unwrap_or(false),
        }
}

fn logging(src: &Sources) -> (LogFormat, bool) {
    let format = layered(
        src.flags.log_format.as_deref().and_then(parse_log_format),
        || {
            src.env
                .get("OPENWORK_LOG_FORMAT")
                .as_deref()
                .and_then(parse_log_format)
        },
        || src.file.log_format.as_deref().and_then(parse_log_format),
    )
    .unwrap_or(LogFormat::Pretty);
    let flag = if src.flags.no_log_requests {
        Some(false)
    } else {
        src.flags.log_requests.then_some(true)
    };
    let requests = layered(
        flag,
        || {
            src.env
                .get("OPENWORK_LOG_REQUESTS")
                .and_then(|v| parse_bool(&v))
        },
        || src.file.log_requests,
    )
    .unwrap_or(true);
    (format, requests)
}

fn cpu_scheduling(src: &Sources) -> Result<CpuScheduling, ConfigError> {
    let given = layered(
        src.flags
            .cpu_scheduling
            .clone()
            .map(|v| ("--cpu-scheduling", v)),
        || {
            src.env
                .get("OPENWORK_CPU_SCHEDULING")
                .map(|v| ("OPENWORK_CPU_SCHEDULING", v))
        },
        || {
            src.file
                .cpu_scheduling
                .clone()
                .map(|v| ("cpuScheduling", v))
        },
    );
    let Some((from, value)) = given else {
        return Ok(CpuScheduling::Batch);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "batch" => Ok(CpuScheduling::Batch),
        "normal" => Ok(CpuScheduling::Normal),
        _ => Err(ConfigError::Invalid(format!(
            "{from}: {value:?} is not a CPU scheduling policy (batch or normal)"
        ))),
    }
}

/// The token store and the data folder.
fn storage(env: &Environment, home: &Path, config_dir: &Path) -> (PathBuf, PathBuf) {
    let token_store = match env.get("OPENWORK_TOKEN_STORE") {
        Some(p) => normalize_path(&env.cwd, Path::new(&p)),
        None => config_dir.join("tokens.json"),
    };
    let data_dir = match env.get("OPENWORK_DATA_DIR") {
        Some(p) => match p.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => normalize_path(&env.cwd, Path::new(&p)),
        },
        None => home.join(".openwork").join("openwork-server"),
    };
    (token_store, data_dir)
}

/// Switches and limits set by the environment only.
struct Features {
    inbox_enabled: bool,
    inbox_max_bytes: u64,
    outbox_enabled: bool,
    toy_ui: bool,
    watch: bool,
    metrics_public: bool,
    events_keepalive_ms: u64,
    opencode_router_port: Option<u16>,
    sandbox_enabled: bool,
    sandbox_backend: String,
    browser_provider: Option<String>,
}

impl Features {
    fn from_env(env: &Environment) -> Features {
        let enabled_unless_off = |name: &str| match env.get(name) {
            None => true,
            Some(v) => parse_bool(&v).unwrap_or(false),
        };
        let inbox_max_bytes = match env
            .get("OPENWORK_INBOX_MAX_BYTES")
            .map(|v| v.trim().parse::<f64>())
        {
            Some(Ok(n)) if n.is_finite() && n >= 1.0 => (n.trunc() as u64).min(INBOX_CAP_BYTES),
            _ => INBOX_DEFAULT_BYTES,
        };
        let sandbox_backend = match env
            .get("OPENWORK_SANDBOX_BACKEND")
            .map(|b| b.trim().to_ascii_lowercase())
        {
            Some(b) if b == "docker" || b == "container" => b,
            _ => "none".to_owned(),
        };
        Features {
            inbox_enabled: enabled_unless_off("OPENWORK_INBOX_ENABLED"),
            inbox_max_bytes,
            outbox_enabled: enabled_unless_off("OPENWORK_OUTBOX_ENABLED"),
            toy_ui: enabled_unless_off("OPENWORK_TOY_UI"),
            watch: enabled_unless_off("OPENWORK_WATCH"),
            metrics_public: env
                .get("OPENWORK_METRICS_PUBLIC")
                .is_some_and(|v| parse_bool(&v).unwrap_or(false)),
            events_keepalive_ms: env
                .get("OPENWORK_EVENTS_KEEPALIVE_MS")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .unwrap_or(15_000),
            opencode_router_port: env
                .get("OPENCODE_ROUTER_HEALTH_PORT")
                .and_then(|p| p.trim().parse::<u16>().ok())
                .filter(|p| *p != 0),
            sandbox_enabled: env
                .get("OPENWORK_SANDBOX_ENABLED")
                .and_then(|v| parse_bool(&v))
                .unwrap_or(sandbox_backend != "none"),
            sandbox_backend,
            browser_provider: env.get("OPENWORK_BROWSER_PROVIDER").filter(|p| {
                matches!(
                    p.as_str(),
                    "sandbox-headless" | "host-interactive" | "client-interactive"
                )
            }),
        }
    }
}

/// `server.json` in the platform config dir; an existing
/// `~/.config/openwork/server.json` (the reference's location on every
/// platform) is preferred so a migrated setup keeps its file.
fn default_config_path(home: &Path, platform_config_dir: Option<&Path>) -> PathBuf {
    let legacy = home.join(".config").join("openwork").join("server.json");
    match platform_config_dir {
        Some(dir) if !legacy.exists() => dir.join("openwork").join("server.json"),
        _ => legacy,
    }
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    // A regular file only, read without waiting (a FIFO is refused, not
    // waited on, at start or at a reload) and bounded.
    let text = match crate::workspace::paths::read_text_exact(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => {
            return Err(ConfigError::Unreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_json::from_str(&text).map_err(|e| ConfigError::Malformed {
        path: path.display().to_string(),
        reason: crate::approval_rules::locate_error(&text, &e),
    })
}

fn pick_token(
    cli: Option<String>,
    env: Option<String>,
    file: Option<String>,
) -> (String, TokenSource) {
    let nonempty = |v: Option<String>| v.filter(|t| !t.trim().is_empty());
    if let Some(t) = nonempty(cli) {
        (t, TokenSource::Cli)
    } else if let Some(t) = nonempty(env) {
        (t, TokenSource::Env)
    } else if let Some(t) = nonempty(file) {
        (t, TokenSource::File)
    } else {
        (
            crate::tokens::secret_uuid().to_string(),
            TokenSource::Generated,
        )
    }
}

fn parse_num<T: std::str::FromStr>(
    value: Option<&str>,
    what: &str,
    warn: &mut dyn FnMut(String),
) -> Option<T> {
    let value = value?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            warn(format!("ignoring {what} {value:?}: not a valid number"));
            None
        }
    }
}

/// A JSON array of strings, or a list separated by `,` or `;`.
pub fn parse_list(value: &str) -> Vec<String> {
    let trimmed = value.trim();
    if trimmed.starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
    }
    trimmed
        .split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_log_format(value: &str) -> Option<LogFormat> {
    match value.trim().to_ascii_lowercase().as_str() {
        "json" => Some(LogFormat::Json),
        "pretty" | "text" | "human" => Some(LogFormat::Pretty),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(args: &[&str], vars: &[(&str, &str)], file: Option<&str>) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("server.json");
        if let Some(text) = file {
            std::fs::write(&config, text).unwrap();
        }
        let mut all: Vec<String> = vec!["openworkd".into(), "--config".into()];
        all.push(config.display().to_string());
        all.extend(args.iter().map(|s| s.to_string()));
        let (flags, _) = Flags::parse_lenient(all);
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| vars.get(k).cloned();
        let env = Environment {
            var: &lookup,
            home: Some(dir.path().to_path_buf()),
            config_dir: None,
            cwd: PathBuf::from("/srv/cwd"),
        };
        resolve(&flags, &env, &mut |_| {}).unwrap()
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let file = r#"{"host":"10.0.0.1","port":9000,"approval":{"mode":"auto","timeoutMs":5}}"#;
        let c = resolve_with(&[], &[], Some(file));
        assert_eq!(
            (c.host.as_str(), c.port, c.approval_mode),
            ("10.0.0.1", 9000, ApprovalMode::Auto)
        );
        assert_eq!(c.approval_timeout_ms, 5);
        let c = resolve_with(
            &[],
            &[("OPENWORK_PORT", "9100"), ("OPENWORK_APPROVAL_MODE", "x")],
            Some(file),
        );
        assert_eq!((c.port, c.approval_mode), (9100, ApprovalMode::Manual));
        let c = resolve_with(
            &["--port", "9200"],
            &[("OPENWORK_PORT", "9100")],
            Some(file),
        );
        assert_eq!(c.port, 9200);
        let c = resolve_with(&[], &[], None);
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", DEFAULT_PORT));
        assert_eq!(c.cors_origins, vec!["*"]);
    }

    #[test]
    fn unknown_flags_are_ignored_and_values_are_consumed() {
        let (flags, ignored) = Flags::parse_lenient(
            [
                "openworkd",
                "--frobnicate",
                "--token",
                "--weird",
                "--port",
                "abc",
                "--cors=a,b",
            ]
            .map(String::from)
            .to_vec(),
        );
        assert_eq!(flags.token.as_deref(), Some("--weird"));
        assert_eq!(ignored, vec!["--frobnicate"]);
        assert_eq!(flags.cors, vec!["a,b"]);
        let c = resolve_with(&["--port", "abc"], &[], None);
        assert_eq!(c.port, DEFAULT_PORT);
    }

    #[test]
    fn workspaces_come_from_one_source() {
        let file = r#"{"workspaces":[{"path":"rel/ws","name":"Rel"}]}"#;
        let c = resolve_with(&[], &[], Some(file));
        assert_eq!(c.workspaces.len(), 1);
        assert!(c.workspaces[0].path.ends_with("rel/ws"));
        assert!(c.workspaces[0].path.is_absolute());
        assert_eq!(c.workspaces[0].name, "Rel");
        let c = resolve_with(
            &["--workspace", "a", "--workspace", "/abs/b/"],
            &[],
            Some(file),
        );
        let paths: Vec<_> = c
            .workspaces
            .iter()
            .map(|w| w.path.display().to_string())
            .collect();
        assert_eq!(paths, vec!["/srv/cwd/a", "/abs/b"]);
        let c = resolve_with(
            &[],
            &[("OPENWORK_WORKSPACES", r#"["/x","/y"]"#)],
            Some(file),
        );
        assert_eq!(c.workspaces.len(), 2);
        let c = resolve_with(&[], &[("OPENWORK_WORKSPACES", "/x;/y,/z")], None);
        assert_eq!(c.workspaces.len(), 3);
        assert_eq!(c.authorized_roots.len(), 3);
    }

    #[test]
    fn opencode_settings_fill_workspaces() {
        let c = resolve_with(
            &[
                "--workspace",
                "/a",
                "--opencode-base-url",
                "http://x:1",
                "--opencode-directory",
                "/d",
            ],
            &[
                ("OPENWORK_OPENCODE_USERNAME", "u"),
                ("OPENWORK_OPENCODE_PASSWORD", "p"),
            ],
            None,
        );
        let ws = &c.workspaces[0];
        assert_eq!(ws.base_url.as_deref(), Some("http://x:1"));
        assert_eq!(ws.directory.as_deref(), Some("/d"));
        assert_eq!(ws.opencode_password.as_deref(), Some("p"));
        let c = resolve_with(
            &[
                "--workspace",
                "/a",
                "--workspace",
                "/b",
                "--opencode-directory",
                "/d",
            ],
            &[],
            None,
        );
        assert!(c.workspaces.iter().all(|w| w.directory.is_none()));
    }

    #[test]
    fn tokens_are_generated_when_missing() {
        let c = resolve_with(
            &[],
            &[("OPENWORK_HOST_TOKEN", "h")],
            Some(r#"{"token":"t"}"#),
        );
        assert_eq!(
            (c.client_token.as_str(), c.client_token_source),
            ("t", TokenSource::File)
        );
        assert_eq!(
            (c.host_token.as_str(), c.host_token_source),
            ("h", TokenSource::Env)
        );
        let c = resolve_with(&[], &[("OPENWORK_TOKEN", "")], None);
        assert_eq!(c.client_token_source, TokenSource::Generated);
        assert_eq!(c.client_token.len(), 36);
    }

    #[test]
    fn cors_flags_accumulate_and_lists_parse() {
        let c = resolve_with(
            &["--cors", "http://a", "--cors", "http://b;http://c"],
            &[],
            None,
        );
        assert_eq!(c.cors_origins, vec!["http://a", "http://b", "http://c"]);
        assert_eq!(parse_list(r#"["x", "y"]"#), vec!["x", "y"]);
    }

    #[test]
    fn inbox_limit_is_capped() {
        let c = resolve_with(&[], &[("OPENWORK_INBOX_MAX_BYTES", "999999999999")], None);
        assert_eq!(c.inbox_max_bytes, INBOX_CAP_BYTES);
        let c = resolve_with(&[], &[("OPENWORK_INBOX_MAX_BYTES", "nope")], None);
        assert_eq!(c.inbox_max_bytes, INBOX_DEFAULT_BYTES);
    }

    #[test]
    fn malformed_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = load_file(&path).unwrap_err().to_string();
        assert!(err.contains("server.json"), "{err}");
        assert!(err.contains("not valid"), "{err}");
    }
}
