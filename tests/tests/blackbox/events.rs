//! Live events: changes on disk reach the catalog events and the workspace
//! reload events; the reload events also stream as Server-Sent Events;
//! file sessions expire.

use openworkd_tests::Daemon;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A daemon whose workspace watcher is running.
fn watched(builder: openworkd_tests::Builder) -> Daemon {
    let d = builder.start();
    d.wait_for(WAIT, || {
        d.output().contains("for changes on disk").then_some(())
    });
    d
}

fn open_session(d: &Daemon) -> String {
    let r = d.post(&d.ws("files/sessions"), "{}");
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["session"]["id"].as_str().unwrap().to_owned()
}

fn file_events(d: &Daemon, sid: &str) -> Vec<Value> {
    let r = d.get(&format!("/files/sessions/{sid}/catalog/events?since=0"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["items"].as_array().unwrap().clone()
}

fn reload_events(d: &Daemon) -> Vec<Value> {
    let r = d.get(&d.ws("events"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["disabled"], false);
    r.json()["items"].as_array().unwrap().clone()
}

fn has(events: &[Value], pred: impl Fn(&Value) -> bool) -> bool {
    events.iter().any(pred)
}

#[test]
fn edits_on_disk_reach_catalog_events_and_workspace_events() {
    let d = watched(Daemon::builder().with_workspace());
    let sid = open_session(&d);

    d.write_file("notes/plan.md", "first draft");
    d.write_file(
        ".opencode/skills/release/SKILL.md",
        "---\nname: release\ndescription: Ship it\n---\nSteps",
    );
    d.write_file("opencode.jsonc", "{ // edited by hand\n \"plugin\": [] }");

    let written = d.wait_for(WAIT, || {
        let items = file_events(&d, &sid);
        items
            .iter()
            .find(|e| e["type"] == "write" && e["path"] == "notes/plan.md")
            .cloned()
    });
    let meta = std::fs::metadata(d.workspace.join("notes/plan.md")).unwrap();
    assert!(
        written["revision"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", meta.len())),
        "{written}"
    );
    let reloads = d.wait_for(WAIT, || {
        let items = reload_events(&d);
        let skill = has(&items, |e| {
            e["reason"] == "skills" && e["trigger"]["name"] == "release"
        });
        let config = has(&items, |e| {
            e["reason"] == "config" && e["trigger"]["name"] == "opencode.jsonc"
        });
        (skill && config).then_some(items)
    });
    assert!(
        !has(&reloads, |e| e["trigger"]["path"]
            .as_str()
            .is_some_and(|p| p.contains("notes"))),
        "ordinary files are not reload events: {reloads:?}"
    );

    // Renames and deletions on disk.
    std::fs::rename(
        d.workspace.join("notes/plan.md"),
        d.workspace.join("notes/final.md"),
    )
    .unwrap();
    std::fs::remove_dir_all(d.workspace.join(".opencode/skills/release")).unwrap();
    d.wait_for(WAIT, || {
        let items = file_events(&d, &sid);
        has(&items, |e| {
            e["type"] == "rename" && e["path"] == "notes/plan.md" && e["toPath"] == "notes/final.md"
        })
        .then_some(())
    });
    d.wait_for(WAIT, || {
        has(&reload_events(&d), |e| {
            e["reason"] == "skills" && e["trigger"]["action"] == "removed"
        })
        .then_some(())
    });
}

#[test]
fn changes_made_through_the_api_are_reported_once() {
    let d = watched(Daemon::builder().with_workspace());
    let sid = open_session(&d);
    let body = json!({"name": "deploy", "content": "Run the deploy", "description": "Deploy"});
    assert_eq!(d.post(&d.ws("skills"), &body.to_string()).status, 200);
    let write = json!({"writes": [{"path": "src/app.txt", "contentBase64": "aGVsbG8="}]});
    let r = d.post(
        &format!("/files/sessions/{sid}/write-batch"),
        &write.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // Give the watcher time to see both writes, then check nothing doubled.
    std::thread::sleep(Duration::from_millis(1500));
    let reloads = reload_events(&d);
    let skills: Vec<_> = reloads.iter().filter(|e| e["reason"] == "skills").collect();
    assert_eq!(skills.len(), 1, "{reloads:?}");
    let files = file_events(&d, &sid);
    let app: Vec<_> = files
        .iter()
        .filter(|e| e["path"] == "src/app.txt" && e["type"] == "write")
        .collect();
    assert_eq!(app.len(), 1, "{files:?}");
}

#[test]
fn workspace_events_stream_as_server_sent_events() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
        .env("OPENWORK_EVENTS_KEEPALIVE_MS", "200")
        .start();
    let r = d.patch(&d.ws("config"), r#"{"opencode":{"theme":"dark"}}"#);
    assert_eq!(r.status, 200, "{}", r.text);

    let stream = d.event_stream(&d.ws("events"));
    let mut lines = BufReader::new(stream).lines().map_while(Result::ok);
    let next_data = |lines: &mut dyn Iterator<Item = String>, keepalives: &mut usize| {
        let mut event = None;
        for line in lines {
            if line.starts_with(':') {
                *keepalives += 1;
            } else if let Some(name) = line.strip_prefix("event: ") {
                event = Some(name.to_owned());
            } else if let Some(data) = line.strip_prefix("data: ") {
                assert_eq!(event.as_deref(), Some("reload"));
                return serde_json::from_str::<Value>(data).unwrap();
            }
        }
        panic!("stream ended");
    };
    let mut keepalives = 0;
    // Retained events come first…
    let first = next_data(&mut lines, &mut keepalives);
    assert_eq!(
        (first["reason"].as_str(), first["seq"].as_u64()),
        (Some("config"), Some(1))
    );
    // …then each new one as it is recorded.
    let cmd = json!({"name": "ship", "template": "Ship the release"});
    let r = d.post(&d.ws("commands"), &cmd.to_string());
    assert_eq!(r.status, 200, "{}", r.text);
    let second = next_data(&mut lines, &mut keepalives);
    assert_eq!(second["reason"], "commands");
    assert_eq!(second["trigger"]["name"], "ship");
    // Idle streams get keep-alive comments.
    for line in lines.by_ref() {
        if line.starts_with(':') {
            keepalives += 1;
            break;
        }
    }
    assert!(keepalives >= 1);

    // Without the Accept header the same route is the JSON page.
    let page = d.get(&format!("{}?since=1", d.ws("events"))).json();
    assert_eq!(page["cursor"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[test]
fn expired_file_sessions_are_gone() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
        .start();
    let r = d.post(&d.ws("files/sessions"), r#"{"ttlSeconds":1}"#);
    let session = r.json()["session"].clone();
    let sid = session["id"].as_str().unwrap();
    let ttl = session["expiresAt"].as_u64().unwrap() - session["createdAt"].as_u64().unwrap();
    assert_eq!(ttl, 30_000, "the shortest lifetime is 30 s");
    let snapshot = format!("/files/sessions/{sid}/catalog/snapshot");
    assert_eq!(d.get(&snapshot).status, 200);
    std::thread::sleep(Duration::from_millis(ttl + 300));
    let r = d.get(&snapshot);
    assert_eq!((r.status, r.code()), (404, "file_session_not_found".into()));
    let r = d.post(&format!("/files/sessions/{sid}/renew"), "{}");
    assert_eq!((r.status, r.code()), (404, "file_session_not_found".into()));
}
