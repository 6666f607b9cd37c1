//! Crash safety: `kill -9` in the middle of a storm of config, token and
//! file writes leaves every file either the old or the new version, the
//! audit log and token store parse, and a restarted daemon serves them.

use openworkd_tests::{Auth, Daemon, HOST_TOKEN, TOKEN, http};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const ROUNDS: u64 = 20;
const FILE_BYTES: usize = 256 * 1024;

/// The content of version `n` of the data file: recognisable at both ends.
fn version(n: u64) -> String {
    let head = format!("version-{n:06}|");
    let tail = format!("|end-{n:06}");
    format!(
        "{head}{}{tail}",
        "x".repeat(FILE_BYTES - head.len() - tail.len())
    )
}

fn storm(d: &Daemon, sid: &str, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let base = d.base.clone();
    let ws = d.ws_id.clone();
    let sid = sid.to_owned();
    let mut threads = Vec::new();
    let config_url = format!("{base}/workspace/{ws}/config");
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        for n in 0.. {
            if s.load(Ordering::Relaxed) {
                return;
            }
            let body = json!({"opencode": {"n": n, "pad": "p".repeat(4096)}});
            let _ = http()
                .patch(&config_url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send();
        }
    }));
    let tokens_url = format!("{base}/tokens");
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let _ = http()
                .post(&tokens_url)
                .header("X-OpenWork-Host-Token", HOST_TOKEN)
                .json(&json!({"scope": "viewer"}))
                .send();
        }
    }));
    let write_url = format!("{base}/files/sessions/{sid}/write-batch");
    threads.push(std::thread::spawn(move || {
        use base64::Engine;
        for n in 1.. {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let content = base64::engine::general_purpose::STANDARD.encode(version(n));
            let body = json!({"writes": [{"path": "data/f.txt", "contentBase64": content, "force": true}]});
            let _ = http().post(&write_url).bearer_auth(TOKEN).json(&body).send();
        }
    }));
    threads
}

fn check_on_disk(ws: &Path, data: &Path, tokens: &Path) {
    let config = std::fs::read_to_string(ws.join("opencode.jsonc")).expect("config exists");
    let config: Value = serde_json::from_str(&config).expect("config is whole JSON");
    assert!(config["n"].is_u64(), "{config}");

    let data_file = std::fs::read_to_string(ws.join("data/f.txt")).expect("data file exists");
    assert_eq!(data_file.len(), FILE_BYTES);
    let n: u64 = data_file[8..14].parse().expect("a version header");
    assert_eq!(data_file, version(n), "version {n} is whole");

    let store: Value = serde_json::from_str(&std::fs::read_to_string(tokens).unwrap())
        .expect("token store is whole JSON");
    assert!(store["tokens"].is_array());

    for entry in std::fs::read_dir(data.join("audit")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("audit line does not parse ({e}): {line}"));
        }
    }
}

#[test]
fn kill_9_during_a_write_storm_loses_nothing() {
    for round in 0..ROUNDS {
        let d = Daemon::builder()
            .with_workspace()
            .env("OPENWORK_WATCH", "0")
            .start();
        // Old versions exist before the storm.
        assert_eq!(
            d.patch(&d.ws("config"), r#"{"opencode":{"n":0}}"#).status,
            200
        );
        let r = d.post(&d.ws("files/sessions"), "{}");
        let sid = r.json()["session"]["id"].as_str().unwrap().to_owned();
        d.write_file("data/f.txt", &version(0));
        d.issue_token("viewer");

        let stop = Arc::new(AtomicBool::new(false));
        let threads = storm(&d, &sid, stop.clone());
        std::thread::sleep(Duration::from_millis(150 + 17 * round));
        Command::new("kill")
            .args(["-KILL", &d.pid().to_string()])
            .status()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }

        let root = d.root().to_path_buf();
        let (data, tokens) = (root.join("data"), root.join("config/openwork/tokens.json"));
        check_on_disk(&d.workspace, &data, &tokens);

        // A restarted daemon serves what survived.
        let again = Daemon::builder()
            .env("OPENWORK_WATCH", "0")
            .env("OPENWORK_DATA_DIR", &data.display().to_string())
            .env("OPENWORK_TOKEN_STORE", &tokens.display().to_string())
            .args(&["--workspace", &d.workspace.display().to_string()])
            .start();
        let ws = format!("/workspace/{}", d.ws_id);
        assert_eq!(again.get(&format!("{ws}/config")).status, 200);
        let audit = again.get(&format!("{ws}/audit?limit=5"));
        assert_eq!(audit.status, 200, "{}", audit.text);
        let listed = again.request("GET", "/tokens", Auth::Host(HOST_TOKEN), None);
        assert_eq!(listed.status, 200, "{}", listed.text);
        // What the crash left half-written is swept away at start.
        let places = [
            d.workspace.clone(),
            data.clone(),
            root.join("config/openwork"),
        ];
        again.wait_for(Duration::from_secs(10), || {
            places
                .iter()
                .all(|p| temporaries(p).is_empty())
                .then_some(())
        });
    }
}

/// What a power loss takes from the page cache: `path` cut `cut` bytes
/// short.
fn lose_tail(path: &Path, cut: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - cut).unwrap();
}

#[test]
fn log_lines_a_power_loss_would_take_are_written_back_at_start() {
    let mut d = Daemon::builder().with_workspace().start();
    for n in 1..=3 {
        let body = format!(r#"{{"opencode":{{"n":{n}}}}}"#);
        assert_eq!(d.patch(&d.ws("config"), &body).status, 200);
    }
    let data = d.root().join("data");
    let audit = data.join(format!("audit/{}.jsonl", d.ws_id));
    let history = data.join("approvals/history.jsonl");
    let (audit_text, history_text) = (
        std::fs::read_to_string(&audit).unwrap(),
        std::fs::read_to_string(&history).unwrap(),
    );
    assert_eq!(audit_text.lines().count(), 3, "{audit_text}");
    assert_eq!(history_text.lines().count(), 3, "{history_text}");
    d.kill();
    // The last two audit lines and half of the one before, and the last
    // decision, never reached the disk.
    let last_two: usize = audit_text.lines().skip(1).map(|l| l.len() + 1).sum();
    let first = audit_text.lines().next().unwrap().len() as u64;
    lose_tail(&audit, last_two as u64 + first / 2);
    let last = history_text.lines().last().unwrap().len() as u64 + 1;
    lose_tail(&history, last);

    let restart = || {
        Daemon::builder()
            .env("OPENWORK_DATA_DIR", &data.display().to_string())
            .args(&["--workspace", &d.workspace.display().to_string()])
            .start()
    };
    let audited = |daemon: &Daemon| {
        let listed = daemon.get(&format!("/workspace/{}/audit?limit=10", d.ws_id));
        let items = listed.json()["items"].as_array().map(Vec::len);
        items.unwrap_or_else(|| panic!("{}", listed.text))
    };
    let again = restart();
    assert_eq!(
        std::fs::read_to_string(&audit).unwrap(),
        audit_text,
        "{}",
        again.output()
    );
    assert_eq!(std::fs::read_to_string(&history).unwrap(), history_text);
    assert_eq!(audited(&again), 3);
    assert!(
        again.output().contains("restored 4 log lines"),
        "{}",
        again.output()
    );

    // Once written back they are on disk for good: a log cut afterwards
    // was cut by someone else, and is left as it is.
    let mut again = again;
    again.kill();
    lose_tail(&audit, last_two as u64);
    let third = restart();
    assert_eq!(audited(&third), 1);
    assert!(!third.output().contains("restored"), "{}", third.output());
}

/// The epoch in a write-ahead log's header (after its 4-byte magic).
fn wal_epoch(wal: &Path) -> u64 {
    let head = std::fs::read(wal).unwrap();
    u64::from_le_bytes(head[4..12].try_into().unwrap())
}

/// Answered writes, then a `kill -9` and what a power loss would add: the
/// boot they were made in is over (the log's header names another), one
/// file never got its content to the disk, a new skill never got there at
/// all. `None` when the journal's checkpoint came before the kill (then
/// the files were on disk, and no power loss could tear them).
fn power_loss_after_writes() -> Option<(Daemon, String, String, String)> {
    let mut d = Daemon::builder().with_workspace().start();
    let data = d.root().join("data");
    let wal = data.join("journal.wal");
    let epoch = wal_epoch(&wal);
    for n in 1..=3 {
        let body = format!(r#"{{"opencode":{{"n":{n}}}}}"#);
        assert_eq!(d.patch(&d.ws("config"), &body).status, 200);
    }
    let skill = r##"{"name":"kept","description":"d","content":"# Kept\n"}"##;
    assert_eq!(d.post(&d.ws("skills"), skill).status, 200);
    d.kill();
    if wal_epoch(&wal) != epoch {
        return None;
    }
    let config = d.read_file("opencode.jsonc").unwrap();
    let skill_file = ".opencode/skills/kept/SKILL.md";
    let skill_text = d.read_file(skill_file).unwrap();
    assert!(config.contains(r#""n": 3"#), "{config}");
    // Another boot, and what it did not keep.
    let mut head = std::fs::read(&wal).unwrap();
    head[12..48].copy_from_slice(&[b'x'; 36]);
    std::fs::write(&wal, head).unwrap();
    lose_tail(&d.workspace.join("opencode.jsonc"), config.len() as u64 / 2);
    std::fs::remove_dir_all(d.workspace.join(".opencode/skills/kept")).unwrap();
    Some((d, data.display().to_string(), config, skill_text))
}

#[test]
fn workspace_files_a_power_loss_would_leave_torn_are_written_back_at_start() {
    // The checkpoint comes a second after the first write: on a very slow
    // machine it can come before the kill, which leaves nothing to test.
    let (d, data, config, skill) = (0..3)
        .find_map(|_| power_loss_after_writes())
        .expect("the writes and the kill took under a second at least once");
    let again = Daemon::builder()
        .env("OPENWORK_DATA_DIR", &data)
        .args(&["--workspace", &d.workspace.display().to_string()])
        .start();
    assert!(
        again.output().contains("restored 2 workspace files"),
        "{}",
        again.output()
    );
    let read = |name: &str| std::fs::read_to_string(d.workspace.join(name)).unwrap();
    assert_eq!(read("opencode.jsonc"), config);
    assert_eq!(read(".opencode/skills/kept/SKILL.md"), skill);
    let listed = again.get(&d.ws("skills"));
    assert!(listed.text.contains("\"kept\""), "{}", listed.text);
    let served = again.get(&d.ws("config")).json();
    assert_eq!(served["opencode"]["n"], 3, "{served}");
}

/// Temporary files of interrupted writes under `dir`.
fn temporaries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".openworkd-tmp-")
            {
                found.push(path);
            }
        }
    }
    found
}

/// Seconds of saturation for the soak test (`OPENWORKD_SOAK_SECS`, default 60).
fn soak_seconds() -> u64 {
    std::env::var("OPENWORKD_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

#[test]
fn a_minute_at_saturation_has_no_server_errors_and_flat_memory() {
    use std::sync::atomic::AtomicU64;
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_LOG_REQUESTS", "0")
        .start();
    d.write_file(
        ".opencode/skills/soak/SKILL.md",
        "---\nname: soak\ndescription: Soak test\n---\nBody",
    );
    for i in 0..16 {
        d.write_file(&format!("files/f{i}.txt"), &"data".repeat(1024));
    }
    let sid = d.post(&d.ws("files/sessions"), "{}").json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = d.base.clone();
    let ws = format!("{base}/workspace/{}", d.ws_id);
    let reads = [
        format!("{base}/health"),
        format!("{base}/workspaces"),
        format!("{ws}/config"),
        format!("{ws}/skills"),
        format!("{ws}/audit"),
    ];
    let read_batch = format!("{base}/files/sessions/{sid}/read-batch");
    let paths: Vec<String> = (0..16).map(|i| format!("files/f{i}.txt")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (requests, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, requests, failures) = (stop.clone(), requests.clone(), failures.clone());
            let (reads, read_batch, ws, paths) =
                (reads.clone(), read_batch.clone(), ws.clone(), paths.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let resp = match (w, n % 8) {
                        (0, 0) => http()
                            .patch(format!("{ws}/config"))
                            .bearer_auth(TOKEN)
                            .json(&json!({"openwork": {"n": n}}))
                            .send(),
                        (1, 0) => http()
                            .post(&read_batch)
                            .bearer_auth(TOKEN)
                            .json(&json!({"paths": paths}))
                            .send(),
                        _ => http()
                            .get(&reads[(n as usize + w) % reads.len()])
                            .bearer_auth(TOKEN)
                            .send(),
                    };
                    requests.fetch_add(1, Ordering::Relaxed);
                    // Every request here is one the daemon must serve: a
                    // 4xx means the load missed what it measures.
                    let failed = match resp {
                        Ok(r) if !r.status().is_success() => {
                            Some(format!("{} {}", r.status(), r.text().unwrap_or_default()))
                        }
                        Ok(r) => r.bytes().err().map(|e| format!("reading the answer: {e}")),
                        Err(e) => Some(format!("{e:?}")),
                    };
                    if let Some(failed) = failed {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("soak: worker {w}, request {n}: {failed}");
                    }
                }
            })
        })
        .collect();
    let total = Duration::from_secs(soak_seconds());
    let warm = total / 6;
    std::thread::sleep(warm);
    let rss_warm = d.rss_kib();
    std::thread::sleep(total - warm);
    let rss_end = d.rss_kib();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let (requests, failures) = (
        requests.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    assert!(requests > 1000, "only {requests} requests");
    assert_eq!(
        failures, 0,
        "failed answers or dropped connections out of {requests}"
    );
    assert!(
        rss_end <= rss_warm * 3 / 2 + 4096,
        "RSS grew from {rss_warm} KiB to {rss_end} KiB"
    );
    assert_eq!(d.get("/health").status, 200);
}
