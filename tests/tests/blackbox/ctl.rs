//! The real `openworkctl` binary against the real daemon.

use openworkd_tests::{Daemon, HOST_TOKEN, TOKEN};
use serde_json::{Value, json};
use std::thread;
use std::time::Duration;

fn pending_id(d: &Daemon) -> String {
    d.wait_for(Duration::from_secs(10), || {
        let items = d.ctl_as_host(&["--json", "approvals", "list"]).ok().json()["items"].clone();
        items[0]["id"].as_str().map(str::to_owned)
    })
}

fn add_plugin_in_background(d: &Daemon, spec: &str) -> thread::JoinHandle<(u16, Value)> {
    d.write_in_background("POST", &d.ws("plugins"), &json!({"spec": spec}).to_string())
}

#[test]
fn status_and_workspaces() {
    let d = Daemon::start();
    let run = d.ctl(&["--token", TOKEN, "status"]).ok();
    assert!(
        run.stdout.contains(openwork_shared::COMPAT_VERSION),
        "{run:?}"
    );
    assert!(run.stdout.contains(&d.ws_id), "{run:?}");
    let json = d.ctl(&["--token", TOKEN, "status", "--json"]).ok().json();
    assert_eq!(json["health"]["ok"], true);
    assert_eq!(json["status"]["workspaceCount"], 1);
    // Without a token only health is shown.
    let json = d.ctl(&["status", "--json"]).ok().json();
    assert_eq!(json["status"], Value::Null);

    let run = d.ctl(&["--token", TOKEN, "workspaces", "list"]).ok();
    let row = run
        .stdout
        .lines()
        .find(|l| l.contains(&d.ws_id))
        .unwrap_or_else(|| panic!("{run:?}"));
    assert!(
        row.contains('*') && row.contains(&d.workspace.display().to_string()),
        "{row}"
    );
    let json = d
        .ctl(&["--token", TOKEN, "--json", "workspaces", "list"])
        .ok()
        .json();
    assert_eq!(json["activeId"], d.ws_id);
}

#[test]
fn tokens_create_list_revoke() {
    let d = Daemon::start();
    let created = d
        .ctl_as_host(&[
            "--json", "tokens", "create", "--scope", "viewer", "--label", "ci bot",
        ])
        .ok()
        .json();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("owt_"));
    let human = d
        .ctl_as_host(&["tokens", "create", "--scope", "owner"])
        .ok();
    assert!(
        human.stdout.contains("only time the token is shown"),
        "{human:?}"
    );

    let run = d.ctl_as_host(&["tokens", "list"]).ok();
    assert!(
        run.stdout.contains(&id) && run.stdout.contains("ci bot") && run.stdout.contains("viewer"),
        "{run:?}"
    );
    assert!(!run.stdout.contains(&token));
    let list = d.ctl_as_host(&["--json", "tokens", "list"]).ok().json();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // The viewer token reads, but cannot upload; the error names the scope needed.
    d.ctl(&["--token", &token, "workspaces", "list"]).ok();
    let file = d.root().join("note.txt");
    std::fs::write(&file, "hi").unwrap();
    let denied = d.ctl(&["--token", &token, "inbox", "upload", file.to_str().unwrap()]);
    assert_eq!(denied.code, 4, "{denied:?}");
    assert!(
        denied
            .stderr
            .contains("needs a collaborator token; yours is viewer"),
        "{denied:?}"
    );

    d.ctl_as_host(&["tokens", "revoke", &id]).ok();
    let refused = d.ctl(&["--token", &token, "workspaces", "list"]);
    assert_eq!(refused.code, 4, "{refused:?}");
    assert!(
        refused.stderr.contains("refused the token") && refused.stderr.contains("hint:"),
        "{refused:?}"
    );
    let again = d.ctl_as_host(&["tokens", "revoke", &id]);
    assert_eq!(again.code, 6, "{again:?}");
    // Only a host/owner credential manages tokens.
    let no_host = d.ctl(&["--token", TOKEN, "tokens", "list"]);
    assert_eq!(no_host.code, 4);
    assert!(no_host.stderr.contains("--host-token"), "{no_host:?}");
}

#[test]
fn approvals_list_allow_deny() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    assert!(
        d.ctl_as_host(&["approvals", "list"])
            .ok()
            .stdout
            .contains("No pending approvals")
    );

    let waiting = add_plugin_in_background(&d, "allowed-plugin");
    let id = pending_id(&d);
    let table = d.ctl_as_host(&["approvals", "list"]).ok();
    assert!(
        table.stdout.contains("plugins.add") && table.stdout.contains("Add plugin allowed-plugin"),
        "{table:?}"
    );
    let run = d.ctl_as_host(&["approvals", "allow", &id]).ok();
    assert!(run.stdout.contains(&format!("Allowed {id}")), "{run:?}");
    assert_eq!(waiting.join().unwrap().0, 200);
    assert!(
        d.read_file("opencode.jsonc")
            .unwrap()
            .contains("allowed-plugin")
    );

    let waiting = add_plugin_in_background(&d, "denied-plugin");
    let id = pending_id(&d);
    let reply = d
        .ctl_as_host(&["--json", "approvals", "deny", &id])
        .ok()
        .json();
    assert_eq!(reply, json!({"ok": true, "allowed": false}));
    assert_eq!(waiting.join().unwrap().0, 403);
    assert!(
        !d.read_file("opencode.jsonc")
            .unwrap()
            .contains("denied-plugin")
    );

    let gone = d.ctl_as_host(&["approvals", "allow", &id]);
    assert_eq!(gone.code, 6, "{gone:?}");
    // An owner token works as the host credential.
    let owner = d.issue_token("owner");
    d.ctl(&["--token", &owner, "approvals", "list"]).ok();
}

/// Every string in `value`.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// What the server sends (file names in the inbox and outbox, the summary
/// a client's write carries, an error message) never reaches the terminal
/// as control characters: tables and messages show them escaped, JSON
/// holds them as `\uXXXX` (the same value).
#[test]
fn control_characters_from_the_server_are_shown_escaped() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    // A title change, a screen clear, an 8-bit CSI, a right-to-left override.
    let steering = "\u{1b}]0;title\u{7}\u{1b}[2J\u{9b}31m\u{202e}";
    for dir in ["outbox", "inbox"] {
        let folder = d.workspace.join(".opencode/openwork").join(dir);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("a{steering}b.txt")), "x").unwrap();
    }
    let waiting = add_plugin_in_background(&d, &format!("p{steering}"));
    let id = pending_id(&d);
    let raw = |text: &str| {
        text.chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}')
    };
    for args in [
        &["artifacts", "list"][..],
        &["inbox", "list"],
        &["approvals", "list"],
    ] {
        let table = d.ctl_as_host(args).ok();
        assert!(!raw(&table.stdout), "{args:?}: {:?}", table.stdout);
        assert!(
            table
                .stdout
                .contains("\\u{1b}]0;title\\u{7}\\u{1b}[2J\\u{9b}31m\\u{202e}"),
            "{args:?}: {:?}",
            table.stdout
        );
        let json = d.ctl_as_host(&[&["--json"], args].concat()).ok();
        assert!(!raw(&json.stdout), "{args:?}: {:?}", json.stdout);
        assert!(
            strings(&json.json()).iter().any(|s| s.contains(steering)),
            "{args:?}: {:?}",
            json.stdout
        );
    }
    // An error message the server sends back.
    let missing = d.ctl_as_host(&["artifacts", "get", &format!("x{steering}")]);
    assert!(!raw(&missing.stderr), "{missing:?}");
    d.ctl_as_host(&["approvals", "deny", &id]).ok();
    assert_eq!(waiting.join().unwrap().0, 403);
}

#[test]
fn approvals_watch_piped_prints_one_json_line_per_event() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    let waiting = add_plugin_in_background(&d, "watched-plugin");
    pending_id(&d);
    // Piped: what is pending now, as the stream's first events.
    let run = d
        .ctl_with(
            &["approvals", "watch", "--max", "1"],
            &[("OPENWORK_HOST_TOKEN", HOST_TOKEN)],
            "",
        )
        .ok();
    let line: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(line["event"], "approval.requested");
    assert!(line["id"].as_u64().is_some(), "{line}");
    assert_eq!(line["approval"]["summary"], "Add plugin watched-plugin");
    d.ctl_as_host(&[
        "approvals",
        "allow",
        line["approval"]["id"].as_str().unwrap(),
    ])
    .ok();
    assert_eq!(waiting.join().unwrap().0, 200);
}

/// `approvals watch` in a pseudo-terminal (util-linux `script`): the live
/// list shows a request pushed while it runs, `a` allows it, `q` quits.
#[test]
fn approvals_watch_in_a_terminal_allows_with_a_key() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    let ctl = openworkd_tests::bin("openworkctl");
    let command = format!(
        "{} --url {} --host-token {HOST_TOKEN} approvals watch",
        ctl.display(),
        d.base
    );
    let mut term = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env("HOME", d.root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux)");
    let mut keys = term.stdin.take().unwrap();
    let mut screen = term.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = screen.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let shows = |text: &str| {
        let text = text.to_owned();
        let seen = seen.clone();
        d.wait_for(Duration::from_secs(15), move || {
            seen.lock().unwrap().contains(&text).then_some(())
        });
    };
    shows("Nothing is waiting");
    let waiting = add_plugin_in_background(&d, "keyed-plugin");
    shows("Add plugin keyed-plugin");
    keys.write_all(b"a").unwrap();
    keys.flush().unwrap();
    assert_eq!(waiting.join().unwrap().0, 200);
    shows("by host");
    let history = d
        .ctl_as_host(&["--json", "approvals", "history"])
        .ok()
        .json();
    assert_eq!(history["items"][0]["decision"], "allow");
    keys.write_all(b"q").unwrap();
    keys.flush().unwrap();
    let status = d.wait_for(Duration::from_secs(10), || term.try_wait().unwrap());
    assert!(status.success(), "{status:?}");
}

#[test]
fn inbox_upload_and_list() {
    let d = Daemon::start();
    let small = d.root().join("a.txt");
    std::fs::write(&small, "alpha").unwrap();
    let big = d.root().join("big.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &data).unwrap();

    let out = d
        .ctl(&[
            "--token",
            TOKEN,
            "--json",
            "inbox",
            "upload",
            small.to_str().unwrap(),
            "--path",
            "notes/first.txt",
        ])
        .ok()
        .json();
    assert_eq!(
        out,
        json!([{"ok": true, "path": "notes/first.txt", "bytes": 5}])
    );
    assert_eq!(
        d.read_file(".opencode/openwork/inbox/notes/first.txt")
            .unwrap(),
        "alpha"
    );

    // Several files go into the --path folder.
    let run = d
        .ctl(&[
            "--token",
            TOKEN,
            "inbox",
            "upload",
            small.to_str().unwrap(),
            big.to_str().unwrap(),
            "--path",
            "batch",
            "--workspace",
            &d.ws_id,
        ])
        .ok();
    assert!(run.stdout.contains("batch/big.bin"), "{run:?}");
    assert_eq!(
        std::fs::read(d.workspace.join(".opencode/openwork/inbox/batch/big.bin")).unwrap(),
        data
    );

    let list = d
        .ctl(&["--token", TOKEN, "--json", "inbox", "list"])
        .ok()
        .json();
    let mut paths: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["batch/a.txt", "batch/big.bin", "notes/first.txt"]);

    let missing = d.ctl(&["--token", TOKEN, "inbox", "upload", "/nonexistent/file"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("cannot read /nonexistent/file"),
        "{missing:?}"
    );
}

#[test]
fn artifacts_list_and_get() {
    let d = Daemon::start();
    d.write_file(".opencode/openwork/outbox/reports/q3.csv", "a,b\n1,2\n");
    let list = d
        .ctl(&["--token", TOKEN, "--json", "artifacts", "list"])
        .ok()
        .json();
    let item = &list["items"][0];
    assert_eq!(item["path"], "reports/q3.csv");
    let id = item["id"].as_str().unwrap();
    let table = d.ctl(&["--token", TOKEN, "artifacts", "list"]).ok();
    assert!(table.stdout.contains("reports/q3.csv"), "{table:?}");

    // Default name from the server, in the current directory.
    let run = d.ctl(&["--token", TOKEN, "artifacts", "get", id]).ok();
    assert!(run.stdout.contains("Saved q3.csv"), "{run:?}");
    assert_eq!(
        std::fs::read_to_string(d.root().join("q3.csv")).unwrap(),
        "a,b\n1,2\n"
    );
    let out = d.root().join("copy.csv");
    d.ctl(&[
        "--token",
        TOKEN,
        "artifacts",
        "get",
        id,
        "-o",
        out.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a,b\n1,2\n");
    let piped = d
        .ctl(&["--token", TOKEN, "artifacts", "get", id, "-o", "-"])
        .ok();
    assert_eq!(piped.stdout, "a,b\n1,2\n");
    let missing = d.ctl(&["--token", TOKEN, "artifacts", "get", "bm9wZQ"]);
    assert_eq!(missing.code, 6, "{missing:?}");
}

#[test]
fn login_falls_back_to_a_private_file_and_logout_removes_it() {
    let d = Daemon::start();
    let run = d
        .ctl(&["login", "--token", TOKEN, "--host-token", HOST_TOKEN])
        .ok();
    assert!(run.stdout.contains("as collaborator"), "{run:?}");
    assert!(run.stdout.contains("no OS keyring is available"), "{run:?}");
    let file = d.root().join("home/.config/openworkctl/credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let name = d.base.trim_start_matches("http://");
    assert_eq!(saved["current"], name);
    assert_eq!(saved["contexts"][name]["url"], d.base);

    // Later commands need no flags at all.
    let run = openworkd_tests::run_isolated(
        &openworkd_tests::bin("openworkctl"),
        d.root(),
        &["--json", "approvals", "list"],
        &[],
        "",
    );
    assert_eq!(run.ok().json()["items"], json!([]));

    let run = d.ctl(&["--json", "logout"]).ok();
    assert_eq!(run.json()["removed"][0], file.display().to_string());
    assert!(!file.exists());

    // A login whose token the server refuses saves nothing.
    let bad = d.ctl(&["login", "--token", "wrong"]);
    assert_eq!(bad.code, 4);
    assert!(!file.exists());
    // Forcing the file store says so without mentioning a keyring.
    let run = d
        .ctl_with(
            &["--json", "login", "--host-token", HOST_TOKEN],
            &[("OPENWORKCTL_CREDENTIAL_STORE", "file")],
            "",
        )
        .ok();
    assert_eq!(run.json()["store"], "file");
}

#[test]
fn errors_exit_codes_and_json() {
    let d = Daemon::builder().with_workspace().manual(200).start();
    // Unreachable daemon.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = openworkd_tests::run_isolated(
        &openworkd_tests::bin("openworkctl"),
        d.root(),
        &[
            "--url",
            &format!("http://{closed}"),
            "--token",
            "x",
            "status",
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("cannot reach openworkd") && run.stderr.contains("--url"),
        "{run:?}"
    );

    // A write the host never answers: denied by timeout.
    let file = d.root().join("x.txt");
    std::fs::write(&file, "x").unwrap();
    let run = d.ctl(&["--token", TOKEN, "inbox", "upload", file.to_str().unwrap()]);
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr.contains("did not approve this write (timeout)"),
        "{run:?}"
    );
    let run = d.ctl(&[
        "--token",
        TOKEN,
        "--json",
        "inbox",
        "upload",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 5);
    assert_eq!(run.json()["server"]["code"], "write_denied");

    // Bad usage is exit 2, from the argument parser.
    assert_eq!(d.ctl(&["tokens", "create", "--scope", "admin"]).code, 2);

    let ro = Daemon::builder()
        .with_workspace()
        .arg("--read-only")
        .start();
    let run = ro.ctl(&["--token", TOKEN, "inbox", "upload", file.to_str().unwrap()]);
    assert_eq!(run.code, 5);
    assert!(run.stderr.contains("read-only"), "{run:?}");
}

#[test]
fn completions() {
    let d = Daemon::start();
    for shell in ["bash", "zsh", "fish"] {
        let run = d.ctl(&["completions", shell]).ok();
        assert!(
            run.stdout.contains("openworkctl") && run.stdout.contains("approvals"),
            "{shell}: {run:?}"
        );
    }
}

#[test]
fn a_bad_watch_interval_is_a_usage_error_not_a_panic() {
    let d = Daemon::start();
    for bad in ["inf", "NaN", "-1", "0", "2 weeks", "soon"] {
        let run = d.ctl_as_host(&["approvals", "watch", &format!("--interval={bad}")]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("--interval"), "{bad}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{bad}: {}", run.stderr);
    }
}

#[test]
fn contexts_keep_several_daemons_apart() {
    let a = Daemon::start();
    let b = Daemon::start();
    let file = [("OPENWORKCTL_CREDENTIAL_STORE", "file")];
    // Both runs share one home (a's), as one operator's machine would.
    let ctl = |args: &[&str]| {
        openworkd_tests::run_isolated(
            &openworkd_tests::bin("openworkctl"),
            a.root(),
            args,
            &file,
            "",
        )
    };
    let a_name = a.base.trim_start_matches("http://").to_owned();
    ctl(&[
        "login",
        &a.base,
        "--token",
        TOKEN,
        "--host-token",
        HOST_TOKEN,
    ])
    .ok();
    let run = ctl(&["login", &b.base, "--token", TOKEN, "--name", "b"]).ok();
    assert!(
        run.stdout.contains("context b is now in use"),
        "{}",
        run.stdout
    );

    let list = ctl(&["--json", "context", "list"]).ok().json();
    assert_eq!(list["current"], "b");
    let names: Vec<&str> = list["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![a_name.as_str(), "b"]);
    assert!(!list.to_string().contains(TOKEN), "tokens are never listed");

    // The current context, another one by name, and one by URL.
    let ws = |run: openworkd_tests::Run| run.ok().json()["activeId"].as_str().unwrap().to_owned();
    assert_eq!(ws(ctl(&["--json", "workspaces", "list"])), b.ws_id);
    assert_eq!(
        ws(ctl(&["--json", "--context", &a_name, "workspaces", "list"])),
        a.ws_id
    );
    assert_eq!(
        ws(ctl(&["--json", "--url", &a.base, "workspaces", "list"])),
        a.ws_id
    );
    ctl(&["context", "use", &a_name]).ok();
    assert_eq!(ws(ctl(&["--json", "workspaces", "list"])), a.ws_id);
    assert_eq!(ctl(&["--context", "nope", "workspaces", "list"]).code, 6);
    assert_eq!(ctl(&["context", "use", "nope"]).code, 6);
    ctl(&["context", "remove", &a_name]).ok();
    let list = ctl(&["--json", "context", "list"]).ok().json();
    assert_eq!(list["current"], "b");

    // Credentials saved before contexts existed read as `default`.
    let path = a.root().join("home/.config/openworkctl/credentials.json");
    let legacy = json!({"url": a.base, "token": TOKEN}).to_string();
    std::fs::write(&path, legacy).unwrap();
    let list = ctl(&["--json", "context", "list"]).ok().json();
    assert_eq!(list["current"], "default");
    assert_eq!(ws(ctl(&["--json", "workspaces", "list"])), a.ws_id);
}
