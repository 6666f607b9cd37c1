//! Hostile input against the real daemon: file-system edge cases planted
//! in the workspace, leftovers of interrupted writes, ranges, oversized
//! uploads and the process umask. None of it may produce a 5xx.

use openworkd_tests::{Daemon, TOKEN, client_builder, http, sha256};
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};

/// How long a change on disk may take to be seen.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A name one byte over what a folder entry may hold.
fn long_name() -> String {
    "n".repeat(256)
}

/// Paths that make the file system refuse: a symlink loop (ELOOP), a name
/// too long (ENAMETOOLONG), a file where a folder is expected (ENOTDIR).
fn refused_paths() -> Vec<String> {
    vec![
        "loop/x.txt".to_owned(),
        "loop".to_owned(),
        "self".to_owned(),
        "self/x".to_owned(),
        long_name(),
        format!("dir/{}/x", long_name()),
        format!("{}.md", "m".repeat(300)),
        "regular.txt/x".to_owned(),
        "regular.txt/x/y".to_owned(),
    ]
}

fn plant(d: &Daemon) {
    let ws = &d.workspace;
    std::fs::write(ws.join("regular.txt"), "r").unwrap();
    symlink(ws.join("loop"), ws.join("loop")).unwrap();
    symlink("self", ws.join("self")).unwrap();
    let inbox = ws.join(".opencode/openwork/inbox");
    std::fs::create_dir_all(inbox.join("existing-dir")).unwrap();
    std::fs::write(inbox.join("regular.txt"), "r").unwrap();
    symlink("inbox-loop", inbox.join("inbox-loop")).unwrap();
}

/// `method path` with `body` as JSON and the client token.
fn send_json(d: &Daemon, method: &str, path: &str, body: &Value) -> openworkd_tests::Response {
    d.request(
        method,
        path,
        openworkd_tests::Auth::Bearer(TOKEN),
        Some(&body.to_string()),
    )
}

fn assert_no_5xx(what: &str, status: u16, text: &str) {
    assert!(status < 500, "{what}: {status} {text}");
    if status >= 400 {
        let body: Value =
            serde_json::from_str(text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{what}: {text}"
        );
        // The router's answer to a route that does not exist: the request
        // never reached what it means to test.
        assert_ne!(body["code"], "not_found", "{what}: no such route");
    }
}

fn upload(d: &Daemon, query: &str, name: &str, bytes: &[u8]) -> (u16, String) {
    let part = Part::bytes(bytes.to_vec()).file_name(name.to_owned());
    let resp = http()
        .post(format!("{}{}{query}", d.base, d.ws("inbox")))
        .bearer_auth(TOKEN)
        .multipart(Form::new().part("file", part))
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

fn b64url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[test]
fn file_system_refusals_are_client_errors_on_every_path_taking_endpoint() {
    let d = Daemon::start();
    plant(&d);
    let r = d.post(&d.ws("files/sessions"), "{}");
    let sid = r.json()["session"]["id"].as_str().unwrap().to_owned();
    let session = |rest: &str| format!("/files/sessions/{sid}/{rest}");
    let content = json!("aGk=");

    for path in refused_paths() {
        let what = |endpoint: &str| format!("{endpoint} {path:?}");
        // File sessions: catalog prefix, read, write, every op.
        let r = d.get(&session(&format!(
            "catalog/snapshot?prefix={}",
            openwork_shared::routes::segment(&path)
        )));
        assert_no_5xx(&what("catalog"), r.status, &r.text);
        let r = d.post(
            &session("read-batch"),
            &json!({"paths": [path]}).to_string(),
        );
        assert_no_5xx(&what("read-batch"), r.status, &r.text);
        let r = d.post(
            &session("write-batch"),
            &json!({"writes": [{"path": path, "contentBase64": content}]}).to_string(),
        );
        assert_no_5xx(&what("write-batch"), r.status, &r.text);
        if r.status == 200 {
            let item = &r.json()["items"][0];
            assert_eq!(
                (item["ok"].as_bool(), item["code"].as_str()),
                (Some(false), Some("invalid_path")),
                "{}",
                what("write-batch")
            );
        }
        for op in [
            json!({"type": "mkdir", "path": path}),
            json!({"type": "delete", "path": path, "recursive": true}),
            json!({"type": "rename", "from": "regular.txt", "to": path}),
            json!({"type": "rename", "from": path, "to": "elsewhere.txt"}),
        ] {
            let r = d.post(&session("ops"), &json!({"operations": [op]}).to_string());
            assert_no_5xx(&what(&format!("ops {op}")), r.status, &r.text);
        }
        // Inbox: as the destination path, as the file name, as an id.
        let r = upload(
            &d,
            &format!("?path={}", openwork_shared::routes::segment(&path)),
            "f.txt",
            b"x",
        );
        assert_no_5xx(&what("inbox upload path"), r.0, &r.1);
        let name = path.rsplit('/').next().unwrap();
        let r = upload(&d, "", name, b"x");
        assert_no_5xx(&what("inbox upload name"), r.0, &r.1);
        for kind in ["inbox", "artifacts"] {
            let r = d.get(&d.ws(&format!("{kind}/{}", b64url(&path))));
            assert_no_5xx(&what(kind), r.status, &r.text);
        }
    }
    // The regular file and the loop are still there, untouched.
    assert_eq!(d.read_file("regular.txt").as_deref(), Some("r"));
    assert!(std::fs::symlink_metadata(d.workspace.join("loop")).is_ok());

    // An upload onto an existing folder (EISDIR), below a file (ENOTDIR),
    // into a loop (ELOOP).
    for target in [
        "existing-dir",
        "regular.txt/x",
        "inbox-loop/x",
        "inbox-loop",
    ] {
        let r = upload(&d, &format!("?path={target}"), "f.txt", b"x");
        assert_no_5xx(&format!("upload onto {target}"), r.0, &r.1);
        assert_eq!(r.0, 400, "{target}: {}", r.1);
        assert_eq!(
            serde_json::from_str::<Value>(&r.1).unwrap()["code"],
            "invalid_path"
        );
    }

    // Names too long for a file: commands (create, delete, import), skills.
    let long = "c".repeat(300);
    let r = d.post(
        &d.ws("commands"),
        &json!({"name": long, "template": "t"}).to_string(),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_command_name".to_owned()),
        "{}",
        r.text
    );
    let r = d.delete(&d.ws(&format!("commands/{long}")));
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_command_name".to_owned()),
        "{}",
        r.text
    );
    let r = d.post(
        &d.ws("import"),
        &json!({"commands": [{"name": long, "template": "t"}]}).to_string(),
    );
    assert_no_5xx("import", r.status, &r.text);
    assert_eq!(r.status, 400);
    let r = d.post(
        &d.ws("skills"),
        &json!({"name": long, "description": "d", "content": "c"}).to_string(),
    );
    assert_no_5xx("skills", r.status, &r.text);
    assert_eq!(r.status, 400);
}

#[test]
fn planted_fifos_and_huge_files_are_refused_never_waited_on_or_loaded() {
    let d = Daemon::start();
    let ws = &d.workspace;
    let fifo = |relative: &str| {
        let path = ws.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        openworkd_tests::make_fifo(&path);
    };
    // Sparse: says 20 GiB, takes no room.
    let huge = |relative: &str| {
        let path = ws.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(20 << 30).unwrap();
    };
    fifo("opencode.jsonc");
    fifo(".opencode/skills/piped/SKILL.md");
    fifo("piped.txt");
    huge(".opencode/skills/huge/SKILL.md");
    huge(".opencode/commands/huge.md");
    d.write_file(".opencode/commands/fine.md", "run it");
    // A hang fails here instead of stalling the suite.
    let client = client_builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    let call = |method: &str, path: &str, body: Option<Value>| {
        let mut req = client
            .request(method.parse().unwrap(), format!("{}{path}", d.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        assert_no_5xx(&format!("{method} {path}"), status, &text);
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    for route in ["config", "plugins", "mcp", "export"] {
        let (status, body) = call("GET", &d.ws(route), None);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_path")),
            "{route}: {body}"
        );
    }
    let (status, _) = call(
        "PATCH",
        &d.ws("config"),
        Some(json!({"opencode": {"model": "x"}})),
    );
    assert_eq!(status, 400);
    assert!(
        std::fs::symlink_metadata(ws.join("opencode.jsonc"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    // Lists leave out what they cannot read; the entries answer not found.
    let (status, body) = call("GET", &d.ws("skills"), None);
    assert_eq!(
        (status, body["items"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    for name in ["piped", "huge"] {
        assert_eq!(call("GET", &d.ws(&format!("skills/{name}")), None).0, 404);
    }
    let (status, body) = call("GET", &d.ws("commands"), None);
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["name"], "fine", "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
    // File sessions: a FIFO is no file, a huge file is over the limit.
    let (_, session) = call("POST", &d.ws("files/sessions"), Some(json!({})));
    let sid = session["session"]["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        "POST",
        &format!("/files/sessions/{sid}/read-batch"),
        Some(json!({"paths": ["piped.txt", ".opencode/commands/huge.md"]})),
    );
    assert_eq!(status, 200);
    let codes: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(codes, ["file_not_found", "file_too_large"], "{body}");
    // Still serving, nothing loaded.
    assert_eq!(call("GET", "/health", None).0, 200);
    let rss_kib: u64 = std::fs::read_to_string(format!("/proc/{}/status", d.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(rss_kib < 256 * 1024, "peak RSS {rss_kib} KiB");
}

/// Planted text that is not UTF-8: shown with U+FFFD where the bytes were
/// (as a client reading it as text would), never edited, as an edit could
/// not keep those bytes.
#[test]
fn planted_text_that_is_not_utf8_is_shown_but_never_edited() {
    let d = Daemon::start();
    let config = d.workspace.join("opencode.jsonc");
    let edits = [
        ("PATCH", d.ws("config"), json!({"opencode": {"model": "m"}})),
        ("POST", d.ws("plugins"), json!({"spec": "p"})),
        (
            "POST",
            d.ws("mcp"),
            json!({"name": "m", "config": {"type": "local", "command": ["x"]}}),
        ),
        ("POST", d.ws("import"), json!({"opencode": {"model": "m"}})),
    ];
    // A Latin-1 byte in a comment: the config parses, but is not UTF-8.
    let latin: &[u8] = b"{\n  // caf\xe9\n  \"theme\": \"x\"\n}\n";
    let garbage: &[u8] = b"\xff\xfe\x00{\x01\xc3";
    for (planted, read) in [(latin, 200), (garbage, 422)] {
        std::fs::write(&config, planted).unwrap();
        let r = d.get(&d.ws("config"));
        assert_no_5xx("config", r.status, &r.text);
        assert_eq!(r.status, read, "{}", r.text);
        if read == 200 {
            assert_eq!(r.json()["opencode"]["theme"], "x", "{}", r.text);
        }
        for (method, path, body) in &edits {
            let r = send_json(&d, method, path, body);
            assert_no_5xx(path, r.status, &r.text);
            assert_eq!(
                (r.status, r.code().as_str()),
                (422, "invalid_jsonc"),
                "{method} {path}"
            );
            assert_eq!(std::fs::read(&config).unwrap(), planted, "{method} {path}");
        }
    }
    // A skill and a command holding a Latin-1 byte are listed, read and
    // exported like any other.
    let skill = d.workspace.join(".opencode/skills/latin/SKILL.md");
    std::fs::create_dir_all(skill.parent().unwrap()).unwrap();
    std::fs::write(
        &skill,
        b"---\nname: latin\ndescription: caf\xe9\n---\nBody \xe9\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.workspace.join(".opencode/commands")).unwrap();
    std::fs::write(
        d.workspace.join(".opencode/commands/latin.md"),
        b"---\ndescription: caf\xe9\n---\nRun \xe9\n",
    )
    .unwrap();
    std::fs::remove_file(&config).unwrap();
    let listed = d.get(&d.ws("skills")).json();
    assert_eq!(listed["items"][0]["description"], "caf\u{fffd}", "{listed}");
    let read = d.get(&d.ws("skills/latin"));
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(
        read.json()["content"]
            .as_str()
            .unwrap()
            .contains("Body \u{fffd}")
    );
    let commands = d.get(&d.ws("commands")).json();
    assert_eq!(commands["items"][0]["name"], "latin", "{commands}");
    assert_eq!(
        commands["items"][0]["template"], "Run \u{fffd}",
        "{commands}"
    );
    let export = d.get(&d.ws("export")).json();
    assert_eq!(export["skills"][0]["name"], "latin", "{export}");
    assert_eq!(export["commands"][0]["name"], "latin", "{export}");
}

/// The inotify watches the process holds.
fn inotify_watches(pid: u32) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    fds.filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().contains("inotify"))
        })
        .map(|fd| {
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ));
            info.unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("inotify"))
                .count()
        })
        .sum()
}

#[test]
fn a_symlink_to_a_large_tree_is_not_watched_through() {
    let outside = tempfile::tempdir().unwrap();
    for i in 0..300 {
        std::fs::create_dir_all(outside.path().join(format!("d{i}/e"))).unwrap();
    }
    // The workspace holds the link (and two folders) before the start.
    let ws = tempfile::tempdir().unwrap();
    symlink(outside.path(), ws.path().join("big")).unwrap();
    std::fs::create_dir_all(ws.path().join("notes/old")).unwrap();
    let d = Daemon::builder()
        .arg("--workspace")
        .arg(ws.path().to_str().unwrap())
        .start();
    // Watched once the watcher has walked the workspace: its three folders.
    let watches = d.wait_for(WAIT, || Some(inotify_watches(d.pid())).filter(|n| *n >= 3));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(inotify_watches(d.pid()), watches);
    assert!(watches < 10, "{watches} inotify watches");
}

#[test]
fn a_workspace_whose_folder_is_gone_answers_not_found_and_is_not_recreated() {
    let d = Daemon::start();
    let r = d.post(&d.ws("files/sessions"), r#"{"write":true}"#);
    let sid = r.json()["session"]["id"].as_str().unwrap().to_owned();
    let reads = ["config", "plugins", "mcp", "export"];
    let writes = [
        ("PATCH", d.ws("config"), json!({"opencode": {"model": "x"}})),
        (
            "POST",
            d.ws("skills"),
            json!({"name": "a", "description": "d", "content": "x"}),
        ),
        (
            "POST",
            d.ws("commands"),
            json!({"name": "a", "template": "t"}),
        ),
        ("POST", d.ws("plugins"), json!({"spec": "p"})),
        (
            "POST",
            d.ws("import"),
            json!({"commands": [{"name": "b", "template": "t"}]}),
        ),
        (
            "POST",
            format!("/files/sessions/{sid}/write-batch"),
            json!({"writes": [{"path": "a.txt", "contentBase64": "aGk="}]}),
        ),
    ];
    // The folder removed, then replaced by a file.
    for replace_with_file in [false, true] {
        // Read first: what was cached (a config file's absence too) must
        // not answer for a folder that is gone.
        for route in reads {
            assert_eq!(d.get(&d.ws(route)).status, 200, "{route}");
        }
        std::fs::remove_dir_all(&d.workspace).unwrap();
        if replace_with_file {
            std::fs::write(&d.workspace, "not a folder").unwrap();
        }
        for route in reads {
            let r = d.get(&d.ws(route));
            assert_eq!(
                (r.status, r.code()),
                (404, "workspace_not_found".into()),
                "{route}: {}",
                r.text
            );
        }
        for (method, path, body) in &writes {
            let r = send_json(&d, method, path, body);
            assert_eq!(
                (r.status, r.code()),
                (404, "workspace_not_found".into()),
                "{method} {path}: {}",
                r.text
            );
        }
        let (status, text) = upload(&d, "", "f.txt", b"x");
        assert_eq!(status, 404, "{text}");
        assert_eq!(
            std::fs::symlink_metadata(&d.workspace).is_ok(),
            replace_with_file,
            "recreated"
        );
        if replace_with_file {
            std::fs::remove_file(&d.workspace).unwrap();
        }
        // Back again: served as before.
        std::fs::create_dir(&d.workspace).unwrap();
        assert_eq!(d.get(&d.ws("config")).status, 200);
    }
}

#[test]
fn a_request_head_or_first_byte_that_does_not_arrive_in_30_s_closes_the_connection() {
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let d = Daemon::start();
    let addr = d.base.trim_start_matches("http://").to_owned();
    // Headers sent byte by byte, never finished; and a connection left
    // idle after an answer.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let closed_after = |mut conn: TcpStream| {
        std::thread::spawn(move || {
            conn.set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            let mut all = Vec::new();
            let _ = conn.read_to_end(&mut all);
            (
                started.elapsed(),
                String::from_utf8_lossy(&all).into_owned(),
            )
        })
    };
    // And one that never sends a byte.
    let silent = TcpStream::connect(&addr).unwrap();
    // HTTP/2 (prior knowledge) is not served: its preface is refused at
    // once, not held.
    let mut h2 = TcpStream::connect(&addr).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    h2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut refused = Vec::new();
    h2.read_to_end(&mut refused).expect("closed at once");
    assert!(!String::from_utf8_lossy(&refused).contains(" 200 "));
    let (slow, idle) = (closed_after(slow), closed_after(idle));
    let silent = closed_after(silent);
    let (slow_after, slow_got) = slow.join().unwrap();
    let (idle_after, idle_got) = idle.join().unwrap();
    let (silent_after, silent_got) = silent.join().unwrap();
    assert_eq!(silent_got, "");
    for after in [slow_after, idle_after, silent_after] {
        assert!(
            after >= Duration::from_secs(29) && after < Duration::from_secs(45),
            "closed after {after:?}"
        );
    }
    assert_eq!(slow_got, "");
    assert!(idle_got.starts_with("HTTP/1.1 200"), "{idle_got}");
    // Other clients were served meanwhile.
    assert_eq!(d.get("/health").status, 200);
}

#[test]
fn form_fields_beside_the_file_are_bounded_without_a_length() {
    let d = Daemon::start();
    // Streamed (chunked, no Content-Length): 200 MB in the `path` field,
    // then in a field nobody reads.
    for name in ["path", "other"] {
        let endless = Part::reader(std::io::repeat(b'a').take(200 << 20));
        let form = Form::new()
            .part(name, endless)
            .part("file", Part::bytes(b"x".to_vec()).file_name("f.txt"));
        let resp = http()
            .post(format!("{}{}", d.base, d.ws("inbox")))
            .bearer_auth(TOKEN)
            .multipart(form)
            .send();
        // The daemon may answer and close before the whole body is sent.
        if let Ok(resp) = resp {
            let status = resp.status().as_u16();
            let text = resp.text().unwrap_or_default();
            assert_eq!(status, 413, "{name}: {text}");
            assert!(text.contains("body_too_large"), "{name}: {text}");
        }
    }
    assert_eq!(d.get("/health").status, 200);
    assert!(
        d.peak_rss_kib() < 128 * 1024,
        "peak RSS {} KiB",
        d.peak_rss_kib()
    );
    assert!(!d.workspace.join(".opencode/openwork/inbox/f.txt").exists());
}

/// The name an interrupted atomic write leaves (see docs/decisions.md).
fn leftover_name(random: &str) -> String {
    let check = &sha256(&format!("openworkd temporary file {random}"))[..8];
    format!(".openworkd-tmp-{random}-{check}")
}

#[test]
fn leftovers_of_interrupted_writes_are_never_served_and_removed_at_start() {
    // Planted before the daemon starts, as a crash would have left them.
    let mut first = Daemon::start();
    first.terminate();
    let ws = first.workspace.clone();
    let ours = [
        ws.join(leftover_name("0123456789abcdef")),
        ws.join("docs").join(leftover_name("fedcba9876543210")),
        ws.join(".opencode/openwork/inbox")
            .join(leftover_name("00112233aabbccdd")),
    ];
    let users = [
        ws.join(".openworkd-tmp-0123456789abcdef-00000000"),
        ws.join(".env.backup"),
        ws.join(".opencode.json.a1B2c3"),
    ];
    for file in ours.iter().chain(&users) {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, "half-written").unwrap();
    }
    // A new daemon on the same workspace (the temp dir is kept alive by `first`).
    let mut d = Daemon::builder()
        .arg("--workspace")
        .arg(&ws.display().to_string())
        .start();
    d.ws_id = openworkd_tests::workspace_id(&ws);
    // The files go first, then the line saying so reaches the log.
    d.wait_for(std::time::Duration::from_secs(10), || {
        let swept = ours.iter().all(|f| !f.exists());
        (swept && d.output().contains("Removed 3 temporary file(s)")).then_some(())
    });
    for file in &users {
        assert!(file.exists(), "{} was removed", file.display());
    }

    // A leftover appearing while running is neither listed nor served, and
    // a client cannot create one.
    let late = leftover_name("abcdefabcdef0123");
    std::fs::write(ws.join(&late), "half").unwrap();
    let sid = d.post(&d.ws("files/sessions"), "{}").json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let snapshot = d
        .get(&format!("/files/sessions/{sid}/catalog/snapshot"))
        .json();
    let listed: Vec<&str> = snapshot["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert!(
        !listed
            .iter()
            .any(|p| p.contains(".openworkd-tmp-") && !p.ends_with("00000000")),
        "{listed:?}"
    );
    assert!(listed.contains(&".env.backup"), "{listed:?}");
    let r = d.post(
        &format!("/files/sessions/{sid}/read-batch"),
        &json!({"paths": [late]}).to_string(),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_path".to_owned()),
        "{}",
        r.text
    );
    let r = d.post(
        &format!("/files/sessions/{sid}/write-batch"),
        &json!({"writes": [{"path": leftover_name("1111222233334444"), "contentBase64": "aGk="}]})
            .to_string(),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_path".to_owned()),
        "{}",
        r.text
    );
    std::fs::write(ws.join(".opencode/openwork/inbox").join(&late), "half").unwrap();
    let inbox = d.get(&d.ws("inbox")).json();
    assert!(!inbox.to_string().contains(".openworkd-tmp-"), "{inbox}");
    drop(first);
}

#[test]
fn ranges_answer_json_errors_and_unknown_units_are_ignored() {
    let d = Daemon::start();
    d.write_file(".opencode/openwork/outbox/report.txt", "0123456789");
    let url = format!(
        "{}{}",
        d.base,
        d.ws(&format!("artifacts/{}", b64url("report.txt")))
    );
    let get = |range: &str| {
        let resp = http()
            .get(&url)
            .bearer_auth(TOKEN)
            .header("Range", range)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let content_range = resp
            .headers()
            .get("content-range")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, content_range, resp.text().unwrap())
    };
    let (status, content_range, text) = get("bytes=100-");
    assert_eq!(status, 416, "{text}");
    assert_eq!(content_range.as_deref(), Some("bytes */10"));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["code"], "range_not_satisfiable");
    assert!(body["message"].is_string());
    let (status, _, text) = get("items=0-3");
    assert_eq!((status, text.as_str()), (200, "0123456789"));
    let (status, _, text) = get("bytes=2-4");
    assert_eq!((status, text.as_str()), (206, "234"));
}

#[test]
fn an_announced_oversized_upload_is_refused_before_its_body() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_INBOX_MAX_BYTES", "1000")
        .start();
    let addr = d.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // Headers only: the body is never sent.
    write!(
        stream,
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n",
        d.ws("inbox")
    )
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"file_too_large\""), "{answer}");
    assert!(answer.contains("\"maxBytes\":1000"), "{answer}");
}

#[test]
fn openworkctl_names_the_limit_of_a_file_too_large() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_INBOX_MAX_BYTES", "1000")
        .start();
    let file = d.dir.path().join("big.bin");
    std::fs::write(&file, vec![1u8; 5000]).unwrap();
    let run = d.ctl_as_host(&["inbox", "upload", &file.display().to_string()]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("too large"), "{}", run.stderr);
    assert!(run.stderr.contains("1000 bytes"), "{}", run.stderr);
    assert!(!run.stderr.contains("cannot reach"), "{}", run.stderr);
    assert!(
        d.get(&d.ws("inbox")).json()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn files_get_their_modes_whatever_the_umask() {
    let d = Daemon::builder()
        .with_workspace()
        .launched_by(&["sh", "-c", "umask 000; exec \"$0\" \"$@\""])
        .start();
    let r = d.patch(&d.ws("config"), r#"{"openwork":{"a":1}}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, text) = upload(&d, "?path=sub/up.txt", "up.txt", b"x");
    assert_eq!(status, 200, "{text}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let audit = d
        .dir
        .path()
        .join("data/audit")
        .join(format!("{}.jsonl", d.ws_id));
    assert_eq!(mode(&audit), 0o600, "audit log");
    assert_eq!(mode(&d.workspace.join(".opencode/openwork.json")), 0o644);
    let inbox = d.workspace.join(".opencode/openwork/inbox");
    assert_eq!(mode(&inbox.join("sub/up.txt")), 0o644);
    for dir in [
        inbox.join("sub"),
        inbox.clone(),
        d.workspace.join(".opencode/openwork/.uploads"),
    ] {
        assert_eq!(
            mode(&dir) & 0o022,
            0,
            "{} is writable by others",
            dir.display()
        );
    }
}

/// A write's audit line that cannot be kept (a folder planted where the
/// log goes) is logged; the change itself happened and is answered so.
#[test]
fn a_write_whose_audit_line_cannot_be_kept_is_still_answered() {
    let d = Daemon::start();
    let log = d.root().join(format!("data/audit/{}.jsonl", d.ws_id));
    std::fs::create_dir_all(&log).unwrap();
    let r = d.patch(&d.ws("config"), r#"{"opencode":{"model":"x"}}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(d.get(&d.ws("config")).json()["opencode"]["model"], "x");
    d.wait_for(WAIT, || {
        d.output().contains("audit append failed").then_some(())
    });
}

#[test]
fn running_out_of_descriptors_is_survived_and_reported_once() {
    use std::net::TcpStream;
    use std::time::Duration;
    // A soft limit below the hard one is raised to it; then more
    // connections than it allows, each holding an unfinished request.
    let d = Daemon::builder()
        .with_workspace()
        .launched_by(&["prlimit", "--nofile=64:100", "--"])
        .start();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["100", "100"],
        "{open_files}"
    );
    let addr = d.base.trim_start_matches("http://").to_owned();
    let held: Vec<TcpStream> = (0..150)
        .map(|_| {
            let mut conn = TcpStream::connect(&addr).unwrap();
            conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            conn
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    drop(held);
    // Served again once descriptors are free; the failures were reported
    // once, not once per retry.
    d.wait_for(Duration::from_secs(20), || {
        let ok = openworkd_tests::client_builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap()
            .get(format!("{}/health", d.base))
            .send()
            .is_ok_and(|r| r.status() == 200);
        ok.then_some(())
    });
    let output = d.output();
    assert_eq!(
        output.matches("cannot accept a connection").count(),
        1,
        "{output}"
    );
    assert!(output.contains("Too many open files"), "{output}");
}

#[test]
fn a_request_body_that_stops_arriving_is_answered_408_after_30_s() {
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let d = Daemon::start();
    let addr = d.base.trim_start_matches("http://").to_owned();
    let skills = d.ws("skills");
    let inbox = d.ws("inbox");
    // A JSON body and a multipart upload, each cut short: the length
    // announced, part of it sent, then silence with the connection open.
    let json_head = format!(
        "POST {skills} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"name\":\"stalled\","
    );
    let form_head = format!(
        "POST {inbox} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stalled.txt\"\r\n\r\nsome"
    );
    let started = Instant::now();
    let answers: Vec<_> = [json_head, form_head]
        .into_iter()
        .map(|head| {
            let mut conn = TcpStream::connect(&addr).unwrap();
            conn.write_all(head.as_bytes()).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let _ = conn.read_to_end(&mut got);
                (
                    started.elapsed(),
                    String::from_utf8_lossy(&got).into_owned(),
                )
            })
        })
        .collect();
    // Meanwhile others are served.
    assert_eq!(d.get("/health").status, 200);
    for answer in answers {
        let (after, text) = answer.join().unwrap();
        assert!(
            after >= Duration::from_secs(29) && after < Duration::from_secs(45),
            "answered after {after:?}: {text}"
        );
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["code"], "request_timeout", "{text}");
    }
    // Nothing was written.
    assert!(d.read_file(".opencode/skills/stalled/SKILL.md").is_none());
    let listed = d.get(&d.ws("inbox")).json();
    assert_eq!(listed["items"], json!([]), "{listed}");
}

#[test]
fn a_client_that_stops_taking_an_answer_is_cut_off_after_30_s() {
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let d = Daemon::start();
    // 64 MB to download: far more than the socket buffers hold.
    let big = "x".repeat(64 << 20);
    d.write_file(".opencode/openwork/outbox/big.txt", &big);
    let list = d.get(&d.ws("artifacts")).json();
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let addr = d.base.trim_start_matches("http://").to_owned();
    let mut conn = TcpStream::connect(&addr).unwrap();
    let path = format!("{}/{id}", d.ws("artifacts"));
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .unwrap();
    // Take nothing for 35 s, then everything there is.
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(35));
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    let ended = loop {
        match conn.read(&mut chunk) {
            Ok(0) => break "closed",
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break "still open",
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break "still open",
            Err(_) => break "reset",
        }
    };
    assert_ne!(ended, "still open", "after {:?}", started.elapsed());
    // Cut off: what was buffered before the silence, not the whole file.
    assert!(got < 32 << 20, "received {got} bytes");
    // Others were served all along.
    assert_eq!(d.get("/health").status, 200);
}

/// One answer read from `conn`: its head, then as many body bytes as its
/// `Content-Length` says.
fn read_answer(conn: &mut std::net::TcpStream) -> std::io::Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return Ok(text);
            }
        }
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(String::from_utf8_lossy(&got).into_owned());
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// An answer given before the request's body has arrived (a body too
/// large by its length or by what arrived, a refused credential, an
/// unknown workspace) reaches a client that is still sending: the body is
/// read to its end, not cut off with a reset mid-send.
#[test]
fn an_answer_given_before_the_body_arrives_reaches_a_client_still_sending() {
    use std::time::Duration;
    let d = Daemon::start();
    let addr = d.base.trim_start_matches("http://").to_owned();
    let big = 17 * 1024 * 1024;
    let cases = [
        (d.ws("plugins"), TOKEN, Some(big), "413", "body_too_large"),
        (d.ws("plugins"), TOKEN, None, "413", "body_too_large"),
        (
            d.ws("plugins"),
            "wrong",
            Some(1 << 20),
            "401",
            "unauthorized",
        ),
        (
            "/workspace/ws_none/plugins".to_owned(),
            TOKEN,
            Some(1 << 20),
            "404",
            "workspace_not_found",
        ),
    ];
    for (path, token, length, status, code) in cases {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let framing = match length {
            Some(n) => format!("Content-Length: {n}"),
            None => "Transfer-Encoding: chunked".to_owned(),
        };
        write!(
            conn,
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\n{framing}\r\n\r\n"
        )
        .unwrap();
        // The answer is given meanwhile; then the whole body is sent.
        std::thread::sleep(Duration::from_millis(300));
        let chunk = vec![b' '; 1 << 20];
        let sent = match length {
            Some(n) => conn.write_all(&vec![b' '; n]),
            None => (0..big / chunk.len())
                .try_for_each(|_| {
                    write!(conn, "{:x}\r\n", chunk.len())?;
                    conn.write_all(&chunk)?;
                    conn.write_all(b"\r\n")
                })
                .and_then(|()| conn.write_all(b"0\r\n\r\n")),
        };
        sent.unwrap_or_else(|e| panic!("{path} ({framing}): sending the body failed: {e}"));
        let answer =
            read_answer(&mut conn).unwrap_or_else(|e| panic!("{path} ({framing}): no answer: {e}"));
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{path} ({framing}): {answer}"
        );
        assert!(answer.contains(&format!("\"code\":\"{code}\"")), "{answer}");
    }
}

/// A request path can hold what would drive the operator's terminal or
/// reorder a line (an 8-bit CSI, a right-to-left override, sent as raw
/// UTF-8 by anyone, no token needed): request lines write it escaped in
/// both formats, and the JSON line keeps the path as its value.
#[test]
fn request_lines_never_carry_what_could_drive_a_terminal() {
    let steers = |c: char| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c);
    for format in ["pretty", "json"] {
        let d = Daemon::builder()
            .with_workspace()
            .env("OPENWORK_WATCH", "0")
            .args(&["--log-format", format])
            .start();
        let addr = d.base.trim_start_matches("http://").to_owned();
        let mut raw = std::net::TcpStream::connect(&addr).unwrap();
        raw.write_all(
            b"GET /x\xc2\x9b31m\xe2\x80\xaey HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let mut answer = String::new();
        raw.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        let line = d.wait_for(WAIT, || {
            d.output()
                .lines()
                .find(|l| l.contains("31m"))
                .map(str::to_owned)
        });
        assert!(!line.chars().any(steers), "{format}: {line:?}");
        if format == "json" {
            let parsed: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(
                parsed["attributes"]["path"], "/x\u{9b}31m\u{202e}y",
                "{line}"
            );
        } else {
            assert!(
                line.starts_with("GET /x\\u{9b}31m\\u{202e}y 404 "),
                "{line}"
            );
        }
    }
}
