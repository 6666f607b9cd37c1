//! Running under a service manager: readiness over the notify socket,
//! SIGHUP does not stop the daemon, SIGTERM stops it cleanly.

use openworkd_tests::{Auth, Daemon};
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

    Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap();
    d.wait_for(Duration::from_secs(10), || {
        d.output().contains("SIGHUP received").then_some(())
    });
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
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
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
    assert_eq!(requests[0]["attributes"]["auth"], "client");
    assert_eq!(requests[0]["attributes"]["status"], 200);
    assert!(requests[0]["attributes"]["durationMs"].is_u64());
    assert_eq!(requests[2]["severityText"], "WARN");
    for secret in [TOKEN, HOST_TOKEN, scoped.as_str(), "wrong-token-value"] {
        assert!(!log.contains(secret), "a token reached the log");
    }
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
