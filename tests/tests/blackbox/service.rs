//! Running under a service manager: readiness over the notify socket,
//! SIGHUP reloads the configuration, SIGTERM stops the daemon cleanly.

use openworkd_tests::{Auth, Daemon, free_port};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

#[test]
fn readiness_and_signals_as_a_service_manager_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut d = Daemon::builder()
        .with_workspace()
        .env("NOTIFY_SOCKET", &socket_path.display().to_string())
        .start();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 on the notify socket");
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "READY=1");
    // Ready means serving.
    assert_eq!(d.request("GET", "/health", Auth::None, None).status, 200);

    d.hangup("SIGHUP: configuration", 1);
    assert_eq!(d.request("GET", "/health", Auth::None, None).status, 200);

    let status = d.terminate();
    assert!(status.success(), "{status:?}");
    let n = socket
        .recv(&mut buf)
        .expect("STOPPING=1 on the notify socket");
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "STOPPING=1");
}

#[test]
fn metrics_count_requests_by_route_template() {
    use openworkd_tests::HOST_TOKEN;
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
        .start();
    for _ in 0..3 {
        assert_eq!(d.get(&d.ws("config")).status, 200);
    }
    assert_eq!(d.get("/nowhere").status, 404);
    let purge = d.request(
        "PURGE",
        "/health",
        Auth::Bearer(openworkd_tests::TOKEN),
        None,
    );
    assert_eq!(purge.status, 404, "a method the route does not serve");
    let r = d.get("/metrics");
    assert_eq!(
        (r.status, r.code()),
        (401, "unauthorized".into()),
        "host only"
    );
    let r = d.request("GET", "/metrics", Auth::Host(HOST_TOKEN), None);
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text;
    assert!(
        text.contains(r#"openworkd_http_requests_total{method="GET",route="/workspace/{id}/config",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"method="GET",route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"method="OTHER",route="unmatched",status="404"} 1"#),
        "methods outside HTTP's own are one label: {text}"
    );
    assert!(
        text.contains("openworkd_http_request_duration_seconds_count 6"),
        "every answered request is timed (3 config, 2 not found, 1 refused): {text}"
    );
    assert!(text.contains("openworkd_http_request_duration_seconds_bucket"));
    assert!(text.contains("openworkd_pending_approvals 0"));
    assert!(text.contains("openworkd_file_sessions 0"));
    assert!(!text.contains(&d.ws_id), "no raw ids in labels");

    let public = Daemon::builder()
        .env("OPENWORK_METRICS_PUBLIC", "1")
        .env("OPENWORK_WATCH", "0")
        .start();
    assert_eq!(
        public.request("GET", "/metrics", Auth::None, None).status,
        200
    );
}

#[test]
fn request_logs_name_the_auth_mode_never_the_token() {
    use openworkd_tests::{HOST_TOKEN, TOKEN};
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
        .args(&["--log-format", "json"])
        .start();
    let scoped = d.issue_token("viewer");
    assert_eq!(d.get("/workspaces").status, 200);
    let r = d.request("GET", "/workspaces", Auth::Bearer(&scoped), None);
    assert_eq!(r.status, 200);
    let r = d.request(
        "GET",
        "/workspaces",
        Auth::Bearer("wrong-token-value"),
        None,
    );
    assert_eq!(r.status, 401);
    let log = d.wait_for(Duration::from_secs(10), || {
        let out = d.output();
        (out.matches("GET /workspaces").count() >= 3).then_some(out)
    });
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let requests: Vec<_> = lines
        .iter()
        .filter(|l| l["body"].as_str().unwrap().starts_with("GET /workspaces"))
        .collect();
    // Warnings are written at once, request lines within 20 ms: the order
    // of the lines may differ from the order of the requests.
    let with = |status: u64| {
        requests
            .iter()
            .filter(|l| l["attributes"]["status"] == status)
            .collect::<Vec<_>>()
    };
    let served = with(200);
    assert_eq!(served.len(), 2, "{log}");
    assert!(served.iter().all(|l| l["attributes"]["auth"] == "client"));
    assert!(
        served
            .iter()
            .all(|l| l["attributes"]["durationMs"].is_u64())
    );
    let refused = with(401);
    assert_eq!(refused.len(), 1, "{log}");
    assert_eq!(refused[0]["severityText"], "WARN");
    for secret in [TOKEN, HOST_TOKEN, scoped.as_str(), "wrong-token-value"] {
        assert!(!log.contains(secret), "a token reached the log");
    }
}

/// Request lines are formatted by the log writer, after the answers: each
/// still tells when its request was answered, and its whole path, escaped.
#[test]
fn request_lines_tell_when_each_request_was_answered_and_its_whole_path() {
    use std::io::{Read, Write};
    use std::time::{SystemTime, UNIX_EPOCH};
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
        .args(&["--log-format", "json"])
        .start();
    let now_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let mut answered = Vec::new();
    for _ in 0..5 {
        let before = now_ms();
        assert_eq!(d.get("/workspaces").status, 200);
        answered.push((before, now_ms()));
        std::thread::sleep(Duration::from_millis(7));
    }
    // A burst on fresh connections, which the runtime spreads over its
    // threads: their lines still leave in the order they were answered.
    let addr = d.base.trim_start_matches("http://").to_owned();
    let raw_get = |target: &[u8]| {
        let mut raw = std::net::TcpStream::connect(&addr).unwrap();
        raw.write_all(
            &[
                b"GET ",
                target,
                b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ]
            .concat(),
        )
        .unwrap();
        let mut answer = String::new();
        raw.read_to_string(&mut answer).unwrap();
        answer
    };
    for _ in 0..60 {
        assert!(raw_get(b"/health").starts_with("HTTP/1.1 200"));
    }
    let long = format!("/nowhere/{}", "long-".repeat(60));
    assert_eq!(d.get(&long).status, 404);
    // A quote and a backslash, sent as they are (clients encode them).
    let answer = raw_get(b"/odd\"path\\x");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    let log = d.wait_for(Duration::from_secs(10), || {
        let out = d.output();
        (out.matches("GET /workspaces 200").count() >= 5 && out.contains("/odd")).then_some(out)
    });
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let times: Vec<u64> = lines
        .iter()
        .filter(|l| {
            l["body"]
                .as_str()
                .unwrap()
                .starts_with("GET /workspaces 200")
        })
        .map(|l| l["timeUnixNano"].as_str().unwrap().parse::<u64>().unwrap() / 1_000_000)
        .collect();
    assert_eq!(times.len(), 5, "{log}");
    let made: Vec<u64> = lines
        .iter()
        .map(|l| l["timeUnixNano"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        made.windows(2).all(|w| w[0] <= w[1]),
        "lines out of time order: {log}"
    );
    for ((before, after), at) in answered.iter().zip(&times) {
        assert!(
            before.saturating_sub(1) <= *at && *at <= after + 1,
            "answered between {before} and {after} ms, logged at {at}"
        );
    }
    let path_of = |start: &str| {
        lines
            .iter()
            .find(|l| {
                l["attributes"]["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(start))
            })
            .unwrap_or_else(|| panic!("no line for {start}: {log}"))
            .clone()
    };
    let line = path_of("/nowhere/");
    assert_eq!(line["attributes"]["path"], long.as_str());
    assert_eq!(
        line["body"],
        format!("GET {long} 404 {}ms", line["attributes"]["durationMs"])
    );
    let line = path_of("/odd");
    assert_eq!(line["attributes"]["path"], "/odd\"path\\x");
    assert_eq!(line["attributes"]["status"], 404);
}

#[test]
fn the_openapi_document_describes_the_routes_that_exist() {
    use openworkd_tests::{HOST_TOKEN, TOKEN};
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
        .start();
    let r = d.request("GET", "/openapi.json", Auth::None, None);
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("WorkspaceConfig") && schemas.contains_key("ErrorBody"));

    // Every schema referred to anywhere is in the document.
    for name in doc.to_string().split("#/components/schemas/").skip(1) {
        let name = name.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "{name} is not in components");
    }

    // Call every documented operation once; the router tags each matched
    // route template in /metrics, so an undocumented-but-missing route shows.
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    assert!(operations.len() >= 45, "{} operations", operations.len());
    for (method, template) in &operations {
        let path = template
            .replace("/workspace/{id}", &format!("/workspace/{}", d.ws_id))
            .replace(['{', '}'], "");
        let body = matches!(method.as_str(), "POST" | "PATCH").then_some("{}");
        d.request_with(
            method,
            &path,
            &[
                ("Authorization", &format!("Bearer {TOKEN}")),
                ("X-OpenWork-Host-Token", HOST_TOKEN),
            ],
            body,
        );
    }
    let metrics = d
        .request("GET", "/metrics", Auth::Host(HOST_TOKEN), None)
        .text;
    for (method, template) in &operations {
        let label = format!(r#"method="{method}",route="{template}""#);
        assert!(
            metrics.contains(&label),
            "{method} {template} is not routed"
        );
    }
}

/// Send SIGHUP and wait for the `nth` reload (or refusal) to be logged.
#[test]
fn sighup_reloads_workspaces_cors_and_approval_without_dropping_connections() {
    let first = json!({
        "workspaces": [{"path": "../../ws"}],
        "approval": {"mode": "auto"},
        "corsOrigins": ["http://a.example"]
    });
    let d = Daemon::builder()
        .approval_from_config()
        .config(&first.to_string())
        .env("OPENWORK_EVENTS_KEEPALIVE_MS", "200")
        .start();
    let config_path = d.root().join("config/openwork/server.json");
    let two = d.root().join("two");
    std::fs::create_dir(&two).unwrap();
    let cors = |origin: &str| {
        let r = d.request_with("GET", "/health", &[("Origin", origin)], None);
        r.headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        cors("http://a.example").as_deref(),
        Some("http://a.example")
    );
    assert_eq!(
        d.get("/workspaces").json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A live event stream, opened before the reload.
    let stream = d.event_stream(&d.ws("events"));
    let mut lines = BufReader::new(stream).lines().map_while(Result::ok);

    let second = json!({
        "workspaces": [{"path": "../../ws"}, {"path": "../../two", "name": "Two"}],
        "approval": {"mode": "manual", "timeoutMs": 60000},
        "corsOrigins": ["http://b.example"]
    });
    std::fs::write(&config_path, second.to_string()).unwrap();
    d.hangup("SIGHUP: configuration", 1);
    assert!(
        d.output()
            .contains("configuration reloaded: 2 workspace(s)"),
        "{}",
        d.output()
    );

    let list = d.get("/workspaces").json();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ws", "Two"]);
    assert_eq!(list["activeId"], d.ws_id.as_str());
    assert_eq!(
        cors("http://b.example").as_deref(),
        Some("http://b.example")
    );
    assert_eq!(cors("http://a.example"), None);
    // The new workspace is watched: an edit on disk becomes a reload event.
    d.wait_for(Duration::from_secs(10), || {
        d.output().contains("Watching 2 workspace(s)").then_some(())
    });
    std::fs::write(two.join("opencode.json"), "{}").unwrap();
    let two_events = format!(
        "/workspace/{}/events",
        list["items"][1]["id"].as_str().unwrap()
    );
    d.wait_for(Duration::from_secs(10), || {
        let items = d.get(&two_events).json()["items"].clone();
        (items.as_array()?.iter().any(|e| e["reason"] == "config")).then_some(())
    });
    let status = d.get("/status").json();
    assert_eq!(
        status["approval"],
        json!({"mode": "manual", "timeoutMs": 60000})
    );
    assert_eq!(status["corsOrigins"], json!(["http://b.example"]));

    // Writes now wait for the host.
    let write = d.write_in_background("PATCH", &d.ws("config"), r#"{"opencode":{"theme":"dark"}}"#);
    let reply = d.reply_to_pending("allow");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let (status, body) = write.join().unwrap();
    assert_eq!(status, 200, "{body}");

    // The stream opened before the reload carries the write's event.
    let reason = lines
        .find_map(|l| l.strip_prefix("data: ").map(str::to_owned))
        .expect("an event on the stream opened before the reload");
    assert_eq!(
        serde_json::from_str::<Value>(&reason).unwrap()["reason"],
        "config"
    );

    // A configuration that no longer parses is refused; the running one stays.
    std::fs::write(&config_path, "{ not json").unwrap();
    d.hangup("SIGHUP: configuration", 2);
    assert!(
        d.output().contains("configuration not reloaded"),
        "{}",
        d.output()
    );
    assert_eq!(
        d.get("/workspaces").json()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(d.get("/status").json()["approval"]["mode"], "manual");

    // Nor is one that is not a regular file: a FIFO is not waited on.
    openworkd_tests::make_fifo(&config_path);
    d.hangup("configuration not reloaded", 2);
    assert_eq!(d.get("/status").json()["approval"]["mode"], "manual");
}

/// Binds the port given first, passes the socket as fd 3 the way systemd
/// does (LISTEN_FDS, LISTEN_PID of the process that then becomes the
/// daemon), and executes the rest of the command line.
const SOCKET_ACTIVATE: &str = r#"
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"#;

#[test]
fn serves_on_a_socket_passed_by_the_service_manager() {
    let port = free_port().to_string();
    // The daemon is told `--port 0` (any free port): serving on `port`
    // shows it took the socket it was given.
    let d = Daemon::builder()
        .with_workspace()
        .launched_by(&["python3", "-c", SOCKET_ACTIVATE, &port])
        .start();
    assert_eq!(d.base, format!("http://127.0.0.1:{port}"));
    assert!(
        d.output().contains("socket passed by the service manager"),
        "{}",
        d.output()
    );
    let r = d.request("GET", "/health", Auth::None, None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(d.get("/workspaces").json()["activeId"], d.ws_id.as_str());
}

/// The launchd agent is generated for the user who asks, with real paths
/// (no placeholder to edit), and is a valid property list.
#[test]
fn print_launchd_plist_names_this_binary_this_home_and_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home dir");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(openworkd_tests::bin("openworkd"))
        .args(["--print-launchd-plist", "--workspace", "projects/R&D"])
        .env("HOME", &home)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let plist = dir.path().join("agent.plist");
    std::fs::write(&plist, &out.stdout).unwrap();
    let script =
        "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))";
    let parsed = Command::new("python3")
        .args(["-c", script])
        .arg(&plist)
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let agent: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    let workspace = dir.path().join("projects/R&D").display().to_string();
    assert_eq!(
        agent["ProgramArguments"],
        json!([
            openworkd_tests::bin("openworkd").display().to_string(),
            "--workspace",
            workspace
        ])
    );
    let logs = home
        .join("Library/Logs/openworkd.log")
        .display()
        .to_string();
    assert_eq!(agent["StandardOutPath"], logs);
    assert_eq!(
        agent["EnvironmentVariables"]["OPENWORK_SERVER_CONFIG"],
        home.join("Library/Application Support/openwork/server.json")
            .display()
            .to_string()
    );
    assert_eq!(agent["Label"], "dev.openwork.openworkd");
}

/// Request lines are written by a buffered writer off the request path; a
/// clean stop writes out every one of them.
#[test]
fn no_request_line_is_lost_on_a_clean_stop() {
    let mut d = Daemon::builder().with_workspace().start();
    let count = 3_000;
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let base = d.base.clone();
            std::thread::spawn(move || {
                for i in 0..count / 4 {
                    let url = format!("{base}/health?n={t}-{i}");
                    let r = openworkd_tests::http().get(url).send().unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    assert!(d.terminate().success());
    // (The reader of the daemon's stdout may still be catching up.)
    let health_lines = || {
        let out = d.output();
        out.lines().filter(|l| l.starts_with("GET /health")).count()
    };
    d.wait_for(Duration::from_secs(10), || {
        (health_lines() >= count).then_some(())
    });
    assert_eq!(health_lines(), count, "every request line, once");
}

#[test]
fn sigterm_ends_open_event_streams_and_closes_idle_connections() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;
    let mut d = Daemon::builder().with_workspace().start();
    // A workspace's reload events and the host's approvals, as the desktop
    // app keeps them open; an idle kept-alive connection; one that never
    // sent a byte.
    let events = d.event_stream(&d.ws("events"));
    let approvals = openworkd_tests::client_builder()
        .build()
        .unwrap()
        .get(format!("{}/approvals", d.base))
        .header("X-OpenWork-Host-Token", openworkd_tests::HOST_TOKEN)
        .header("Accept", "text/event-stream")
        .send()
        .unwrap();
    assert_eq!(approvals.status(), 200);
    let addr = d.base.trim_start_matches("http://").to_owned();
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let silent = TcpStream::connect(&addr).unwrap();
    let ended = |mut conn: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let read = conn.read_to_end(&mut all);
            (read.is_ok(), String::from_utf8_lossy(&all).into_owned())
        })
    };
    let readers = [
        ended(Box::new(events)),
        ended(Box::new(approvals)),
        ended(Box::new(idle)),
        ended(Box::new(silent)),
    ];
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = d.terminate();
    let took = started.elapsed();
    assert!(status.success(), "exit status {status:?}");
    // Well within the grace requests under way get (10 s): nothing open
    // held the stop.
    assert!(took < Duration::from_secs(5), "the stop took {took:?}");
    let [events, approvals, idle, silent] = readers.map(|r| r.join().unwrap());
    // The streams ended cleanly (a whole chunked answer), the idle
    // connection after its answer.
    assert!(events.0, "{events:?}");
    assert!(approvals.0, "{approvals:?}");
    assert!(idle.1.starts_with("HTTP/1.1 200"), "{idle:?}");
    assert_eq!(silent.1, "");
}
