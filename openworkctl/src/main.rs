//! `openworkctl`: the operator's command line for openworkd. It only talks
//! HTTP to the daemon, through the typed client in `openwork-shared`.

mod commands;
mod credentials;
mod failure;
mod output;
mod watch;

use clap::{Args, CommandFactory, Parser, Subcommand};
use failure::{Failure, Needs};
use openwork_shared::client::Client;
use openwork_shared::models::ApprovalCheck;
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_URL: &str = "http://127.0.0.1:8787";

#[derive(Parser)]
#[command(
    name = "openworkctl",
    version,
    about = "Operate an openworkd daemon: tokens, workspaces, approvals, inbox uploads, artifacts.",
    after_help = "Connection: --url/OPENWORK_URL, --token/OPENWORK_TOKEN and --host-token/OPENWORK_HOST_TOKEN, \
else what `openworkctl login` saved, else http://127.0.0.1:8787.\n\n\
Exit codes: 0 success, 1 error, 2 bad usage, 3 daemon unreachable, 4 token refused or scope too low, \
5 write denied or server read-only, 6 not found, 7 the server's TLS certificate is not trusted \
(not the pinned fingerprint, or no trusted CA signed it)."
)]
struct Cli {
    #[command(flatten)]
    conn: Connection,
    /// Print machine-readable JSON instead of tables
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
pub struct Connection {
    /// Daemon URL [default: saved login, else http://127.0.0.1:8787]
    #[arg(long, env = "OPENWORK_URL", global = true)]
    url: Option<String>,
    /// Bearer token (client or scoped token)
    #[arg(long, env = "OPENWORK_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Host token, for approvals and tokens (an owner --token works too)
    #[arg(
        long,
        env = "OPENWORK_HOST_TOKEN",
        global = true,
        hide_env_values = true
    )]
    host_token: Option<String>,
    /// Use this saved context (see `openworkctl context list`)
    #[arg(long, env = "OPENWORK_CONTEXT", global = true)]
    context: Option<String>,
    /// For https:// daemons: also trust the CA certificates in this PEM file
    /// (the system's roots are always trusted)
    #[arg(long, env = "OPENWORK_CA", global = true, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// For https:// daemons: trust only the certificate with this SHA-256
    /// fingerprint (openworkd prints it at start; `login` saves it)
    #[arg(
        long,
        env = "OPENWORK_FINGERPRINT",
        global = true,
        value_name = "SHA256"
    )]
    fingerprint: Option<String>,
}

impl Connection {
    /// Whom to trust over TLS, from --ca and --fingerprint.
    pub fn trust(&self) -> Result<openwork_shared::tls::Trust, Failure> {
        let mut trust = openwork_shared::tls::Trust::default();
        if let Some(ca) = &self.ca {
            trust.add_ca_file(ca).map_err(|e| Failure::new(e).exit(2))?;
        }
        if let Some(pin) = &self.fingerprint {
            let pin = pin
                .parse()
                .map_err(|e: String| Failure::new(format!("--fingerprint: {e}")).exit(2))?;
            trust.pin = Some(pin);
        }
        Ok(trust)
    }

    /// A client for `url` with these credentials and this trust.
    pub fn client(&self, url: &str) -> Result<Client, Failure> {
        Client::with_trust(
            url,
            self.token.clone(),
            self.host_token.clone(),
            &self.trust()?,
        )
        .map_err(|e| Failure::new(e.to_string()))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Save the URL and tokens (OS keyring, else a 0600 file) after checking
    /// them; with --code, first redeem a pairing code for a token
    Login {
        /// The daemon's URL (same as --url)
        url: Option<String>,
        /// A pairing code from `openworkctl pair` on the host
        #[arg(long)]
        code: Option<String>,
        /// Save under this context name [default: the daemon's host:port]
        #[arg(long)]
        name: Option<String>,
    },
    /// Saved daemons (contexts): list, choose, forget
    #[command(subcommand)]
    Context(ContextCmd),
    /// Open a one-time pairing code for a new client (host or owner token)
    Pair(IssueArgs),
    /// Forget saved credentials
    Logout,
    /// Show the daemon's health and configuration
    Status,
    /// Workspaces served by the daemon
    #[command(subcommand)]
    Workspaces(WorkspacesCmd),
    /// Scoped tokens (host token or owner token)
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Pending writes waiting for the host (host token or owner token)
    #[command(subcommand)]
    Approvals(ApprovalsCmd),
    /// Files uploaded to a workspace's inbox
    #[command(subcommand)]
    Inbox(InboxCmd),
    /// Files a workspace offers in its outbox
    #[command(subcommand)]
    Artifacts(ArtifactsCmd),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a man page for openworkctl and each of its commands into DIR
    #[command(hide = true)]
    GenerateMan { dir: std::path::PathBuf },
}

/// What a new token (or pairing code) is for.
#[derive(Args)]
pub struct IssueArgs {
    /// owner, collaborator or viewer
    #[arg(long, value_parser = ["owner", "collaborator", "viewer"])]
    scope: String,
    /// A note saying who or what it is for
    #[arg(long)]
    label: Option<String>,
    /// How long it lasts (e.g. 30m, 12h, 7days): a token, until it expires
    /// (default: never); a pairing code, until it can no longer be redeemed
    /// (default 10m, at most 24h)
    #[arg(long, value_parser = parse_ttl)]
    ttl: Option<Duration>,
}

#[derive(Subcommand)]
enum ContextCmd {
    /// Saved contexts; `*` marks the one in use
    List,
    /// Use this context when no --context is given
    Use { name: String },
    /// Forget a context and its tokens
    Remove { name: String },
}

#[derive(Subcommand)]
enum WorkspacesCmd {
    /// List workspaces (the active one is marked)
    List,
}

#[derive(Subcommand)]
enum TokensCmd {
    /// List scoped tokens (never their values)
    List,
    /// Issue a token; its value is shown only once
    Create(IssueArgs),
    /// Revoke a token by id; it stops working at once
    Revoke { id: String },
}

#[derive(Subcommand)]
enum ApprovalsCmd {
    /// List pending approvals
    List,
    /// Allow a pending write
    Allow { id: String },
    /// Deny a pending write
    Deny { id: String },
    /// Decided approvals, newest first
    History {
        /// How many to show
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only those decided before this approval id (the next page)
        #[arg(long)]
        before: Option<String>,
    },
    /// Follow approvals as the daemon pushes them. In a terminal: the
    /// pending list, live; ↑/↓ select, `a` allows, `d` denies, `q` quits.
    /// Piped (or with --no-prompt): one JSON line per event
    /// ({"event", "id", "approval"})
    Watch {
        /// Print events as JSON lines even in a terminal; answer nothing
        #[arg(long)]
        no_prompt: bool,
        /// Accepted for older scripts; the stream needs no polling
        #[arg(long, hide = true, value_parser = parse_interval)]
        interval: Option<Duration>,
        /// Stop after this many requests were seen (JSON lines mode)
        #[arg(long)]
        max: Option<usize>,
    },
    /// Which approval rule (or the mode) would decide a write; nothing is
    /// written
    Check(CheckArgs),
}

/// A write to try against the approval rules.
#[derive(Args)]
struct CheckArgs {
    /// The action, e.g. plugins.add, skills.upsert, workspace.inbox.upload
    #[arg(long)]
    action: String,
    /// A workspace-relative path the write touches (repeatable)
    #[arg(long = "path")]
    paths: Vec<String>,
    /// The writer's scope: owner, collaborator, viewer or host
    #[arg(long)]
    scope: Option<String>,
    /// Workspace id or path [default: the active workspace]
    #[arg(long = "workspace", id = "check_workspace")]
    workspace: Option<String>,
    /// The writer's token, by id or label
    #[arg(long = "as-token", value_name = "ID_OR_LABEL")]
    token: Option<String>,
    /// Bytes the write brings
    #[arg(long)]
    bytes: Option<u64>,
}

impl From<CheckArgs> for ApprovalCheck {
    fn from(a: CheckArgs) -> ApprovalCheck {
        ApprovalCheck {
            action: a.action,
            paths: a.paths,
            scope: a.scope,
            workspace: a.workspace,
            token: a.token,
            bytes: a.bytes,
        }
    }
}

#[derive(Args, Clone)]
pub struct WorkspaceArg {
    /// Workspace id [default: the active workspace]
    #[arg(long, env = "OPENWORK_WORKSPACE")]
    workspace: Option<String>,
}

#[derive(Subcommand)]
enum InboxCmd {
    /// Upload files (streamed, with a progress bar for large ones)
    Upload {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Destination in the inbox: a file path for one file, a folder for several (or ending in /)
        #[arg(long)]
        path: Option<String>,
    },
    /// List inbox files
    List {
        #[command(flatten)]
        ws: WorkspaceArg,
    },
}

#[derive(Subcommand)]
enum ArtifactsCmd {
    /// List artifacts, newest first
    List {
        #[command(flatten)]
        ws: WorkspaceArg,
    },
    /// Download an artifact
    Get {
        id: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Output file, or - for stdout [default: the artifact's name]
        #[arg(short, long)]
        output: Option<String>,
    },
}

/// What every command gets: the client and how to print.
pub struct Ctx {
    pub client: Client,
    pub json: bool,
    pub conn: Connection,
}

impl Ctx {
    /// Run a call, explaining failures.
    pub fn call<T>(
        &self,
        needs: Needs,
        f: impl FnOnce(&Client) -> openwork_shared::client::Result<T>,
    ) -> Result<T, Failure> {
        f(&self.client).map_err(|e| failure::explain(e, needs))
    }

    /// The workspace to act on: the flag, else the daemon's active one.
    pub fn workspace(&self, arg: &WorkspaceArg) -> Result<String, Failure> {
        if let Some(id) = &arg.workspace {
            return Ok(id.clone());
        }
        let list = self.call(Needs::Client, |c| c.workspaces())?;
        list.active_id.ok_or_else(|| {
            Failure::new("the daemon serves no workspace")
                .hint("start openworkd with --workspace PATH")
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if json {
                println!("{}", output::json_shown(&failure.to_json().to_string()));
            } else {
                eprintln!("{failure}");
            }
            ExitCode::from(failure.exit)
        }
    }
}

/// A token lifetime: a duration (30m, 12h, 7days) of 1 s to ten years.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .ok()
        .filter(|d| (1..=openwork_shared::lenient::MAX_TTL_SECONDS).contains(&d.as_secs()))
        .ok_or_else(|| {
            format!("{text:?} is not a lifetime between 1s and 10 years (e.g. 30m, 12h, 7days)")
        })
}

/// A poll interval: plain seconds or a humantime duration, from 50 ms to
/// one hour (anything else, `inf` and `NaN` included, is a usage error).
fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs).ok(),
        Ok(_) => None,
        Err(_) => humantime::parse_duration(text).ok(),
    };
    duration
        .filter(|d| (Duration::from_millis(50)..=Duration::from_secs(3600)).contains(d))
        .ok_or_else(|| {
            format!("{text:?} is not an interval between 50ms and 1h (e.g. 0.5, 2s, 1m)")
        })
}

/// `openworkctl.1`, then `openworkctl-<command>.1` for every visible
/// command, nested ones included (generated from the clap definitions).
fn man_pages(cmd: clap::Command, dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cmd = cmd.version(env!("CARGO_PKG_VERSION"));
    let mut pending = vec![(cmd, "openworkctl".to_owned())];
    while let Some((cmd, words)) = pending.pop() {
        let page = words.replace(' ', "-");
        let mut out = std::fs::File::create(dir.join(format!("{page}.1")))?;
        let titled = cmd.clone().display_name(&page).bin_name(&words);
        clap_mangen::Man::new(titled).render(&mut out)?;
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            let sub_words = format!("{words} {}", sub.get_name());
            pending.push((sub.clone().version(env!("CARGO_PKG_VERSION")), sub_words));
        }
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "openworkctl",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    if let Command::GenerateMan { dir } = &cli.command {
        return man_pages(Cli::command(), dir).map_err(|e| {
            Failure::new(format!(
                "cannot write man pages into {}: {e}",
                dir.display()
            ))
        });
    }
    match &cli.command {
        Command::Context(ContextCmd::List) => return commands::context_list(cli.json),
        Command::Context(ContextCmd::Use { name }) => return commands::context_use(name),
        Command::Context(ContextCmd::Remove { name }) => return commands::context_remove(name),
        _ => {}
    }
    let mut conn = cli.conn;
    if let Command::Login { url: Some(url), .. } = &cli.command {
        conn.url.get_or_insert_with(|| url.clone());
    }
    let conn = resolve(
        conn,
        matches!(cli.command, Command::Login { .. } | Command::Logout),
    )?;
    let url = conn.url.clone().unwrap_or_else(|| DEFAULT_URL.to_owned());
    let client = conn.client(&url)?;
    let ctx = Ctx {
        client,
        json: cli.json,
        conn,
    };
    match cli.command {
        Command::Login { code, name, .. } => commands::login(ctx, code.as_deref(), name.as_deref()),
        // Answered before connecting.
        Command::Context(_) => Ok(()),
        Command::Pair(issue) => commands::pair(&ctx, issue),
        Command::Logout => commands::logout(&ctx),
        Command::Status => commands::status(&ctx),
        Command::Workspaces(WorkspacesCmd::List) => commands::workspaces(&ctx),
        Command::Tokens(TokensCmd::List) => commands::tokens_list(&ctx),
        Command::Tokens(TokensCmd::Create(issue)) => commands::tokens_create(&ctx, issue),
        Command::Tokens(TokensCmd::Revoke { id }) => commands::tokens_revoke(&ctx, &id),
        Command::Approvals(ApprovalsCmd::List) => commands::approvals_list(&ctx),
        Command::Approvals(ApprovalsCmd::History { limit, before }) => {
            commands::approvals_history(&ctx, limit, before.as_deref())
        }
        Command::Approvals(ApprovalsCmd::Allow { id }) => {
            commands::approvals_reply(&ctx, &id, true)
        }
        Command::Approvals(ApprovalsCmd::Deny { id }) => {
            commands::approvals_reply(&ctx, &id, false)
        }
        Command::Approvals(ApprovalsCmd::Watch { no_prompt, max, .. }) => {
            watch::approvals_watch(&ctx, !no_prompt, max)
        }
        Command::Approvals(ApprovalsCmd::Check(args)) => {
            commands::approvals_check(&ctx, &args.into())
        }
        Command::Inbox(InboxCmd::Upload { files, ws, path }) => {
            commands::inbox_upload(&ctx, &files, &ws, path.as_deref())
        }
        Command::Inbox(InboxCmd::List { ws }) => commands::inbox_list(&ctx, &ws),
        Command::Artifacts(ArtifactsCmd::List { ws }) => commands::artifacts_list(&ctx, &ws),
        Command::Artifacts(ArtifactsCmd::Get { id, ws, output }) => {
            commands::artifacts_get(&ctx, &id, &ws, output.as_deref())
        }
        // Answered before connecting.
        Command::Completions { .. } | Command::GenerateMan { .. } => Ok(()),
    }
}

/// Fill what flags and environment left out from the saved login. A URL with
/// any token counts as complete, so scripted calls never touch the keyring.
fn resolve(mut conn: Connection, logging_in: bool) -> Result<Connection, Failure> {
    let complete = conn.url.is_some() && (conn.token.is_some() || conn.host_token.is_some());
    if logging_in || complete {
        return Ok(conn);
    }
    let contexts = credentials::load().unwrap_or_default();
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    let saved = match (conn.context.as_deref(), conn.url.as_deref()) {
        (Some(name), _) => Some(contexts.contexts.get(name).ok_or_else(|| {
            Failure::new(format!("no saved context named {name}"))
                .hint("see `openworkctl context list`")
                .exit(failure::EXIT_NOT_FOUND)
        })?),
        // A daemon named by URL: its context, if one was saved.
        (None, Some(url)) => contexts.contexts.values().find(|s| same(url, &s.url)),
        (None, None) => contexts.pick(None),
    };
    if let Some(saved) = saved.cloned()
        && conn.url.as_deref().is_none_or(|u| same(u, &saved.url))
    {
        conn.url.get_or_insert(saved.url);
        if conn.token.is_none() {
            conn.token = saved.token;
        }
        if conn.host_token.is_none() {
            conn.host_token = saved.host_token;
        }
        if conn.fingerprint.is_none() {
            conn.fingerprint = saved.fingerprint;
        }
        if conn.ca.is_none() {
            conn.ca = saved.ca.map(Into::into);
        }
    }
    Ok(conn)
}
