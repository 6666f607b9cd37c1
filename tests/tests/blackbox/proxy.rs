//! The OpenCode proxy and engine reload against a real `opencode serve`,
//! and the opencode-router proxy against a real HTTP server.

use openworkd_tests::{Auth, Builder, Daemon, Engine, HOST_TOKEN, TOKEN, free_port, http};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

/// A daemon with a workspace and no watcher (these tests do not need it).
fn quiet() -> Builder {
    Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
}

/// A daemon whose opencode-router port is served by another openworkd (a
/// real HTTP service): (that upstream, the daemon).
fn behind_router() -> (Daemon, Daemon) {
    let upstream = Daemon::builder().env("OPENWORK_WATCH", "0").start();
    let port = upstream.base.rsplit(':').next().unwrap().to_owned();
    let d = quiet().env("OPENCODE_ROUTER_HEALTH_PORT", &port).start();
    (upstream, d)
}

fn engine_daemon(engine: &Engine) -> Daemon {
    Daemon::builder()
        .env("OPENWORK_WATCH", "0")
        .args(&[
            "--workspace",
            &engine.project.display().to_string(),
            "--opencode-base-url",
            &format!("{}/ignored/prefix", engine.url),
            "--opencode-username",
            Engine::USER,
            "--opencode-password",
            &engine.password,
        ])
        .start()
}

fn json(resp: reqwest::blocking::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

#[test]
fn the_engine_answers_through_the_proxy() {
    let engine = Engine::start();
    let d = engine_daemon(&engine);
    let ws = openworkd_tests::workspace_id(&engine.project);

    // Same answer as asking the engine directly; no credentials needed by
    // the client, none of ours reach the engine.
    let direct: Value = engine.get("/config").json().unwrap();
    for path in [
        "/opencode/config".to_owned(),
        format!("/w/{ws}/opencode/config"),
    ] {
        let r = d.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json(), direct, "{path}");
    }

    // The event stream arrives event by event: the greeting first, then a
    // session created while the stream is open.
    let (tx, rx) = mpsc::channel();
    let url = format!("{}/w/{ws}/opencode/event", d.base);
    std::thread::spawn(move || {
        let resp = http().get(url).bearer_auth(TOKEN).send().unwrap();
        let _ = tx.send(format!("status {}", resp.status().as_u16()));
        for line in BufReader::new(resp).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data: ")
                && tx.send(data.to_owned()).is_err()
            {
                return;
            }
        }
    });
    let recv = || rx.recv_timeout(Duration::from_secs(30)).expect("an event");
    assert_eq!(recv(), "status 200");
    let greeting: Value = serde_json::from_str(&recv()).unwrap();
    assert_eq!(greeting["type"], "server.connected");

    let r = d.post(
        &format!("/w/{ws}/opencode/session"),
        r#"{"title":"through the proxy"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let session = r.json();
    let sid = session["id"].as_str().unwrap().to_owned();
    assert_eq!(session["directory"], engine.project.display().to_string());
    let announced = (0..20).find_map(|_| {
        let event: Value = serde_json::from_str(&recv()).unwrap();
        let id = &event["properties"]["info"]["id"];
        (event["type"].as_str().unwrap_or("").starts_with("session.") && id == sid.as_str())
            .then_some(event)
    });
    assert!(announced.is_some(), "the stream carried the new session");

    let listed = d.get("/opencode/session").json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == sid.as_str()),
        "{listed}"
    );

    // Engine reload disposes of the instance and is audited.
    let r = d.post(&d_ws(&ws, "engine/reload"), "");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["ok"], true);
    let audit = d.get(&d_ws(&ws, "audit")).json();
    assert_eq!(audit["items"][0]["action"], "engine.reload");
    assert_eq!(
        d.get("/opencode/config").json(),
        direct,
        "engine still answers"
    );

    // Viewers read only; only owners answer permission prompts.
    let viewer = d.issue_token("viewer");
    let r = d.request("GET", "/opencode/config", Auth::Bearer(&viewer), None);
    assert_eq!(r.status, 200);
    let r = d.request(
        "POST",
        "/opencode/session",
        Auth::Bearer(&viewer),
        Some("{}"),
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (403, Some("Viewer tokens are read-only"))
    );
    let permission = "/opencode/permission/perm_1/reply";
    let r = d.post(permission, r#"{"reply":"once"}"#);
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (
            403,
            Some("Only owner tokens can reply to permission requests")
        )
    );
    let owner = d.issue_token("owner");
    let r = d.request(
        "POST",
        permission,
        Auth::Bearer(&owner),
        Some(r#"{"reply":"once"}"#),
    );
    assert_ne!(
        r.json()["code"],
        "forbidden",
        "owners reach the engine: {}",
        r.text
    );

    // Without a bearer token nothing reaches the engine.
    let r = d.request("GET", "/opencode/config", Auth::None, None);
    assert_eq!((r.status, r.code()), (401, "unauthorized".into()));
}

/// Ways a client can write the same engine path: the engine decodes it,
/// ignores empty segments, cuts it at `;` and matches any case.
fn disguises(path: &str) -> Vec<String> {
    let last = path.rfind('/').unwrap() + 1;
    let (head, tail) = path.split_at(last);
    let first = tail.as_bytes()[0];
    vec![
        path.to_owned(),
        format!("{head}{}", tail.to_uppercase()),
        format!("{head}%{first:02x}{}", &tail[1..]),
        format!("{head}%{first:02X}{}", &tail[1..]),
        format!("{}//{tail}", &head[..head.len() - 1]),
        format!("{path}/"),
        format!("{path};x"),
        format!("{path}%3Bx"),
        format!("/{}", path.to_uppercase()),
    ]
}

/// Every engine route that answers or manages the agent's permission and
/// question prompts, read from the engine's own OpenAPI document: a newer
/// engine that adds one fails this test until the proxy refuses it too.
#[test]
fn only_owners_reach_the_engines_prompt_routes() {
    let engine = Engine::start();
    let d = engine_daemon(&engine);
    let ws = openworkd_tests::workspace_id(&engine.project);
    let doc: Value = engine.get("/doc").json().unwrap();
    let mut routes = Vec::new();
    for (path, ops) in doc["paths"]
        .as_object()
        .expect("the engine's /doc has paths")
    {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            let about_prompts = ["permission", "question"]
                .iter()
                .any(|w| id.contains(w) || path.to_lowercase().contains(w));
            if about_prompts && !matches!(method.as_str(), "get" | "head" | "options") {
                let concrete: String = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "x_1" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                routes.push((method.to_uppercase(), concrete));
            }
        }
    }
    // opencode 1.18.34 has eight: permission.reply, permission.respond,
    // question.reply, question.reject and four under /api.
    assert!(routes.len() >= 8, "{routes:?}");
    let collaborator = d.issue_token("collaborator");
    let owner = d.issue_token("owner");
    for (method, path) in &routes {
        for disguised in disguises(path) {
            for prefix in ["/opencode".to_owned(), format!("/w/{ws}/opencode")] {
                let url = format!("{prefix}{disguised}");
                for token in [TOKEN, collaborator.as_str()] {
                    let r = d.request(method, &url, Auth::Bearer(token), Some("{}"));
                    assert_eq!(
                        (r.status, r.code()),
                        (403, "forbidden".to_owned()),
                        "{method} {url} reached the engine with a non-owner token: {}",
                        r.text
                    );
                }
            }
        }
        // Owners are let through to the engine (whatever it answers).
        let r = d.request(
            method,
            &format!("/opencode{path}"),
            Auth::Bearer(&owner),
            Some("{}"),
        );
        assert!(
            !r.text.contains("Only owner tokens"),
            "{method} {path}: {}",
            r.text
        );
    }
}

/// The engine gets the path the proxy judged, not the one the client wrote.
#[test]
fn the_engine_sees_the_canonical_path() {
    let engine = Engine::start();
    let d = engine_daemon(&engine);
    let direct: Value = engine.get("/config").json().unwrap();
    for path in [
        "/opencode//config",
        "/opencode/%63onfig",
        "/opencode/config;x",
        "/opencode/x/../config",
    ] {
        let r = d.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json(), direct, "{path}");
    }
    let r = d.get("/opencode/%FF");
    assert_eq!((r.status, r.code()), (400, "invalid_path".to_owned()));
}

fn d_ws(ws: &str, rest: &str) -> String {
    format!("/workspace/{ws}/{rest}")
}

#[test]
fn engine_failures_are_clear_errors() {
    // No engine configured.
    let d = quiet().start();
    let r = d.get("/opencode/config");
    assert_eq!((r.status, r.code()), (400, "opencode_unconfigured".into()));
    let r = d.post(&d.ws("engine/reload"), "");
    assert_eq!((r.status, r.code()), (400, "opencode_unconfigured".into()));

    // An engine that is down: a 502 at once, not a hang.
    let port = free_port();
    let d = quiet()
        .args(&["--opencode-base-url", &format!("http://127.0.0.1:{port}")])
        .start();
    let r = d.get("/opencode/config");
    assert_eq!(
        (r.status, r.code()),
        (502, "opencode_request_failed".into()),
        "{}",
        r.text
    );
    let r = d.post(&d.ws("engine/reload"), "");
    assert_eq!(
        (r.status, r.code()),
        (502, "opencode_request_failed".into()),
        "{}",
        r.text
    );

    let d = quiet().args(&["--opencode-base-url", "not a url"]).start();
    let r = d.post(&d.ws("engine/reload"), "");
    assert_eq!((r.status, r.code()), (400, "opencode_url_invalid".into()));
}

#[test]
fn the_router_proxy_applies_its_auth_policy() {
    // Not configured.
    let d = quiet().start();
    let r = d.get("/opencode-router/health");
    assert_eq!(
        (r.status, r.code()),
        (404, "opencodeRouter_unconfigured".into())
    );

    // Configured but nothing listens.
    let port = free_port();
    let d = quiet()
        .env("OPENCODE_ROUTER_HEALTH_PORT", &port.to_string())
        .start();
    let r = d.get("/opencode-router/health");
    assert_eq!(
        (r.status, r.code()),
        (503, "opencodeRouter_unreachable".into())
    );
    assert_eq!(r.json()["details"]["port"], port);

    // A real HTTP service on the router port: another openworkd.
    let (_upstream, d) = behind_router();
    let viewer = d.issue_token("viewer");
    let r = d.request(
        "GET",
        "/opencode-router/health",
        Auth::Bearer(&viewer),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["ok"], true, "the upstream's own answer");
    let r = d.request(
        "GET",
        "/opencode-router/bindings",
        Auth::Bearer(&viewer),
        None,
    );
    assert_eq!((r.status, r.code()), (403, "forbidden".into()));
    assert_eq!(r.json()["details"]["required"], "collaborator");
    let r = d.get(&format!("/w/{}/opencode-router/bindings", d.ws_id));
    assert_eq!(
        r.status, 404,
        "collaborator passes; the upstream has no such route"
    );
    let r = d.post("/opencode-router/send", "{}");
    assert_eq!(
        (r.status, r.code()),
        (401, "unauthorized".into()),
        "host only"
    );
    let r = d.request(
        "GET",
        "/opencode-router/w/any/health",
        Auth::Host(HOST_TOKEN),
        None,
    );
    assert_eq!(r.status, 200, "host reaches everything: {}", r.text);
}

#[test]
fn hop_by_hop_and_our_credentials_stay_here() {
    // The router proxy forwards to another openworkd, which reports whether
    // it saw credentials: it must see none of ours.
    let (_upstream, d) = behind_router();
    // `/whoami` upstream needs a bearer token: ours is removed on the way.
    let r = http()
        .get(format!("{}/opencode-router/whoami", d.base))
        .header("X-OpenWork-Host-Token", HOST_TOKEN)
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    let (status, body) = json(r);
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
}

#[test]
fn the_engine_terminal_websocket_goes_through() {
    use tungstenite::client::IntoClientRequest;
    let engine = Engine::start();
    let d = engine_daemon(&engine);
    let ws = openworkd_tests::workspace_id(&engine.project);
    let r = d.post(&format!("/w/{ws}/opencode/pty"), r#"{"command":"/bin/sh"}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    let pty = r.json()["id"].as_str().unwrap().to_owned();

    let url = format!(
        "{}/w/{ws}/opencode/pty/{pty}/connect",
        d.base.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut socket, response) =
        tungstenite::connect(request).expect("websocket through the proxy");
    assert_eq!(response.status(), 101);
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_mut() {
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    socket
        .send(tungstenite::Message::text("echo proxied-$((6*7))\n"))
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("proxied-42") {
        match socket.read().expect("terminal output") {
            tungstenite::Message::Text(text) => seen.push_str(&text),
            tungstenite::Message::Binary(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            _ => {}
        }
        assert!(seen.len() < 1_000_000, "no echo in {seen}");
    }
    let _ = socket.close(None);

    // Viewers cannot open a terminal.
    let viewer = d.issue_token("viewer");
    let r = d.request(
        "POST",
        &format!("/w/{ws}/opencode/pty"),
        Auth::Bearer(&viewer),
        Some("{}"),
    );
    assert_eq!(r.status, 403);
}

#[test]
fn a_proxied_event_stream_ends_when_the_daemon_stops() {
    let engine = Engine::start();
    let mut d = engine_daemon(&engine);
    let (tx, rx) = mpsc::channel();
    let url = format!("{}/opencode/event", d.base);
    let reader = std::thread::spawn(move || {
        let resp = http().get(url).bearer_auth(TOKEN).send().unwrap();
        assert_eq!(resp.status(), 200);
        for line in BufReader::new(resp).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
        // The stream's end, or the connection's.
    });
    let greeting = rx.recv_timeout(Duration::from_secs(30)).expect("a line");
    assert!(greeting.contains("server.connected"), "{greeting}");
    let started = std::time::Instant::now();
    assert!(d.terminate().success());
    let took = started.elapsed();
    // Not held for the 10 s a request under way may take.
    assert!(took < Duration::from_secs(5), "the stop took {took:?}");
    reader.join().unwrap();
    // The engine still serves its own clients.
    assert_eq!(engine.get("/config").status(), 200);
}
