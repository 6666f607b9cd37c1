//! One function per command.

use crate::credentials::{self, Location, Saved};
use crate::failure::{EXIT_UNREACHABLE, Failure, Needs};
use crate::output::{self, age, print, print_json, print_pairs, shown, size, time};
use crate::{Ctx, IssueArgs, WorkspaceArg};
use indicatif::{ProgressBar, ProgressStyle};
use openwork_shared::Scope;
use openwork_shared::models::{ApprovalCheck, ApprovalItem, Reply, TokenCreate, Verdict};
use serde_json::json;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;
use tabled::Tabled;

/// Files smaller than this upload without a progress bar.
const PROGRESS_THRESHOLD: u64 = 1024 * 1024;

/// A context's default name: the daemon's host and port.
fn context_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

pub fn login(mut ctx: Ctx, code: Option<&str>, name: Option<&str>) -> Result<(), Failure> {
    if let Some(code) = code {
        let paired = ctx.call(Needs::Client, |c| c.pair(code))?;
        let url = ctx.client.base_url().to_owned();
        ctx.conn.token = Some(paired.token);
        ctx.conn.host_token = None;
        ctx.client = ctx.conn.client(&url)?;
    }
    let ctx = &ctx;
    let health = ctx.call(Needs::Client, |c| c.health())?;
    let scope = match &ctx.conn.token {
        Some(_) => ctx.call(Needs::Client, |c| c.whoami())?.actor.scope,
        None => None,
    };
    if ctx.conn.host_token.is_some() {
        ctx.call(Needs::Host, |c| c.approvals())?;
    }
    if ctx.conn.token.is_none() && ctx.conn.host_token.is_none() {
        return Err(Failure::new(
            "nothing to save: give --token and/or --host-token",
        ));
    }
    let saved = Saved {
        url: ctx.client.base_url().to_owned(),
        token: ctx.conn.token.clone(),
        host_token: ctx.conn.host_token.clone(),
        fingerprint: ctx.conn.trust()?.pin.map(|pin| pin.to_string()),
        ca: ctx.conn.ca.as_ref().map(|ca| {
            std::path::absolute(ca)
                .unwrap_or_else(|_| ca.clone())
                .display()
                .to_string()
        }),
    };
    let name = name.map_or_else(|| context_name(&saved.url), str::to_owned);
    let mut contexts = credentials::load().unwrap_or_default();
    contexts.contexts.insert(name.clone(), saved.clone());
    contexts.current = Some(name.clone());
    let (location, keyring_error) = credentials::save(&contexts)?;
    let (store, path) = match &location {
        Location::Keyring => ("keyring", None),
        Location::File(path) => ("file", Some(path.display().to_string())),
    };
    if ctx.json {
        print_json(
            &json!({"context": name, "url": saved.url, "version": health.version, "scope": scope, "store": store, "path": path, "keyringError": keyring_error}),
        );
        return Ok(());
    }
    let who = scope.map(|s| format!(" as {s}")).unwrap_or_default();
    println!(
        "Logged in to {} (openworkd {}){who}; context {name} is now in use.",
        saved.url, health.version
    );
    match location {
        Location::Keyring => println!("Saved in the OS keyring."),
        Location::File(path) => {
            let why = keyring_error
                .map(|e| format!(": no OS keyring is available ({e})"))
                .unwrap_or_default();
            println!("Saved in {} (readable only by you){why}.", path.display());
        }
    }
    Ok(())
}

pub fn logout(ctx: &Ctx) -> Result<(), Failure> {
    let removed = credentials::remove()?;
    let places: Vec<String> = removed
        .iter()
        .map(|l| match l {
            Location::Keyring => "keyring".to_owned(),
            Location::File(p) => p.display().to_string(),
        })
        .collect();
    if ctx.json {
        print_json(&json!({"removed": places}));
    } else if places.is_empty() {
        println!("No saved credentials.");
    } else {
        println!("Removed saved credentials from {}.", places.join(" and "));
    }
    Ok(())
}

pub fn status(ctx: &Ctx) -> Result<(), Failure> {
    let health = ctx.call(Needs::Client, |c| c.health())?;
    let status = match ctx.conn.token {
        Some(_) => Some(ctx.call(Needs::Client, |c| c.status())?),
        None => None,
    };
    if ctx.json {
        print_json(&json!({"url": ctx.client.base_url(), "health": health, "status": status}));
        return Ok(());
    }
    let uptime = humantime::format_duration(Duration::from_secs(health.uptime_ms / 1000));
    let mut pairs = vec![
        ("URL", ctx.client.base_url().to_owned()),
        ("Version", health.version.clone()),
        ("Uptime", uptime.to_string()),
    ];
    match &status {
        Some(s) => {
            pairs.push(("Read-only", s.read_only.to_string()));
            pairs.push((
                "Approval",
                format!("{:?} ({} ms)", s.approval.mode, s.approval.timeout_ms).to_lowercase(),
            ));
            pairs.push(("Workspaces", s.workspace_count.to_string()));
            if let Some(tls) = &s.tls {
                pairs.push(("TLS (SHA-256)", tls.fingerprint.clone()));
            }
            if let Some(ws) = &s.workspace {
                pairs.push(("Active", format!("{} {} ({})", ws.id, ws.name, ws.path)));
            }
            if let Some(path) = &s.server.config_path {
                pairs.push(("Config", path.clone()));
            }
        }
        None => pairs.push((
            "Details",
            "pass --token to see the configuration".to_owned(),
        )),
    }
    print_pairs(&pairs);
    Ok(())
}

#[derive(Tabled)]
struct WorkspaceRow {
    #[tabled(rename = "ACTIVE")]
    active: &'static str,
    #[tabled(rename = "ID")]
    id: String,
    #[tabled(rename = "NAME")]
    name: String,
    #[tabled(rename = "PATH")]
    path: String,
}

pub fn workspaces(ctx: &Ctx) -> Result<(), Failure> {
    let list = ctx.call(Needs::Client, |c| c.workspaces())?;
    let rows = list
        .items
        .iter()
        .map(|w| WorkspaceRow {
            active: if list.active_id.as_deref() == Some(w.id.as_str()) {
                "*"
            } else {
                ""
            },
            id: w.id.clone(),
            name: w.name.clone(),
            path: w.path.clone(),
        })
        .collect();
    print(ctx.json, &list, rows, "No workspaces.");
    Ok(())
}

#[derive(Tabled)]
struct TokenRow {
    #[tabled(rename = "ID")]
    id: String,
    #[tabled(rename = "SCOPE")]
    scope: Scope,
    #[tabled(rename = "LABEL")]
    label: String,
    #[tabled(rename = "CREATED")]
    created: String,
    #[tabled(rename = "EXPIRES")]
    expires: String,
    #[tabled(rename = "LAST USED")]
    last_used: String,
}

pub fn tokens_list(ctx: &Ctx) -> Result<(), Failure> {
    let list = ctx.call(Needs::Host, |c| c.tokens())?;
    let rows = list
        .items
        .iter()
        .map(|t| TokenRow {
            id: t.id.clone(),
            scope: t.scope,
            label: t.label.clone().unwrap_or_default(),
            created: time(t.created_at),
            expires: t.expires_at.map_or_else(|| "never".to_owned(), time),
            last_used: t.last_used_at.map_or_else(|| "-".to_owned(), age),
        })
        .collect();
    print(ctx.json, &list, rows, "No scoped tokens.");
    Ok(())
}

/// The request `tokens create` and `pair` send.
fn issue_request(issue: IssueArgs) -> Result<TokenCreate, Failure> {
    let scope: Scope = issue
        .scope
        .parse()
        .map_err(|_| Failure::new(format!("unknown scope {}", issue.scope)))?;
    Ok(TokenCreate {
        scope,
        label: issue.label,
        ttl_seconds: issue.ttl.map(|d| d.as_secs()),
    })
}

pub fn tokens_create(ctx: &Ctx, issue: IssueArgs) -> Result<(), Failure> {
    let request = issue_request(issue)?;
    let created = ctx.call(Needs::Host, |c| c.create_token(&request))?;
    if ctx.json {
        print_json(&created);
    } else {
        println!("Token:  {}", shown(&created.token));
        println!("Id:     {}", shown(&created.id));
        println!("Scope:  {}", created.scope);
        if let Some(at) = created.expires_at {
            println!("Expires: {}", time(at));
        }
        println!(
            "This is the only time the token is shown; revoke it with `openworkctl tokens revoke {}`.",
            shown(&created.id)
        );
    }
    Ok(())
}

pub fn tokens_revoke(ctx: &Ctx, id: &str) -> Result<(), Failure> {
    let ok = ctx.call(Needs::Host, |c| c.revoke_token(id))?;
    if ctx.json {
        print_json(&ok);
    } else {
        println!("Revoked token {id}.");
    }
    Ok(())
}

#[derive(Tabled)]
struct ApprovalRow {
    #[tabled(rename = "ID")]
    id: String,
    #[tabled(rename = "ACTION")]
    action: String,
    #[tabled(rename = "SUMMARY")]
    summary: String,
    #[tabled(rename = "WORKSPACE")]
    workspace: String,
    #[tabled(rename = "BY")]
    by: String,
    #[tabled(rename = "WAITING")]
    waiting: String,
}

fn approval_row(a: &ApprovalItem) -> ApprovalRow {
    let by = match (&a.actor.scope, &a.actor.client_id) {
        (Some(scope), Some(client)) => format!("{scope} ({client})"),
        (Some(scope), None) => scope.to_string(),
        _ => String::new(),
    };
    ApprovalRow {
        id: a.id.clone(),
        action: a.action.clone(),
        summary: a.summary.clone(),
        workspace: a.workspace_id.clone(),
        by,
        waiting: age(a.created_at),
    }
}

pub fn approvals_list(ctx: &Ctx) -> Result<(), Failure> {
    let list = ctx.call(Needs::Host, |c| c.approvals())?;
    let rows = list.items.iter().map(approval_row).collect();
    print(ctx.json, &list, rows, "No pending approvals.");
    Ok(())
}

#[derive(Tabled)]
struct DecidedRow {
    #[tabled(rename = "ID")]
    id: String,
    #[tabled(rename = "DECISION")]
    decision: String,
    #[tabled(rename = "BY")]
    by: String,
    #[tabled(rename = "ACTION")]
    action: String,
    #[tabled(rename = "SUMMARY")]
    summary: String,
    #[tabled(rename = "DECIDED")]
    decided: String,
}

pub fn approvals_history(ctx: &Ctx, limit: u32, before: Option<&str>) -> Result<(), Failure> {
    let history = ctx.call(Needs::Host, |c| c.approval_history(limit, before))?;
    let rows = history
        .items
        .iter()
        .map(|d| DecidedRow {
            id: d.id.clone(),
            decision: serde_json::to_value(d.decision)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            by: d.decided_by.clone(),
            action: d.action.clone(),
            summary: d.summary.clone(),
            decided: age(d.decided_at),
        })
        .collect();
    print(ctx.json, &history, rows, "No decided approvals.");
    Ok(())
}

pub fn approvals_reply(ctx: &Ctx, id: &str, allow: bool) -> Result<(), Failure> {
    let reply = if allow { Reply::Allow } else { Reply::Deny };
    let replied = ctx.call(Needs::Host, |c| c.reply_approval(id, reply))?;
    if ctx.json {
        print_json(&replied);
    } else {
        println!(
            "{} {id}.",
            if replied.allowed { "Allowed" } else { "Denied" }
        );
    }
    Ok(())
}

/// Poll for new approvals; print each once and, with a prompt, answer it
/// from standard input (`a`llow, `d`eny, anything else skips).
pub fn approvals_check(ctx: &Ctx, check: &ApprovalCheck) -> Result<(), Failure> {
    let verdict = ctx.call(Needs::Host, |c| c.check_approval(check))?;
    if ctx.json {
        print_json(&verdict);
        return Ok(());
    }
    let decision = match verdict.decision {
        Verdict::Allow => "allowed",
        Verdict::Deny => "denied",
        Verdict::Ask => "asked of the host",
    };
    match &verdict.rule {
        Some(rule) => println!("{}: {decision} by rule {}", check.action, shown(rule)),
        None => println!(
            "{}: {decision} (no rule matches; the approval mode decides)",
            check.action
        ),
    }
    Ok(())
}

fn progress(len: u64, quiet: bool) -> ProgressBar {
    if quiet || len < PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[derive(Tabled)]
struct UploadRow {
    #[tabled(rename = "FILE")]
    file: String,
    #[tabled(rename = "INBOX PATH")]
    path: String,
    #[tabled(rename = "SIZE")]
    size: String,
}

pub fn inbox_upload(
    ctx: &Ctx,
    files: &[std::path::PathBuf],
    ws: &WorkspaceArg,
    path: Option<&str>,
) -> Result<(), Failure> {
    let ws = ctx.workspace(ws)?;
    // The limit the daemon advertises, checked before anything is sent.
    let limit = || {
        ctx.call(Needs::Client, |c| c.capabilities())
            .ok()
            .map(|caps| caps.tool_providers.files.max_bytes)
    };
    let max = limit();
    let mut results = Vec::new();
    let mut rows = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Failure::new(format!("{} is not a file", file.display())))?;
        let handle = std::fs::File::open(file)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", file.display())))?;
        let len = handle.metadata()?.len();
        if let Some(max) = max.filter(|max| len > *max) {
            return Err(too_large(file, len, max));
        }
        let dest = match path {
            Some(p) if files.len() == 1 && !p.ends_with('/') => Some(p.to_owned()),
            Some(p) => Some(format!("{}/{name}", p.trim_end_matches('/'))),
            None => None,
        };
        let bar = progress(len, ctx.json);
        bar.set_message(output::cell(&name).into_owned());
        let reader = bar.wrap_read(handle);
        let uploaded = ctx.call(Needs::Client, |c| {
            c.upload_inbox(&ws, reader, len, &name, dest.as_deref())
        });
        bar.finish_and_clear();
        let uploaded = uploaded.map_err(|failure| {
            // A daemon that cuts an upload short may close the connection
            // before its 413 is read: ask it for its limit again.
            match limit().filter(|max| len > *max) {
                Some(max) if failure.exit == EXIT_UNREACHABLE => too_large(file, len, max),
                _ => failure,
            }
        })?;
        rows.push(UploadRow {
            file: file.display().to_string(),
            path: uploaded.path.clone(),
            size: size(uploaded.bytes),
        });
        results.push(uploaded);
    }
    print(ctx.json, &results, rows, "");
    Ok(())
}

fn too_large(file: &std::path::Path, len: u64, max: u64) -> Failure {
    Failure::new(format!(
        "{} is too large for the inbox: {} ({len} bytes); the daemon accepts at most {} ({max} bytes)",
        file.display(),
        size(len),
        size(max)
    ))
    .hint("raise the daemon's limit (OPENWORK_INBOX_MAX_BYTES) or upload a smaller file")
}

#[derive(Tabled)]
struct FileRow {
    #[tabled(rename = "ID")]
    id: String,
    #[tabled(rename = "PATH")]
    path: String,
    #[tabled(rename = "SIZE")]
    size: String,
    #[tabled(rename = "UPDATED")]
    updated: String,
}

fn print_files(ctx: &Ctx, list: &openwork_shared::models::FileList, empty: &str) {
    let rows = list
        .items
        .iter()
        .map(|f| FileRow {
            id: f.id.clone(),
            path: f.path.clone(),
            size: size(f.size),
            updated: time(f.updated_at),
        })
        .collect();
    print(ctx.json, list, rows, empty);
}

pub fn inbox_list(ctx: &Ctx, ws: &WorkspaceArg) -> Result<(), Failure> {
    let ws = ctx.workspace(ws)?;
    let list = ctx.call(Needs::Client, |c| c.inbox(&ws))?;
    print_files(ctx, &list, "The inbox is empty.");
    Ok(())
}

pub fn artifacts_list(ctx: &Ctx, ws: &WorkspaceArg) -> Result<(), Failure> {
    let ws = ctx.workspace(ws)?;
    let list = ctx.call(Needs::Client, |c| c.artifacts(&ws))?;
    print_files(ctx, &list, "No artifacts.");
    Ok(())
}

pub fn artifacts_get(
    ctx: &Ctx,
    id: &str,
    ws: &WorkspaceArg,
    output: Option<&str>,
) -> Result<(), Failure> {
    let ws = ctx.workspace(ws)?;
    let mut resp = ctx.call(Needs::Client, |c| c.artifact(&ws, id))?;
    let len = resp.content_length().unwrap_or(0);
    if output == Some("-") {
        let mut stdout = std::io::stdout().lock();
        std::io::copy(&mut resp, &mut stdout)
            .map_err(|e| Failure::new(format!("download failed: {e}")))?;
        return Ok(());
    }
    let name = output
        .map(str::to_owned)
        .unwrap_or_else(|| attachment_name(&resp).unwrap_or_else(|| id.to_owned()));
    let target = Path::new(&name);
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    // Download next to the target and rename, so a failed download leaves nothing half-written.
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| Failure::new(format!("cannot write to {}: {e}", dir.display())))?;
    let bar = progress(len, ctx.json);
    bar.set_message(output::cell(&name).into_owned());
    let copied = std::io::copy(&mut bar.wrap_read(&mut resp), &mut tmp);
    bar.finish_and_clear();
    let bytes = copied.map_err(|e| Failure::new(format!("download failed: {e}")))?;
    tmp.as_file().sync_all()?;
    tmp.persist(target)
        .map_err(|e| Failure::new(format!("cannot write {name}: {}", e.error)))?;
    if ctx.json {
        print_json(&json!({"id": id, "file": name, "bytes": bytes}));
    } else {
        println!("Saved {} ({}).", shown(&name), output::size(bytes));
    }
    Ok(())
}

/// The file name from `Content-Disposition`, without any folder part.
fn attachment_name(resp: &reqwest::blocking::Response) -> Option<String> {
    let value = resp
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)?
        .to_str()
        .ok()?;
    let start = value.find("filename=\"")? + "filename=\"".len();
    let name = value[start..].split('"').next()?;
    let name = Path::new(name).file_name()?.to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

pub fn pair(ctx: &Ctx, issue: IssueArgs) -> Result<(), Failure> {
    let request = issue_request(issue)?;
    let created = ctx.call(Needs::Host, |c| c.open_grant(&request))?;
    if ctx.json {
        print_json(&created);
        return Ok(());
    }
    let login = format!("openworkctl login {} --code {}", created.url, created.code);
    println!("Pairing code: {}", shown(&created.code));
    println!("Scope:        {}", created.scope);
    println!(
        "Expires:      {} (redeemable once)",
        time(created.expires_at)
    );
    println!();
    println!("On the new client:");
    println!("  {}", shown(&login));
    if let Ok(qr) = qrcode::QrCode::new(login.as_bytes()) {
        let art = qr
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        println!();
        println!("{art}");
    }
    Ok(())
}

#[derive(Tabled)]
struct ContextRow {
    #[tabled(rename = "CURRENT")]
    current: &'static str,
    #[tabled(rename = "NAME")]
    name: String,
    #[tabled(rename = "URL")]
    url: String,
    #[tabled(rename = "TOKEN")]
    token: &'static str,
    #[tabled(rename = "HOST TOKEN")]
    host_token: &'static str,
}

/// The saved contexts (never their tokens).
pub fn context_list(json_out: bool) -> Result<(), Failure> {
    let contexts = credentials::load().unwrap_or_default();
    let yes = |t: &Option<String>| if t.is_some() { "yes" } else { "-" };
    let rows: Vec<ContextRow> = contexts
        .contexts
        .iter()
        .map(|(name, saved)| ContextRow {
            current: if contexts.current.as_deref() == Some(name) {
                "*"
            } else {
                ""
            },
            name: name.clone(),
            url: saved.url.clone(),
            token: yes(&saved.token),
            host_token: yes(&saved.host_token),
        })
        .collect();
    let listed = json!({
        "current": contexts.current,
        "contexts": contexts.contexts.iter().map(|(name, saved)| json!({
            "name": name, "url": saved.url,
            "token": saved.token.is_some(), "hostToken": saved.host_token.is_some(),
        })).collect::<Vec<_>>(),
    });
    print(
        json_out,
        &listed,
        rows,
        "No saved contexts; run `openworkctl login`.",
    );
    Ok(())
}

fn unknown_context(name: &str) -> Failure {
    Failure::new(format!("no saved context named {name}"))
        .hint("see `openworkctl context list`")
        .exit(crate::failure::EXIT_NOT_FOUND)
}

/// Make `name` the context used when no --context is given.
pub fn context_use(name: &str) -> Result<(), Failure> {
    let mut contexts = credentials::load().unwrap_or_default();
    if !contexts.contexts.contains_key(name) {
        return Err(unknown_context(name));
    }
    contexts.current = Some(name.to_owned());
    credentials::save(&contexts)?;
    println!("Context {name} is now in use.");
    Ok(())
}

pub fn context_remove(name: &str) -> Result<(), Failure> {
    let mut contexts = credentials::load().unwrap_or_default();
    if contexts.contexts.remove(name).is_none() {
        return Err(unknown_context(name));
    }
    if contexts.current.as_deref() == Some(name) {
        contexts.current = contexts.contexts.keys().next().cloned();
    }
    if contexts.contexts.is_empty() {
        credentials::remove()?;
    } else {
        credentials::save(&contexts)?;
    }
    println!("Removed context {name}.");
    Ok(())
}
