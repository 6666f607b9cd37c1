//! The real OpenWork CLI (`openwork`, npm package
//! openwork-orchestrator-linux-x64) against openworkd.

use openworkd_tests::{Daemon, HOST_TOKEN, Run, bin, free_port, peer, run_isolated};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::time::Duration;

fn openwork(d: &Daemon, args: &[&str]) -> Run {
    run_isolated(
        &peer("openwork-orchestrator-linux-x64", "openwork"),
        d.root(),
        args,
        &[],
        "",
    )
}

/// `openwork approvals ARGS --openwork-url <daemon> --host-token <token>`.
fn approvals(d: &Daemon, args: &[&str], host_token: &str) -> Run {
    let mut full = vec!["approvals"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--openwork-url", &d.base, "--host-token", host_token]);
    openwork(d, &full)
}

/// The first pending approval, as `openwork approvals list` prints it.
fn first_pending(d: &Daemon) -> Value {
    d.wait_for(Duration::from_secs(10), || {
        let run = approvals(d, &["list"], HOST_TOKEN).ok();
        let list: Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
        list["items"].get(0).cloned()
    })
}

#[test]
fn approvals_list_and_reply_allow() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    let body = json!({"name": "from-remote", "description": "d", "content": "body"});
    let waiting = d.write_in_background("POST", &d.ws("skills"), &body.to_string());
    let item = first_pending(&d);
    assert_eq!(item["action"], "skills.upsert");
    assert_eq!(item["summary"], "Upsert skill from-remote");

    let run = approvals(
        &d,
        &["reply", item["id"].as_str().unwrap(), "--allow"],
        HOST_TOKEN,
    )
    .ok();
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap(),
        json!({"ok": true, "allowed": true})
    );
    assert_eq!(waiting.join().unwrap().0, 200);
    assert!(
        d.workspace
            .join(".opencode/skills/from-remote/SKILL.md")
            .exists()
    );

    let run = approvals(&d, &["list"], "wrong");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("401") || run.stdout.contains("401"),
        "{run:?}"
    );
}

#[test]
fn approvals_reply_deny() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    let body =
        r#"{"name":"notion","config":{"type":"remote","url":"https://example.invalid/mcp"}}"#;
    let waiting = d.write_in_background("POST", &d.ws("mcp"), body);
    let item = first_pending(&d);
    let run = approvals(
        &d,
        &["reply", item["id"].as_str().unwrap(), "--deny"],
        HOST_TOKEN,
    )
    .ok();
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap()["allowed"],
        false
    );
    let (status, answer) = waiting.join().unwrap();
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("write_denied"))
    );
    assert!(d.read_file("opencode.jsonc").is_none());
}

#[test]
fn status_sees_the_server() {
    let d = Daemon::start();
    let run = openwork(&d, &["status", "--openwork-url", &d.base]).ok();
    assert!(run.stdout.contains("OpenWork server: ok"), "{run:?}");
}

/// `openwork start --read-only --check` launches openworkd read-only and
/// mints an owner token from it: tokens stay host operations on a read-only
/// server. (The orchestrator 0.18.1 is paired with opencode 1.17.11.)
#[test]
fn read_only_start_passes_the_orchestrators_checks() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(dir.path().join("home")).unwrap();
    let server = bin("openworkd");
    let engine = peer("opencode-for-orchestrator", "opencode");
    // The orchestrator polls the engine's health without a timeout, and a
    // request that reaches the engine while it starts can hang: on a busy
    // machine the run may stall before openworkd is even launched. Such a
    // stalled attempt (its log has no line of openworkd's) is ended and
    // tried again; anything else is judged.
    let mut attempt = 0;
    let (status, log_path) = loop {
        attempt += 1;
        let (openwork_port, opencode_port) = (free_port().to_string(), free_port().to_string());
        // Output goes to a file, not a pipe: the engine the orchestrator
        // started may keep a pipe open after the orchestrator itself exited.
        let log_path = dir.path().join(format!("openwork-{attempt}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child =
            std::process::Command::new(peer("openwork-orchestrator-linux-x64", "openwork"))
                .args([
                    "start",
                    "--workspace",
                    ws.to_str().unwrap(),
                    "--check",
                    "--no-tui",
                    "--read-only",
                    "--allow-external",
                    "--openwork-server-bin",
                    server.to_str().unwrap(),
                    "--opencode-bin",
                    engine.to_str().unwrap(),
                    "--sidecar-source",
                    "external",
                    "--opencode-source",
                    "external",
                    "--openwork-port",
                    &openwork_port,
                    "--opencode-port",
                    &opencode_port,
                ])
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", dir.path().join("home"))
                .current_dir(dir.path())
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if let Some(status) = status {
            break (status, log_path);
        }
        // End the orchestrator and everything it started.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
        let output = std::fs::read_to_string(&log_path).unwrap();
        assert!(
            attempt < 3 && !output.contains("[openwork-server]"),
            "attempt {attempt} did not finish: {output}"
        );
    };
    let output = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "{output}");
    assert!(output.contains("Checks: ok"), "{output}");
    assert!(output.contains("POST /tokens 201"), "{output}");
}
