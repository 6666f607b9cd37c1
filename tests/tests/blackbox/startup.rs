//! Flags, environment, config file and boot output.

use openworkd_tests::{Auth, Daemon, bin, workspace_id};
use serde_json::json;
use std::process::Command;

#[test]
fn version_and_help() {
    let out = Command::new(bin("openworkd"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", openwork_shared::COMPAT_VERSION)
    );
    let out = Command::new(bin("openworkd"))
        .env("OPENWORKD_REPORT_VERSION", "0.11.200")
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0.11.200\n");
    let out = Command::new(bin("openworkd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--workspace",
        "--approval",
        "--read-only",
        "OPENWORK_TOKEN",
        "OPENWORK_SERVER_CONFIG",
    ] {
        assert!(help.contains(needle), "help lacks {needle}");
    }
}

#[test]
fn generated_tokens_are_printed_and_work() {
    let d = Daemon::builder().with_workspace().without_tokens().start();
    let out = d.output();
    let find = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {prefix:?} in {out}"))
    };
    let client = find("Client token: ");
    let host = find("Host token: ");
    assert_eq!(client.len(), 36, "a UUID: {client}");
    assert!(out.contains("Workspaces: 1"));
    assert_eq!(
        d.request("GET", "/status", Auth::Bearer(&client), None)
            .json()["tokenSource"],
        json!({"client": "generated", "host": "generated"})
    );
    assert_eq!(
        d.request("GET", "/approvals", Auth::Host(&host), None)
            .status,
        200
    );
}

#[test]
fn given_tokens_are_never_printed() {
    let d = Daemon::builder().with_workspace().arg("--verbose").start();
    let out = d.wait_for(std::time::Duration::from_secs(5), || {
        let out = d.output();
        out.contains("Host token source").then_some(out)
    });
    assert!(
        !out.contains(openworkd_tests::TOKEN) && !out.contains(openworkd_tests::HOST_TOKEN),
        "{out}"
    );
    assert!(out.contains("Approval: auto (30000ms)"), "{out}");
    assert!(out.contains("Token source: cli"), "{out}");
}

#[test]
fn config_file_workspaces_resolve_against_its_folder() {
    let config = json!({
        "token": "file-token",
        "approval": {"mode": "auto", "timeoutMs": 1234},
        "workspaces": [{"path": "../../projects/alpha", "name": "Alpha", "baseUrl": "http://127.0.0.1:9"}],
        "readOnly": true,
        "corsOrigins": ["http://localhost:5173"]
    });
    let d = Daemon::builder()
        .without_tokens()
        .config(&config.to_string())
        .start();
    let alpha = d.root().join("projects/alpha");
    let status = d
        .request("GET", "/status", Auth::Bearer("file-token"), None)
        .json();
    assert_eq!(status["workspace"]["path"], alpha.display().to_string());
    assert_eq!(status["workspace"]["name"], "Alpha");
    assert_eq!(status["activeWorkspaceId"], workspace_id(&alpha));
    assert_eq!(status["approval"]["timeoutMs"], 1234);
    assert_eq!(status["readOnly"], true);
    assert_eq!(status["corsOrigins"], json!(["http://localhost:5173"]));
    assert_eq!(status["tokenSource"]["client"], "file");
    assert_eq!(
        status["server"]["configPath"],
        d.root()
            .join("config/openwork/server.json")
            .display()
            .to_string()
    );
    let caps = d
        .request("GET", "/capabilities", Auth::Bearer("file-token"), None)
        .json();
    assert_eq!(caps["proxy"]["opencode"], true);
}

#[test]
fn flag_beats_env_beats_file() {
    let config = json!({"token": "file-token", "approval": {"timeoutMs": 1}});
    let d = Daemon::builder()
        .without_tokens()
        .with_workspace()
        .config(&config.to_string())
        .env("OPENWORK_TOKEN", "env-token")
        .env("OPENWORK_APPROVAL_TIMEOUT_MS", "2000")
        .env("OPENWORK_READONLY", "yes")
        .args(&["--approval-timeout", "3000"])
        .start();
    assert_eq!(
        d.request("GET", "/status", Auth::Bearer("file-token"), None)
            .status,
        401
    );
    let status = d
        .request("GET", "/status", Auth::Bearer("env-token"), None)
        .json();
    assert_eq!(status["approval"]["timeoutMs"], 3000);
    assert_eq!(status["readOnly"], true);
    assert_eq!(status["tokenSource"]["client"], "env");

    // OPENWORK_WORKSPACES is used when no --workspace is given; unknown flags are ignored.
    let d = Daemon::builder()
        .env("OPENWORK_WORKSPACES", r#"["@root/a", "@root/b"]"#)
        .args(&["--some-future-flag", "--another=1"])
        .start();
    let list = d.get("/workspaces").json();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["activeId"], workspace_id(&d.root().join("a")));
}

#[test]
fn cli_workspace_relative_to_current_directory() {
    // The harness runs the daemon in the temp root, so `ws` is `<root>/ws`.
    let d = Daemon::builder().args(&["--workspace", "ws/"]).start();
    assert_eq!(d.get("/workspaces").json()["activeId"], d.ws_id);
}

#[test]
fn no_workspaces_is_not_an_error() {
    let d = Daemon::builder().start();
    assert!(d.output().contains("No workspaces configured."));
    let status = d.get("/status").json();
    assert_eq!(status["activeWorkspaceId"], serde_json::Value::Null);
    assert_eq!(status["workspace"], serde_json::Value::Null);
}

#[test]
fn malformed_config_is_a_clear_startup_error() {
    let err = match Daemon::builder()
        .with_workspace()
        .config("{\"port\": 80,,}")
        .try_start()
    {
        Ok(_) => panic!("started with a malformed config"),
        Err((_, err)) => err,
    };
    assert!(err.contains("server.json"), "{err}");
    assert!(err.contains("line 1"), "{err}");

    let out = Command::new(bin("openworkd"))
        .args([
            "--config",
            "/nonexistent/dir/server.json",
            "--port",
            "notaport",
            "--version",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "--version ignores the rest");
}

#[test]
fn json_logs_and_request_lines() {
    let d = Daemon::builder()
        .with_workspace()
        .args(&["--log-format", "json"])
        .start();
    d.get("/status");
    d.request("GET", "/status", Auth::Bearer("wrong"), None);
    let lines = d.wait_for(std::time::Duration::from_secs(5), || {
        let out = d.output();
        (out.lines().filter(|l| l.contains("/status")).count() >= 2).then_some(out)
    });
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let failed = records
        .iter()
        .find(|r| r["body"].as_str().unwrap().starts_with("GET /status 401"))
        .unwrap();
    assert_eq!(failed["severityText"], "WARN");
    assert_eq!(failed["attributes"]["auth"], "client");
    assert_eq!(failed["resource"]["service.name"], "openwork-server");
    assert!(
        !lines.contains("wrong") && !lines.contains(openworkd_tests::TOKEN),
        "a token reached the log"
    );
}

/// A thread as (name, nice value, scheduling policy number: 0 normal,
/// 3 batch, 5 idle), from its `stat` in /proc.
fn thread_scheduling(stat: &str) -> (String, i64, u32) {
    let (head, rest) = stat.rsplit_once(')').unwrap();
    let name = head.split_once('(').unwrap().1.to_owned();
    // Fields from the third (state) on: nice is the 19th, policy the 41st.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    (
        name,
        fields[16].parse().unwrap(),
        fields[38].parse().unwrap(),
    )
}

/// Every thread of the daemon, as [`thread_scheduling`] gives it.
fn threads_scheduling(d: &Daemon) -> Vec<(String, i64, u32)> {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", d.pid())).unwrap();
    tasks
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("stat")).ok())
        .map(|stat| thread_scheduling(&stat))
        .collect()
}

/// Start a daemon, make it write (so the threads that do file work
/// exist), and return how its threads are scheduled.
fn scheduled(builder: openworkd_tests::Builder) -> Vec<(String, i64, u32)> {
    let d = builder.with_workspace().start();
    let skill = r##"{"name":"sched","description":"d","content":"# s\n"}"##;
    let written = d.post(&d.ws("skills"), skill);
    assert_eq!(written.status, 200, "{}", written.text);
    let threads = threads_scheduling(&d);
    assert!(threads.len() >= 4, "{threads:?}");
    threads
}

#[test]
fn threads_run_under_the_batch_policy_unless_told_otherwise() {
    // The daemon starts at the nice value of the tests (0 unless they
    // run niced themselves).
    let (_, own, _) = thread_scheduling(&std::fs::read_to_string("/proc/self/stat").unwrap());
    // Default: every thread, the ones started for file work included, is
    // under SCHED_BATCH, at the nice value it was started with.
    for (name, nice, policy) in scheduled(Daemon::builder()) {
        assert_eq!((policy, nice), (3, own), "thread {name}");
    }
    let niced = scheduled(Daemon::builder().launched_by(&["nice", "-n", "7"]));
    for (name, nice, policy) in niced {
        assert_eq!((policy, nice), (3, (own + 7).min(19)), "thread {name}");
    }
    // Asked for the normal policy: flag, environment, config file, with
    // the flag first.
    let normal = [
        Daemon::builder().arg("--cpu-scheduling").arg("normal"),
        Daemon::builder().env("OPENWORK_CPU_SCHEDULING", "Normal"),
        Daemon::builder().config(r#"{"cpuScheduling": "normal"}"#),
        Daemon::builder()
            .config(r#"{"cpuScheduling": "batch"}"#)
            .env("OPENWORK_CPU_SCHEDULING", "batch")
            .args(&["--cpu-scheduling", "normal"]),
    ];
    for builder in normal {
        for (name, nice, policy) in scheduled(builder) {
            assert_eq!((policy, nice), (0, own), "thread {name}");
        }
    }
    let d = Daemon::builder()
        .args(&["--verbose", "--cpu-scheduling", "normal"])
        .start();
    let out = d.wait_for(std::time::Duration::from_secs(5), || {
        let out = d.output();
        out.contains("CPU scheduling:").then_some(out)
    });
    assert!(out.contains("CPU scheduling: normal"), "{out}");
    // A policy the daemon was started under other than normal is the
    // operator's, and kept.
    let idle = scheduled(Daemon::builder().launched_by(&["chrt", "--idle", "0"]));
    for (name, _, policy) in idle {
        assert_eq!(policy, 5, "thread {name}");
    }
    // A value that is not a policy stops the start, naming where it came from.
    for (builder, source) in [
        (
            Daemon::builder().args(&["--cpu-scheduling", "fast"]),
            "--cpu-scheduling",
        ),
        (
            Daemon::builder().env("OPENWORK_CPU_SCHEDULING", "rt"),
            "OPENWORK_CPU_SCHEDULING",
        ),
        (
            Daemon::builder().config(r#"{"cpuScheduling": "idle"}"#),
            "cpuScheduling",
        ),
    ] {
        let err = match builder.try_start() {
            Ok(_) => panic!("started with a bad {source}"),
            Err((_, err)) => err,
        };
        assert!(
            err.contains(source) && err.contains("batch or normal"),
            "{err}"
        );
    }
}
