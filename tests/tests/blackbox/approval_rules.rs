//! Approval rules: every match field, first-match order, `deny` answered
//! as `write_denied` with the rule, `ask` in auto mode, reload on SIGHUP
//! (valid and not), start-up refusal, and `approvals check`.

use openworkd_tests::{Auth, Daemon, HOST_TOKEN, TOKEN, bin, http, workspace_id};
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};
use std::process::Command;

/// Manual mode with a short timeout: a write no rule allows is denied
/// (`timeout`) soon.
fn with_rules(rules: Value) -> Daemon {
    let config = json!({
        "workspaces": [{"path": "../../ws"}, {"path": "../../home"}],
        "approval": {"mode": "manual", "timeoutMs": 1200, "rules": rules}
    });
    Daemon::builder()
        .approval_from_config()
        .config(&serde_json::to_string_pretty(&config).unwrap())
        .start()
}

fn write(d: &Daemon, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = d.request("POST", path, Auth::Bearer(token), Some(&body.to_string()));
    (r.status, r.json())
}

fn upload(d: &Daemon, token: &str, bytes: usize) -> u16 {
    let form = Form::new().part("file", Part::bytes(vec![b'x'; bytes]).file_name("f.txt"));
    http()
        .post(format!("{}{}", d.base, d.ws("inbox")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn skill(name: &str) -> Value {
    json!({"name": name, "description": "d", "content": "# x\n"})
}

/// The newest history entry.
fn last_decision(d: &Daemon) -> Value {
    let r = d.request(
        "GET",
        "/approvals/history?limit=1",
        Auth::Host(HOST_TOKEN),
        None,
    );
    r.json()["items"][0].clone()
}

#[track_caller]
fn assert_rule_denied((status, body): (u16, Value), rule: &str) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "write_denied");
    assert_eq!(body["details"]["reason"], "rule");
    assert_eq!(body["details"]["rule"], rule);
}

#[test]
fn each_field_decides_and_the_first_matching_rule_wins() {
    let d = with_rules(json!([
        {"name": "no-plugins", "match": {"action": "plugins.*"}, "decision": "deny"},
        {"name": "owner-uploads", "match": {"action": "workspace.inbox.upload", "scope": "owner", "maxBytes": 100}, "decision": "allow"},
        {"name": "docs", "match": {"paths": [".opencode/skills/docs-*/**"]}, "decision": "allow"},
        {"name": "bot", "match": {"token": "ci-bot"}, "decision": "allow"},
        {"name": "no-deploy", "match": {"paths": [".opencode/commands/deploy.md"]}, "decision": "deny"},
        {"name": "commands", "match": {"action": "commands.*"}, "decision": "allow"}
    ]));

    // action
    assert_rule_denied(
        write(&d, TOKEN, &d.ws("plugins"), json!({"spec": "p"})),
        "no-plugins",
    );
    let decided = last_decision(&d);
    assert_eq!(decided["decision"], "deny");
    assert_eq!(decided["decidedBy"], "rule:no-plugins");
    assert!(
        !d.read_file("opencode.json")
            .unwrap_or_default()
            .contains("\"p\"")
    );

    // scope + maxBytes: both must hold, else the mode decides (timeout).
    let owner = d.issue_token("owner");
    assert_eq!(upload(&d, &owner, 10), 200);
    assert_eq!(last_decision(&d)["decidedBy"], "rule:owner-uploads");
    assert_eq!(upload(&d, &owner, 500), 403, "over maxBytes");
    assert_eq!(last_decision(&d)["decision"], "timeout");
    assert_eq!(upload(&d, TOKEN, 10), 403, "not an owner");

    // paths: every path of the write must match.
    assert_eq!(
        write(&d, TOKEN, &d.ws("skills"), skill("docs-guide")).0,
        200
    );
    assert_eq!(last_decision(&d)["decidedBy"], "rule:docs");
    assert_eq!(write(&d, TOKEN, &d.ws("skills"), skill("other")).0, 403);

    // token, by label
    let r = d.request(
        "POST",
        "/tokens",
        Auth::Host(HOST_TOKEN),
        Some(r#"{"scope":"collaborator","label":"ci-bot"}"#),
    );
    let bot = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(write(&d, &bot, &d.ws("skills"), skill("by-bot")).0, 200);
    assert_eq!(last_decision(&d)["decidedBy"], "rule:bot");
    // ...and by id.
    let bot_id = r.json()["id"].as_str().unwrap().to_owned();
    let v = d
        .ctl_as_host(&[
            "--json",
            "approvals",
            "check",
            "--action",
            "mcp.add",
            "--as-token",
            &bot_id,
        ])
        .ok()
        .json();
    assert_eq!(v["rule"], "bot");

    // first match: deploy.md is denied before `commands` allows.
    let cmd = |name: &str| json!({"name": name, "template": "run it"});
    assert_rule_denied(
        write(&d, TOKEN, &d.ws("commands"), cmd("deploy")),
        "no-deploy",
    );
    assert_eq!(write(&d, TOKEN, &d.ws("commands"), cmd("build")).0, 200);
    assert_eq!(last_decision(&d)["decidedBy"], "rule:commands");
}

/// A file-session write of `text` to `path`: its status and body.
fn write_file(d: &Daemon, path: &str, text: &str) -> (u16, Value) {
    use base64::Engine;
    let r = d.request(
        "POST",
        &d.ws("files/sessions"),
        Auth::Bearer(TOKEN),
        Some(r#"{"write":true}"#),
    );
    let sid = r.json()["session"]["id"].as_str().unwrap().to_owned();
    let body = json!({"writes": [{"path": path, "contentBase64": base64::engine::general_purpose::STANDARD.encode(text)}]});
    write(
        d,
        TOKEN,
        &format!("/files/sessions/{sid}/write-batch"),
        body,
    )
}

#[test]
fn path_rules_see_where_a_write_lands_through_a_symlink() {
    let d = with_rules(json!([
        {"name": "docs", "match": {"paths": ["docs/**"]}, "decision": "allow"},
        {"name": "no-private", "match": {"paths": ["private/**"]}, "decision": "deny"}
    ]));
    std::fs::create_dir_all(d.workspace.join("docs")).unwrap();
    std::fs::create_dir_all(d.workspace.join("private")).unwrap();
    std::os::unix::fs::symlink("../private", d.workspace.join("docs/link")).unwrap();
    let (status, body) = write_file(&d, "docs/a.md", "a");
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_decision(&d)["decidedBy"], "rule:docs");
    // Through the link the write would land in private/: the deny rule
    // holds, the allow rule does not.
    assert_rule_denied(write_file(&d, "docs/link/b.md", "b"), "no-private");
    assert!(!d.workspace.join("private/b.md").exists());
    // `approvals check` sees it the same way.
    let r = d.request(
        "POST",
        "/approvals/check",
        Auth::Host(HOST_TOKEN),
        Some(r#"{"action":"workspace.files.session.write","paths":["docs/link/b.md"]}"#),
    );
    assert_eq!(r.json()["rule"], "no-private", "{}", r.text);
}

#[test]
fn a_workspace_rule_names_it_by_id_or_path() {
    let config = |rule_ws: &str| {
        json!({
            "workspaces": [{"path": "../../ws"}, {"path": "../../home"}],
            "approval": {"mode": "manual", "timeoutMs": 800, "rules": [
                {"name": "home", "match": {"workspace": rule_ws}, "decision": "allow"}
            ]}
        })
    };
    // The temp root is only known after start: start, then write the rules
    // and reload.
    let d = Daemon::builder()
        .approval_from_config()
        .config(&config("none").to_string())
        .start();
    let home = d.root().join("home");
    let home_id = workspace_id(&home);
    let path = format!("/workspace/{home_id}/skills");
    let config_path = d.root().join("config/openwork/server.json");
    for (n, name) in [home.display().to_string(), home_id.clone()]
        .iter()
        .enumerate()
    {
        std::fs::write(&config_path, config(name).to_string()).unwrap();
        d.hangup("SIGHUP: configuration", n + 1);
        assert_eq!(
            write(&d, TOKEN, &path, skill(&format!("s{n}"))).0,
            200,
            "{name}"
        );
        assert_eq!(last_decision(&d)["decidedBy"], "rule:home");
        // The other workspace is not matched.
        assert_eq!(
            write(&d, TOKEN, &d.ws("skills"), skill(&format!("t{n}"))).0,
            403
        );
    }
}

#[test]
fn rules_reload_on_sighup_and_a_bad_set_is_refused() {
    let config = |rules: Value| {
        json!({"workspaces": [{"path": "../../ws"}], "approval": {"mode": "auto", "rules": rules}})
            .to_string()
    };
    let d = Daemon::builder()
        .approval_from_config()
        .config(&config(json!([])))
        .start();
    let config_path = d.root().join("config/openwork/server.json");
    assert_eq!(
        write(&d, TOKEN, &d.ws("plugins"), json!({"spec": "a"})).0,
        200
    );
    assert_eq!(last_decision(&d)["decidedBy"], "auto");

    std::fs::write(
        &config_path,
        config(json!([
            {"name": "no-plugins", "match": {"action": "plugins.add"}, "decision": "deny"},
            {"name": "ask-mcp", "match": {"action": "mcp.*"}, "decision": "ask"}
        ])),
    )
    .unwrap();
    d.hangup("SIGHUP: configuration reloaded", 1);
    assert_rule_denied(
        write(&d, TOKEN, &d.ws("plugins"), json!({"spec": "b"})),
        "no-plugins",
    );
    // `ask` asks the host even in auto mode.
    let waiting = d.write_in_background(
        "POST",
        &d.ws("mcp"),
        &json!({"name": "n", "config": {"type": "remote", "url": "https://example.com/mcp"}})
            .to_string(),
    );
    d.pending(1);
    assert_eq!(d.reply_to_pending("allow").status, 200);
    assert_eq!(waiting.join().unwrap().0, 200);
    assert_eq!(last_decision(&d)["decidedBy"], "host");

    // A bad set: refused, named with its line; the running set stays.
    std::fs::write(
        &config_path,
        serde_json::to_string_pretty(&json!({
            "workspaces": [{"path": "../../ws"}],
            "approval": {"mode": "auto", "rules": [{"name": "typo", "match": {"action": "plugin.*"}, "decision": "deny"}]}
        }))
        .unwrap(),
    )
    .unwrap();
    d.hangup("configuration not reloaded", 1);
    let out = d.output();
    assert!(
        out.contains("matches no action") && out.contains("line "),
        "{out}"
    );
    assert_rule_denied(
        write(&d, TOKEN, &d.ws("plugins"), json!({"spec": "c"})),
        "no-plugins",
    );
}

#[test]
fn a_bad_rule_stops_startup_naming_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\n  \"approval\": {\n    \"rules\": [\n      {\"name\": \"ok\", \"decision\": \"allow\"},\n      {\"name\": \"bad\",\n       \"match\": {\"scope\": \"admin\"},\n       \"decision\": \"deny\"}\n    ]\n  }\n}\n";
    let config = dir.path().join("server.json");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(bin("openworkd"))
        .args(["--config"])
        .arg(&config)
        .args(["--port", "0"])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&config.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains("scope \"admin\""), "names the problem: {err}");
    let line: usize = err
        .split("line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("names the line: {err}"));
    assert!(
        (5..=7).contains(&line),
        "the bad rule spans lines 5-7: {err}"
    );
}

#[test]
fn approvals_check_says_what_would_decide_without_writing() {
    let d = with_rules(json!([
        {"name": "no-plugins", "match": {"action": "plugins.*"}, "decision": "deny"},
        {"name": "docs", "match": {"action": "skills.upsert", "paths": ["docs/**"], "scope": "collaborator"}, "decision": "allow"},
        {"name": "bot", "match": {"token": "ci-bot", "maxBytes": 10}, "decision": "allow"}
    ]));
    let check = |args: &[&str]| {
        let mut full = vec!["--json", "approvals", "check"];
        full.extend_from_slice(args);
        d.ctl_as_host(&full).ok().json()
    };
    let v = check(&["--action", "plugins.add"]);
    assert_eq!(
        v,
        json!({"decision": "deny", "rule": "no-plugins", "decidedBy": "rule:no-plugins"})
    );
    let cases: [(&[&str], Value); 4] = [
        (
            &[
                "--action",
                "skills.upsert",
                "--path",
                "docs/a/b.md",
                "--scope",
                "collaborator",
            ],
            json!("docs"),
        ),
        // Every path must match.
        (
            &[
                "--action",
                "skills.upsert",
                "--path",
                "docs/a.md",
                "--path",
                "src/x",
                "--scope",
                "collaborator",
            ],
            Value::Null,
        ),
        (
            &[
                "--action",
                "mcp.add",
                "--as-token",
                "ci-bot",
                "--bytes",
                "5",
            ],
            json!("bot"),
        ),
        (
            &[
                "--action",
                "mcp.add",
                "--as-token",
                "ci-bot",
                "--bytes",
                "50",
            ],
            Value::Null,
        ),
    ];
    for (args, rule) in cases {
        let v = check(args);
        assert_eq!(v["rule"], rule, "{args:?}");
        if rule.is_null() {
            assert_eq!(
                v,
                json!({"decision": "ask", "rule": null, "decidedBy": "host"})
            );
        }
    }
    let v = check(&["--action", "plugins.add", "--workspace", &d.ws_id]);
    assert_eq!(v["rule"], "no-plugins");
    let text = d
        .ctl_as_host(&["approvals", "check", "--action", "plugins.remove"])
        .ok();
    assert!(
        text.stdout.contains("denied by rule no-plugins"),
        "{text:?}"
    );

    // Errors: an unknown action or workspace, a wrong scope; host only.
    let bad = d.ctl_as_host(&["approvals", "check", "--action", "plugin.add"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("plugins.add"),
        "lists the actions: {bad:?}"
    );
    for (body, status, code) in [
        (
            r#"{"action":"plugins.add","workspace":"ws_nope"}"#,
            404,
            "workspace_not_found",
        ),
        (
            r#"{"action":"plugins.add","scope":"admin"}"#,
            400,
            "invalid_payload",
        ),
        ("{}", 400, "invalid_payload"),
    ] {
        let r = d.request(
            "POST",
            "/approvals/check",
            Auth::Host(HOST_TOKEN),
            Some(body),
        );
        assert_eq!(
            (r.status, r.code()),
            (status, code.to_owned()),
            "{body}: {}",
            r.text
        );
    }
    let r = d.request(
        "POST",
        "/approvals/check",
        Auth::Bearer(TOKEN),
        Some(r#"{"action":"plugins.add"}"#),
    );
    assert_eq!(r.status, 401);
    // Nothing was queued or recorded.
    let history = d
        .request("GET", "/approvals/history", Auth::Host(HOST_TOKEN), None)
        .json();
    assert_eq!(history["items"], json!([]));
}
