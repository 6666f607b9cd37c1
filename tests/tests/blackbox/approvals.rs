//! Manual approvals: allow, deny, timeout, disconnect and shutdown.

use openworkd_tests::{Auth, Daemon, HOST_TOKEN, TOKEN, http};
use serde_json::json;
use std::io::Write;
use std::thread;
use std::time::Duration;

#[test]
fn allow_lets_the_write_through() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    let waiting = d.write_in_background("POST", &d.ws("plugins"), r#"{"spec":"opencode-notion"}"#);
    let items = d.pending(1);
    let item = &items[0];
    assert_eq!(item["action"], "plugins.add");
    assert_eq!(item["summary"], "Add plugin opencode-notion");
    assert_eq!(item["workspaceId"], d.ws_id);
    assert_eq!(
        item["paths"],
        json!([d.workspace.join("opencode.jsonc").display().to_string()])
    );
    assert_eq!(item["actor"]["scope"], "collaborator");
    assert!(item["createdAt"].is_u64());
    assert!(
        d.read_file("opencode.jsonc").is_none(),
        "written before approval"
    );

    let r = d.request(
        "POST",
        &format!("/approvals/{}", item["id"].as_str().unwrap()),
        Auth::Host(HOST_TOKEN),
        Some(r#"{"reply":"allow"}"#),
    );
    assert_eq!(r.json(), json!({"ok": true, "allowed": true}));
    let (status, body) = waiting.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        d.read_file("opencode.jsonc")
            .unwrap()
            .contains("opencode-notion")
    );
    assert_eq!(
        d.request("GET", "/approvals", Auth::Host(HOST_TOKEN), None)
            .json()["items"],
        json!([])
    );
    // Answered requests are gone.
    let r = d.request(
        "POST",
        &format!("/approvals/{}", item["id"].as_str().unwrap()),
        Auth::Host(HOST_TOKEN),
        Some(r#"{"reply":"allow"}"#),
    );
    assert_eq!((r.status, r.code()), (404, "approval_not_found".into()));
}

#[test]
fn deny_writes_nothing() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    d.write_file("opencode.jsonc", "{ // mine\n}\n");
    let waiting = d.write_in_background("PATCH", &d.ws("config"), r#"{"opencode":{"model":"x"}}"#);
    let id = d.pending(1)[0]["id"].as_str().unwrap().to_owned();
    // Anything but "allow" is a deny.
    let r = d.request(
        "POST",
        &format!("/approvals/{id}"),
        Auth::Host(HOST_TOKEN),
        Some(r#"{"reply":"maybe"}"#),
    );
    assert_eq!(r.json(), json!({"ok": true, "allowed": false}));
    let (status, body) = waiting.join().unwrap();
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"code": "write_denied", "message": "Write request denied", "details": {"requestId": id, "reason": "denied"}})
    );
    assert_eq!(d.read_file("opencode.jsonc").unwrap(), "{ // mine\n}\n");
    assert_eq!(d.get(&d.ws("audit")).json()["items"], json!([]));
    let r = d.request(
        "POST",
        &format!("/approvals/{id}"),
        Auth::Host(HOST_TOKEN),
        Some("not json"),
    );
    assert_eq!(r.code(), "invalid_json");
}

#[test]
fn timeout_denies_and_writes_nothing() {
    let d = Daemon::builder().with_workspace().manual(300).start();
    let r = d.post(
        &d.ws("skills"),
        r#"{"name":"late","description":"d","content":"x"}"#,
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["details"]["reason"], "timeout");
    assert!(!d.workspace.join(".opencode/skills/late").exists());
    assert_eq!(
        d.request("GET", "/approvals", Auth::Host(HOST_TOKEN), None)
            .json()["items"],
        json!([])
    );
}

#[test]
fn owner_and_host_writes_also_wait() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    let owner = d.issue_token("owner");
    let url = format!("{}{}", d.base, d.ws("mcp/x"));
    let waiting = thread::spawn(move || {
        http()
            .delete(url)
            .bearer_auth(owner)
            .send()
            .unwrap()
            .status()
            .as_u16()
    });
    let items = d.pending(1);
    assert_eq!(items[0]["action"], "mcp.remove");
    assert_eq!(items[0]["actor"]["scope"], "owner");
    d.request(
        "POST",
        &format!("/approvals/{}", items[0]["id"].as_str().unwrap()),
        Auth::Host(HOST_TOKEN),
        Some(r#"{"reply":"deny"}"#),
    );
    assert_eq!(waiting.join().unwrap(), 403);
}

#[test]
fn disconnected_client_cancels_its_request() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    let url = format!("{}{}", d.base, d.ws("plugins"));
    let short = openworkd_tests::client_builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let result = short
        .post(url)
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/json")
        .body(r#"{"spec":"gone"}"#)
        .send();
    assert!(result.is_err(), "the write should still be waiting");
    d.pending(0);
    assert!(d.read_file("opencode.jsonc").is_none());
}

#[test]
fn shutdown_denies_pending_and_exits_cleanly() {
    let mut d = Daemon::builder().with_workspace().manual(30_000).start();
    let waiting = d.write_in_background("POST", &d.ws("plugins"), r#"{"spec":"never"}"#);
    d.pending(1);
    let status = d.terminate();
    assert!(status.success(), "exit status {status:?}");
    let (code, body) = waiting.join().unwrap();
    assert_eq!(
        (code, body["details"]["reason"].as_str()),
        (403, Some("denied"))
    );
    assert!(d.read_file("opencode.jsonc").is_none());
}

fn history(d: &Daemon, query: &str) -> Vec<serde_json::Value> {
    let r = d.request(
        "GET",
        &format!("/approvals/history{query}"),
        Auth::Host(HOST_TOKEN),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"].as_array().unwrap().clone()
}

/// The history read back at start is its file's newest 16 MiB, from a
/// regular file only: a file grown huge is not loaded whole, a FIFO planted
/// in its place is not waited on.
#[test]
fn the_history_read_back_is_bounded_and_never_waits() {
    let mut d = Daemon::start();
    assert_eq!(d.post(&d.ws("plugins"), r#"{"spec":"kept"}"#).status, 200);
    d.terminate();
    let data = d.root().join("data");
    let file = data.join("approvals/history.jsonl");
    let lines = std::fs::read(&file).unwrap();
    assert!(lines.ends_with(b"\n") && lines.len() > 100);
    // 128 MiB of zeros (sparse), then the line.
    let planted = std::fs::File::create(&file).unwrap();
    planted.set_len(128 << 20).unwrap();
    drop(planted);
    let mut tail = b"\n".to_vec();
    tail.extend_from_slice(&lines);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(&tail)
        .unwrap();
    let restart = || {
        let mut again = Daemon::builder()
            .env("OPENWORK_DATA_DIR", &data.display().to_string())
            .args(&["--workspace", &d.workspace.display().to_string()])
            .start();
        again.ws_id = d.ws_id.clone();
        again
    };
    let mut again = restart();
    let items = history(&again, "");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["summary"], "Add plugin kept");
    assert!(
        again.peak_rss_kib() < 100 * 1024,
        "{} KiB",
        again.peak_rss_kib()
    );
    again.terminate();
    openworkd_tests::make_fifo(&file);
    let again = restart();
    assert_eq!(history(&again, ""), Vec::<serde_json::Value>::new());
    assert_eq!(
        again
            .post(&again.ws("plugins"), r#"{"spec":"next"}"#)
            .status,
        200
    );
    assert_eq!(history(&again, "")[0]["summary"], "Add plugin next");
}

#[test]
fn every_decision_is_kept_in_the_history_across_restarts() {
    let mut d = Daemon::builder().with_workspace().manual(4_000).start();
    // Allowed by the host.
    let waiting = d.write_in_background("POST", &d.ws("plugins"), r#"{"spec":"first"}"#);
    d.reply_to_pending("allow");
    assert_eq!(waiting.join().unwrap().0, 200);
    // Denied by an owner token.
    let owner = d.issue_token("owner");
    let owner_id = d
        .request("GET", "/tokens", Auth::Host(HOST_TOKEN), None)
        .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting = d.write_in_background("POST", &d.ws("plugins"), r#"{"spec":"second"}"#);
    let id = d.pending(1)[0]["id"].as_str().unwrap().to_owned();
    let r = d.request(
        "POST",
        &format!("/approvals/{id}"),
        Auth::Bearer(&owner),
        Some(r#"{"reply":"deny"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(waiting.join().unwrap().0, 403);
    // Nobody answers: timeout (fail closed).
    let (code, body) = d
        .write_in_background("POST", &d.ws("plugins"), r#"{"spec":"third"}"#)
        .join()
        .unwrap();
    assert_eq!(
        (code, body["details"]["reason"].as_str()),
        (403, Some("timeout"))
    );
    // The client goes away: withdrawn.
    let short = openworkd_tests::client_builder()
        .timeout(Duration::from_millis(1_000))
        .build()
        .unwrap();
    let gone = short
        .post(format!("{}{}", d.base, d.ws("plugins")))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/json")
        .body(r#"{"spec":"fourth"}"#)
        .send();
    assert!(gone.is_err());
    let items = d.wait_for(Duration::from_secs(10), || {
        let items = history(&d, "");
        (items.len() == 4).then_some(items)
    });
    let seen: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["decision"].as_str().unwrap(),
                i["decidedBy"].as_str().unwrap(),
            )
        })
        .collect();
    let owner_by = format!("owner:{owner_id}");
    assert_eq!(
        seen,
        vec![
            ("withdrawn", "client"),
            ("timeout", "timeout"),
            ("deny", owner_by.as_str()),
            ("allow", "host")
        ]
    );
    assert_eq!(items[3]["summary"], "Add plugin first");
    assert_eq!(items[3]["workspaceId"], d.ws_id);
    assert!(items[3]["decidedAt"].as_u64() >= items[3]["createdAt"].as_u64());
    // Paging: newest first, then older than a given id.
    let first = history(&d, "?limit=1");
    assert_eq!(first.len(), 1);
    let next = history(
        &d,
        &format!("?limit=2&before={}", first[0]["id"].as_str().unwrap()),
    );
    assert_eq!(
        next.iter()
            .map(|i| i["decision"].clone())
            .collect::<Vec<_>>(),
        vec![json!("timeout"), json!("deny")]
    );
    assert_eq!(
        d.request("GET", "/approvals/history", Auth::Bearer(TOKEN), None)
            .status,
        401
    );

    // Kept in the data folder: a restarted daemon still has it.
    d.terminate();
    let mut again = Daemon::builder()
        .env(
            "OPENWORK_DATA_DIR",
            &d.root().join("data").display().to_string(),
        )
        .args(&["--workspace", &d.workspace.display().to_string()])
        .start();
    again.ws_id = d.ws_id.clone();
    assert_eq!(history(&again, "").len(), 4);
    // In auto mode every write is recorded as allowed by `auto`.
    assert_eq!(
        again
            .post(&again.ws("plugins"), r#"{"spec":"fifth"}"#)
            .status,
        200
    );
    let newest = history(&again, "?limit=1");
    assert_eq!(
        (
            newest[0]["decision"].as_str(),
            newest[0]["decidedBy"].as_str()
        ),
        (Some("allow"), Some("auto"))
    );
    // openworkctl shows it as a table, or JSON.
    let run = again
        .ctl_as_host(&["approvals", "history", "--limit", "3"])
        .ok();
    assert!(
        run.stdout.contains("DECISION") && run.stdout.contains("auto"),
        "{}",
        run.stdout
    );
    let run = again.ctl_as_host(&["--json", "approvals", "history"]).ok();
    assert_eq!(run.json()["items"].as_array().unwrap().len(), 5);
}

/// Frames of an event stream: (event, id, data), read on a thread.
fn frames(
    resp: reqwest::blocking::Response,
) -> std::sync::mpsc::Receiver<(String, String, String)> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let (mut event, mut id) = (String::new(), String::new());
        for line in std::io::BufReader::new(resp).lines().map_while(Result::ok) {
            if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_owned();
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ")
                && tx.send((event.clone(), id.clone(), v.to_owned())).is_err()
            {
                return;
            }
        }
    });
    rx
}

fn approvals_stream(
    d: &Daemon,
    last_event_id: Option<&str>,
) -> std::sync::mpsc::Receiver<(String, String, String)> {
    let client = openworkd_tests::client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut req = client
        .get(format!("{}/approvals", d.base))
        .header("X-OpenWork-Host-Token", HOST_TOKEN)
        .header("Accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let resp = req.send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    frames(resp)
}

#[test]
fn approvals_are_pushed_as_they_are_requested_and_decided() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    // One already waiting when the listener connects is sent first.
    let early = d.write_in_background("POST", &d.ws("plugins"), r#"{"spec":"early"}"#);
    d.pending(1);
    let stream = approvals_stream(&d, None);
    let recv = || {
        stream
            .recv_timeout(Duration::from_secs(10))
            .expect("an event")
    };
    let (event, first_id, data) = recv();
    assert_eq!(event, "approval.requested");
    assert!(data.contains("Add plugin early"), "{data}");
    d.reply_to_pending("allow");
    assert_eq!(early.join().unwrap().0, 200);
    let (event, decided_id, data) = recv();
    assert_eq!(event, "approval.decided");
    let decided: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        (decided["decision"].as_str(), decided["decidedBy"].as_str()),
        (Some("allow"), Some("host"))
    );
    assert!(decided_id.parse::<u64>().unwrap() > first_id.parse::<u64>().unwrap());

    // A write made while streaming arrives as it is requested.
    let late = d.write_in_background("POST", &d.ws("plugins"), r#"{"spec":"late"}"#);
    let (event, requested_id, data) = recv();
    assert_eq!(event, "approval.requested");
    let item: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(item, d.pending(1)[0], "the same item as the list");
    d.reply_to_pending("deny");
    assert_eq!(late.join().unwrap().0, 403);
    let (event, _, data) = recv();
    assert_eq!(event, "approval.decided");
    assert!(data.contains("\"decision\":\"deny\""), "{data}");

    // Resuming after the request: the decision comes next.
    let resumed = approvals_stream(&d, Some(&requested_id));
    let (event, _, data) = resumed.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(event, "approval.decided");
    assert!(data.contains("Add plugin late"), "{data}");
    // Listening is host-only.
    let r = http()
        .get(format!("{}/approvals", d.base))
        .bearer_auth(TOKEN)
        .header("Accept", "text/event-stream")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

type Deliveries = std::sync::mpsc::Receiver<(Option<String>, String)>;

/// A tiny HTTP receiver on loopback: records (signature, body) of each
/// request and answers `status`.
fn receiver(status: u16) -> (String, Deliveries) {
    receiver_over(status, None)
}

/// The same over TLS with this certificate and key (PEM files).
fn tls_receiver(cert: &std::path::Path, key: &std::path::Path) -> (String, Deliveries) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    receiver_over(200, Some(std::sync::Arc::new(config)))
}

fn receiver_over(
    status: u16,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> (String, Deliveries) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for tcp in listener.incoming().map_while(Result::ok) {
            let delivered = match &tls {
                Some(config) => {
                    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                    read_delivery(rustls::StreamOwned::new(conn, tcp), status)
                }
                None => read_delivery(tcp, status),
            };
            if let Some(delivery) = delivered
                && tx.send(delivery).is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

/// Read one request (headers, then the body), answer `status`.
fn read_delivery(
    stream: impl std::io::Read + std::io::Write,
    status: u16,
) -> Option<(Option<String>, String)> {
    use std::io::{BufRead, Read};
    let mut reader = std::io::BufReader::new(stream);
    let (mut length, mut signature) = (0usize, None);
    let mut request_line = String::new();
    // Nothing readable (a refused TLS handshake): no delivery.
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("x-openwork-signature:") {
            signature = Some(line.split_once(':').unwrap().1.trim().to_owned());
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = reader.get_mut().write_all(reply.as_bytes());
    let _ = reader.get_mut().flush();
    Some((signature, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn webhooks_reach_https_receivers_that_the_system_trusts() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::tls::ca_signed(certs.path());
    let (url, delivered) = tls_receiver(&cert, &key);
    let config = json!({"approval": {"webhooks": [{"url": url, "secret": "k"}]}});
    // The daemon's trust store is the system's; SSL_CERT_FILE points it at
    // the test CA.
    let d = Daemon::builder()
        .with_workspace()
        .config(&config.to_string())
        .env("SSL_CERT_FILE", &ca.display().to_string())
        .start();
    assert_eq!(
        d.post(&d.ws("plugins"), r#"{"spec":"over-tls"}"#).status,
        200
    );
    let (signature, body) = delivered
        .recv_timeout(Duration::from_secs(10))
        .expect("a delivery over TLS");
    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["approval"]["summary"], "Add plugin over-tls");
    assert!(signature.unwrap().starts_with("sha256="));

    // Not trusted (no SSL_CERT_FILE): never delivered, counted as failed.
    let (url, refused) = tls_receiver(&cert, &key);
    let config = json!({"approval": {"webhooks": [{"url": url}]}});
    let d = Daemon::builder()
        .with_workspace()
        .config(&config.to_string())
        .start();
    assert_eq!(
        d.post(&d.ws("plugins"), r#"{"spec":"untrusted"}"#).status,
        200
    );
    d.wait_for(Duration::from_secs(20), || {
        let text = d
            .request("GET", "/metrics", Auth::Host(HOST_TOKEN), None)
            .text;
        text.contains(r#"openworkd_approval_webhooks_total{outcome="failed"} 1"#)
            .then_some(())
    });
    assert!(
        refused.try_recv().is_err(),
        "nothing delivered to an untrusted receiver"
    );
    assert!(d.output().contains("UnknownIssuer"), "{}", d.output());
}

#[test]
fn approval_events_are_sent_to_signed_webhooks_with_retries() {
    use sha2::Digest;
    let (good, delivered) = receiver(200);
    let (bad, attempts) = receiver(500);
    let config = json!({"approval": {"webhooks": [
        {"url": good, "secret": "s3cret"},
        {"url": bad, "events": ["approval.decided"]},
    ]}});
    let d = Daemon::builder()
        .with_workspace()
        .config(&config.to_string())
        .start();
    assert_eq!(d.post(&d.ws("plugins"), r#"{"spec":"hooked"}"#).status, 200);

    let (signature, body) = delivered
        .recv_timeout(Duration::from_secs(10))
        .expect("a delivery");
    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["event"], "approval.decided");
    assert_eq!(sent["approval"]["decidedBy"], "auto");
    assert_eq!(sent["approval"]["summary"], "Add plugin hooked");
    // HMAC-SHA256 of the body with the secret, computed here independently.
    let key = b"s3cret";
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(body.as_bytes())
        .finalize();
    let outer = sha2::Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    assert_eq!(signature, Some(format!("sha256={}", hex::encode(outer))));

    // A failing receiver is tried three times, then given up and counted.
    for n in 1..=3 {
        let (signature, _) = attempts
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("attempt {n}"));
        assert_eq!(signature, None, "no secret, no signature");
    }
    let metrics = d.wait_for(Duration::from_secs(10), || {
        let text = d
            .request("GET", "/metrics", Auth::Host(HOST_TOKEN), None)
            .text;
        text.contains(r#"openworkd_approval_webhooks_total{outcome="failed"} 1"#)
            .then_some(text)
    });
    assert!(
        metrics.contains(r#"openworkd_approval_webhooks_total{outcome="delivered"} 1"#),
        "{metrics}"
    );
    assert!(
        attempts.recv_timeout(Duration::from_millis(500)).is_err(),
        "no fourth attempt"
    );
}

#[test]
fn webhooks_configured_by_a_reload_get_the_events_after_it() {
    let (url, delivered) = receiver(200);
    // The trust store is a FIFO, so the webhook sender is still getting
    // ready (reading it) when the reload and the event after it happen:
    // the event must be sent all the same.
    let certs = tempfile::tempdir().unwrap();
    let (ca, _, _) = crate::tls::ca_signed(certs.path());
    let trust = certs.path().join("trust.pem");
    openworkd_tests::make_fifo(&trust);
    let d = Daemon::builder()
        .with_workspace()
        .config("{}")
        .env("SSL_CERT_FILE", &trust.display().to_string())
        .start();
    let add = |spec: &str| {
        let body = format!(r#"{{"spec":"{spec}"}}"#);
        assert_eq!(d.post(&d.ws("plugins"), &body).status, 200);
    };
    add("before");
    let config_path = d.root().join("config/openwork/server.json");
    let config = json!({"approval": {"webhooks": [{"url": url}]}});
    std::fs::write(&config_path, config.to_string()).unwrap();
    d.hangup("SIGHUP: configuration", 1);
    add("after");
    std::fs::write(&trust, std::fs::read(&ca).unwrap()).unwrap();
    let (_, body) = delivered
        .recv_timeout(Duration::from_secs(10))
        .expect("a delivery");
    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        sent["approval"]["summary"], "Add plugin after",
        "nothing from before the reload"
    );
    // Removed by the next reload: nothing more is sent.
    std::fs::write(&config_path, "{}").unwrap();
    d.hangup("SIGHUP: configuration", 2);
    add("gone");
    assert!(delivered.recv_timeout(Duration::from_secs(1)).is_err());
}

#[test]
fn a_trust_store_that_never_answers_holds_up_neither_requests_nor_the_stop() {
    // The webhook sender reads the system's CA certificates at start: a
    // FIFO nobody writes to keeps it reading for ever.
    let certs = tempfile::tempdir().unwrap();
    let trust = certs.path().join("trust.pem");
    openworkd_tests::make_fifo(&trust);
    let mut d = Daemon::builder()
        .with_workspace()
        .env("SSL_CERT_FILE", &trust.display().to_string())
        .start();
    assert_eq!(d.post(&d.ws("plugins"), r#"{"spec":"served"}"#).status, 200);
    assert!(d.terminate().success(), "{}", d.output());
}

#[test]
fn writes_waiting_for_the_host_are_capped_per_credential() {
    let d = Daemon::builder().with_workspace().manual(60_000).start();
    let body = |i: usize| format!(r#"{{"spec":"p{i}"}}"#);
    let waiting: Vec<_> = (0..32)
        .map(|i| d.write_in_background("POST", &d.ws("plugins"), &body(i)))
        .collect();
    d.pending(32);
    // One more from the same token is refused at once, and not queued.
    let r = d.request(
        "POST",
        &d.ws("plugins"),
        Auth::Bearer(TOKEN),
        Some(&body(32)),
    );
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_requests".into()),
        "{}",
        r.text
    );
    assert_eq!(r.json()["details"], json!({"pending": 32, "limit": 32}));
    // Another credential still gets in line.
    let other = d.issue_token("collaborator");
    let url = format!("{}{}", d.base, d.ws("plugins"));
    let theirs = thread::spawn(move || {
        http()
            .post(url)
            .bearer_auth(other)
            .header("Content-Type", "application/json")
            .body(r#"{"spec":"theirs"}"#)
            .send()
            .unwrap()
            .status()
            .as_u16()
    });
    let items = d.pending(33);
    // Answered, the line shortens and the token may write again.
    let first = items[0]["id"].as_str().unwrap();
    let r = d.request(
        "POST",
        &format!("/approvals/{first}"),
        Auth::Host(HOST_TOKEN),
        Some(r#"{"reply":"deny"}"#),
    );
    assert_eq!(r.status, 200);
    let again = d.write_in_background("POST", &d.ws("plugins"), &body(33));
    d.pending(33);
    for item in d.pending(33) {
        d.request(
            "POST",
            &format!("/approvals/{}", item["id"].as_str().unwrap()),
            Auth::Host(HOST_TOKEN),
            Some(r#"{"reply":"deny"}"#),
        );
    }
    assert_eq!(theirs.join().unwrap(), 403);
    assert_eq!(again.join().unwrap().0, 403);
    for w in waiting {
        assert_eq!(w.join().unwrap().0, 403);
    }
}
