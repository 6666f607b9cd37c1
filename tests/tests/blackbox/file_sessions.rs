//! File sessions over HTTP, and the real `openwork files` commands.

use openworkd_tests::{Auth, Daemon, HOST_TOKEN, TOKEN, peer, run_isolated};
use serde_json::{Value, json};
use std::time::Duration;

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn open(d: &Daemon, token: &str, body: &str) -> Value {
    let r = d.request(
        "POST",
        &d.ws("files/sessions"),
        Auth::Bearer(token),
        Some(body),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["session"].clone()
}

fn call(d: &Daemon, sid: &str, rest: &str, body: Value) -> (u16, Value) {
    let r = d.post(&format!("/files/sessions/{sid}/{rest}"), &body.to_string());
    (r.status, r.json())
}

#[test]
fn session_lifecycle_ttl_and_binding() {
    let d = Daemon::start();
    let s = open(&d, TOKEN, r#"{"ttlSeconds":1}"#);
    assert_eq!(s["ttlMs"], 30_000, "clamped to the minimum");
    assert_eq!(s["canWrite"], true);
    assert_eq!(s["workspaceId"], d.ws_id);
    let sid = s["id"].as_str().unwrap();
    let (status, renewed) = call(&d, sid, "renew", json!({"ttlSeconds": 999_999}));
    assert_eq!(
        (status, renewed["session"]["ttlMs"].as_u64()),
        (200, Some(86_400_000))
    );
    assert_eq!(
        d.post(&format!("/files/sessions/{sid}/renew"), "nope")
            .code(),
        "invalid_json"
    );

    // Bound to the token that made it.
    let other = d.issue_token("collaborator");
    let r = d.request(
        "GET",
        &format!("/files/sessions/{sid}/catalog/snapshot"),
        Auth::Bearer(&other),
        None,
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (403, Some("File session does not belong to this token"))
    );

    assert_eq!(
        d.delete(&format!("/files/sessions/{sid}")).json(),
        json!({"ok": true})
    );
    let r = d.get(&format!("/files/sessions/{sid}/catalog/snapshot"));
    assert_eq!((r.status, r.code()), (404, "file_session_not_found".into()));

    // Viewers and write:false get read-only sessions.
    let viewer = d.issue_token("viewer");
    assert_eq!(open(&d, &viewer, "{}")["canWrite"], false);
    let ro = open(&d, TOKEN, r#"{"write":false}"#);
    let (status, body) = call(
        &d,
        ro["id"].as_str().unwrap(),
        "write-batch",
        json!({"writes": [{"path": "a", "contentBase64": b64("x")}]}),
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("File session is read-only"))
    );
}

#[test]
fn catalog_snapshot_paging_and_events() {
    let d = Daemon::start();
    for name in ["b.txt", "a/one.md", "a/two.md", "c/d/e.txt"] {
        d.write_file(name, name);
    }
    let sid = open(&d, TOKEN, "{}")["id"].as_str().unwrap().to_owned();
    let snap = d
        .get(&format!("/files/sessions/{sid}/catalog/snapshot"))
        .json();
    let paths: Vec<&str> = snap["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "a",
            "a/one.md",
            "a/two.md",
            "b.txt",
            "c",
            "c/d",
            "c/d/e.txt"
        ]
    );
    assert_eq!(
        snap["items"][1]["revision"]
            .as_str()
            .unwrap()
            .split(':')
            .nth(1),
        Some("8")
    );
    assert_eq!(snap["truncated"], false);
    assert!(snap.get("nextAfter").is_none());

    let page = d
        .get(&format!(
            "/files/sessions/{sid}/catalog/snapshot?includeDirs=false&limit=2"
        ))
        .json();
    assert_eq!(
        (
            page["total"].as_u64(),
            page["truncated"].as_bool(),
            page["nextAfter"].as_str()
        ),
        (Some(4), Some(true), Some("a/two.md"))
    );
    let next = d
        .get(&format!(
            "/files/sessions/{sid}/catalog/snapshot?includeDirs=false&after=a/two.md"
        ))
        .json();
    assert_eq!(next["items"][0]["path"], "b.txt");
    let prefixed = d
        .get(&format!("/files/sessions/{sid}/catalog/snapshot?prefix=c"))
        .json();
    assert_eq!(prefixed["total"], 3);
    assert_eq!(
        d.get(&format!(
            "/files/sessions/{sid}/catalog/snapshot?prefix=../x"
        ))
        .code(),
        "invalid_path"
    );

    let cursor = snap["cursor"].as_u64().unwrap();
    call(
        &d,
        &sid,
        "write-batch",
        json!({"writes": [{"path": "new.txt", "contentBase64": b64("n")}]}),
    );
    call(
        &d,
        &sid,
        "ops",
        json!({"operations": [{"type": "rename", "from": "new.txt", "to": "moved/new.txt"}]}),
    );
    let events = d
        .get(&format!(
            "/files/sessions/{sid}/catalog/events?since={cursor}"
        ))
        .json();
    let kinds: Vec<(&str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["path"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("write", "new.txt"), ("rename", "new.txt")]);
    assert_eq!(events["items"][1]["toPath"], "moved/new.txt");
    assert_eq!(events["cursor"], cursor + 2);
    assert!(events.get("reset").is_none());
}

#[test]
fn read_and_write_batches_with_conflicts() {
    let d = Daemon::start();
    d.write_file("doc.md", "v1");
    let sid = open(&d, TOKEN, "{}")["id"].as_str().unwrap().to_owned();
    let (_, read) = call(
        &d,
        &sid,
        "read-batch",
        json!({"paths": ["doc.md", "missing.md"]}),
    );
    let first = &read["items"][0];
    assert_eq!(
        (first["ok"].as_bool(), first["contentBase64"].as_str()),
        (Some(true), Some(b64("v1").as_str()))
    );
    assert_eq!(read["items"][1]["code"], "file_not_found");
    let rev = first["revision"].as_str().unwrap().to_owned();

    let (status, written) = call(
        &d,
        &sid,
        "write-batch",
        json!({"writes": [
            {"path": "doc.md", "contentBase64": b64("v2"), "ifMatchRevision": rev},
            {"path": "other.md", "contentBase64": b64("o"), "ifMatchRevision": "1:1"},
        ]}),
    );
    assert_eq!(status, 200);
    // Failures first, then the applied writes.
    assert_eq!(written["items"][0]["code"], "conflict");
    assert_eq!(written["items"][0]["currentRevision"], Value::Null);
    assert_eq!(written["items"][1]["previousRevision"], rev.as_str());
    assert_eq!(d.read_file("doc.md").unwrap(), "v2");
    assert!(d.read_file("other.md").is_none());

    // A stale revision conflicts; force overrides it.
    let (_, stale) = call(
        &d,
        &sid,
        "write-batch",
        json!({"writes": [{"path": "doc.md", "contentBase64": b64("v3"), "ifMatchRevision": rev}]}),
    );
    assert_eq!(stale["items"][0]["code"], "conflict");
    assert_eq!(d.read_file("doc.md").unwrap(), "v2");
    let (_, forced) = call(
        &d,
        &sid,
        "write-batch",
        json!({"writes": [{"path": "doc.md", "contentBase64": b64("v3"), "ifMatchRevision": rev, "force": true}]}),
    );
    assert_eq!(forced["items"][0]["ok"], true);

    let audit = d.get(&d.ws("audit")).json();
    assert_eq!(
        audit["items"][0]["summary"],
        "Wrote doc.md via file session"
    );

    // Limits and bad input.
    let many: Vec<String> = (0..65).map(|i| format!("f{i}")).collect();
    let (status, body) = call(&d, &sid, "read-batch", json!({"paths": many}));
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("paths must include <= 64 items"))
    );
    let (status, body) = call(
        &d,
        &sid,
        "write-batch",
        json!({"writes": [{"path": "e.txt", "contentBase64": ""}]}),
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("contentBase64 is required"))
    );
    let big = "A".repeat(6_700_000);
    let (_, body) = call(
        &d,
        &sid,
        "write-batch",
        json!({"writes": [{"path": "big.bin", "contentBase64": big}]}),
    );
    assert_eq!(body["items"][0]["code"], "file_too_large");
    assert!(d.read_file("big.bin").is_none());
}

#[test]
fn traversal_and_symlink_escapes_are_refused() {
    let d = Daemon::start();
    let outside = d.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(&outside, d.workspace.join("link")).unwrap();
    let sid = open(&d, TOKEN, "{}")["id"].as_str().unwrap().to_owned();

    for bad in ["../x", "a/../../x", "x\0y"] {
        let (status, body) = call(&d, &sid, "read-batch", json!({"paths": [bad]}));
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_path")),
            "{bad:?}"
        );
    }
    let (_, read) = call(
        &d,
        &sid,
        "read-batch",
        json!({"paths": ["link/secret.txt"]}),
    );
    assert_eq!(read["items"][0]["code"], "invalid_path");
    assert!(read["items"][0].get("contentBase64").is_none());
    let (_, written) = call(
        &d,
        &sid,
        "write-batch",
        json!({"writes": [{"path": "link/new.txt", "contentBase64": b64("x")}]}),
    );
    assert_eq!(written["items"][0]["code"], "invalid_path");
    let (status, _) = call(
        &d,
        &sid,
        "ops",
        json!({"operations": [{"type": "rename", "from": "a", "to": "link/a"}]}),
    );
    assert_eq!(status, 400);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    // The catalog does not follow the link.
    let snap = d
        .get(&format!("/files/sessions/{sid}/catalog/snapshot"))
        .json();
    assert_eq!(snap["total"], 0);
}

#[test]
fn ops_mkdir_delete_rename() {
    let d = Daemon::builder().with_workspace().manual(30_000).start();
    d.write_file("dir/f.txt", "f");
    let sid = open(&d, TOKEN, "{}")["id"].as_str().unwrap().to_owned();
    let body = json!({"operations": [
        {"type": "mkdir", "path": "made/deep"},
        {"type": "delete", "path": "dir"},
        {"type": "rename", "from": "dir/f.txt", "to": "made/f.txt"},
        {"type": "delete", "path": "ghost"},
        {"type": "chmod", "path": "x"},
    ]});
    let waiting = d.write_in_background(
        "POST",
        &format!("/files/sessions/{sid}/ops"),
        &body.to_string(),
    );
    let pending = d.pending(1);
    assert_eq!(pending[0]["action"], "workspace.files.session.ops");
    assert_eq!(
        pending[0]["summary"],
        "Apply 5 file operation(s) via file session"
    );
    d.request(
        "POST",
        &format!("/approvals/{}", pending[0]["id"].as_str().unwrap()),
        Auth::Host(HOST_TOKEN),
        Some(r#"{"reply":"allow"}"#),
    );
    let (status, result) = waiting.join().unwrap();
    assert_eq!(status, 200, "{result}");
    let codes: Vec<Value> = result["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.get("code").cloned().unwrap_or(Value::Bool(true)))
        .collect();
    assert_eq!(
        codes,
        [
            json!(true),
            json!("operation_failed"),
            json!(true),
            json!("file_not_found"),
            json!("invalid_operation")
        ]
    );
    assert!(d.workspace.join("made/deep").is_dir());
    assert_eq!(d.read_file("made/f.txt").unwrap(), "f");
}

#[test]
fn the_real_client_file_commands() {
    let d = Daemon::start();
    d.write_file("hello.txt", "hello");
    let openwork = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend_from_slice(&["--openwork-url", &d.base, "--openwork-token", TOKEN]);
        let run = run_isolated(
            &peer("openwork-orchestrator-linux-x64", "openwork"),
            d.root(),
            &full,
            &[],
            "",
        )
        .ok();
        serde_json::from_str::<Value>(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
    };
    let session = openwork(&["files", "session", "create", "--workspace-id", &d.ws_id]);
    let sid = session["session"]["id"].as_str().unwrap().to_owned();
    let s = |args: &[&str]| {
        let mut full = vec!["files"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--session-id", &sid]);
        openwork(&full)
    };
    assert_eq!(s(&["catalog"])["items"][0]["path"], "hello.txt");
    assert_eq!(
        s(&["read", "--paths", "hello.txt"])["items"][0]["contentBase64"],
        b64("hello")
    );
    assert_eq!(
        s(&["write", "--path", "notes/n.txt", "--content", "note"])["items"][0]["ok"],
        true
    );
    assert_eq!(d.read_file("notes/n.txt").unwrap(), "note");
    assert_eq!(s(&["mkdir", "--path", "box"])["items"][0]["ok"], true);
    assert_eq!(
        s(&["rename", "--from", "notes/n.txt", "--to", "box/n.txt"])["items"][0]["ok"],
        true
    );
    assert_eq!(d.read_file("box/n.txt").unwrap(), "note");
    assert_eq!(
        s(&["delete", "--path", "box", "--recursive"])["items"][0]["ok"],
        true
    );
    assert!(!d.workspace.join("box").exists());
    let events = s(&["events"]);
    let seen: Vec<(String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().into(),
                e["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    // The API's own events, in order (the watcher may add e.g. the `notes`
    // folder the write created).
    let expected = [
        ("write", "notes/n.txt"),
        ("mkdir", "box"),
        ("rename", "notes/n.txt"),
        ("delete", "box"),
    ];
    let mut rest = seen.iter();
    for (kind, path) in expected {
        assert!(
            rest.any(|(k, p)| k == kind && p == path),
            "{kind} {path} missing or out of order in {seen:?}"
        );
    }
    assert_eq!(
        s(&["session", "renew", "--ttl-seconds", "120"])["session"]["ttlMs"],
        120_000
    );
    assert_eq!(s(&["session", "close"]), json!({"ok": true}));
}

/// The catalog is kept in memory while the workspace is watched, and never
/// served stale: names added or removed on disk show at once, content
/// edited in place as soon as the watcher reports it, API writes at once.
#[test]
fn the_kept_catalog_follows_every_change() {
    let d = Daemon::start();
    d.write_file("a/one.txt", "1");
    let sid = open(&d, TOKEN, "{}")["id"].as_str().unwrap().to_owned();
    let snapshot = || {
        d.get(&format!("/files/sessions/{sid}/catalog/snapshot"))
            .json()
    };
    let size_of = |snap: &Value, path: &str| {
        snap["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"] == path)
            .map(|i| i["size"].as_u64().unwrap())
    };
    // Kept after the watcher has started and settled.
    d.wait_for(Duration::from_secs(10), || {
        d.output().contains("Watching 1 workspace").then_some(())
    });
    for _ in 0..3 {
        assert_eq!(size_of(&snapshot(), "a/one.txt"), Some(1));
    }
    // A new name, deep down: at once.
    d.write_file("a/b/c/two.txt", "22");
    assert_eq!(size_of(&snapshot(), "a/b/c/two.txt"), Some(2));
    // Removed: at once.
    std::fs::remove_file(d.workspace.join("a/b/c/two.txt")).unwrap();
    assert_eq!(size_of(&snapshot(), "a/b/c/two.txt"), None);
    // A folder replaced by a file of the same name: at once, nothing left
    // of what the folder held.
    d.write_file("a/b/c/three.txt", "333");
    assert_eq!(size_of(&snapshot(), "a/b/c/three.txt"), Some(3));
    std::fs::remove_dir_all(d.workspace.join("a/b")).unwrap();
    std::fs::write(d.workspace.join("a/b"), "file").unwrap();
    let snap = snapshot();
    assert_eq!(size_of(&snap, "a/b"), Some(4));
    assert_eq!(size_of(&snap, "a/b/c/three.txt"), None);
    assert!(
        snap["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !i["path"].as_str().unwrap().starts_with("a/b/")),
        "{snap}"
    );
    // Edited in place (no name changes): once the watcher reports it.
    let snap = snapshot();
    assert_eq!(size_of(&snap, "a/one.txt"), Some(1));
    std::fs::write(d.workspace.join("a/one.txt"), "longer").unwrap();
    d.wait_for(Duration::from_secs(5), || {
        (size_of(&snapshot(), "a/one.txt") == Some(6)).then_some(())
    });
    // Through the API: at once.
    let written = call(
        &d,
        &sid,
        "write-batch",
        json!({"writes": [{"path": "a/one.txt", "contentBase64": b64("three")}]}),
    );
    assert_eq!(written.1["items"][0]["path"], "a/one.txt", "{written:?}");
    assert_eq!(size_of(&snapshot(), "a/one.txt"), Some(5));
}

/// Large read-batch answers share one memory budget: a few at once wait
/// their turn instead of each building its answer (here ~200 MB) beside
/// the others, and all of them are answered whole.
#[test]
fn large_read_batches_wait_for_a_memory_budget() {
    const MB: usize = 1_000_000;
    let d = Daemon::start();
    d.write_file("big.bin", &"b".repeat(MB));
    let sid = open(&d, TOKEN, "{}")["id"].as_str().unwrap().to_owned();
    let body = json!({"paths": vec!["big.bin"; 64]}).to_string();
    let before = d.peak_rss_kib();
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| d.post(&format!("/files/sessions/{sid}/read-batch"), &body)))
            .collect();
        for reader in readers {
            let answer = reader.join().unwrap();
            assert_eq!(
                answer.status,
                200,
                "{}",
                &answer.text[..200.min(answer.text.len())]
            );
            let whole = format!("\"bytes\":{MB},");
            assert_eq!(answer.text.matches(&whole).count(), 64, "every file whole");
        }
    });
    // One answer of 64 MB of files holds about three times that; two at
    // once would not fit the budget.
    let grown_mib = (d.peak_rss_kib() - before) / 1024;
    // (About 250 MiB measured; over 420 without the budget.)
    assert!(grown_mib < 330, "peak memory grew by {grown_mib} MiB");
}
