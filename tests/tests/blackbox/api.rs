//! Every core route over HTTP against the real daemon.

use openworkd_tests::{Auth, Daemon, HOST_TOKEN, TOKEN, workspace_id};
use serde_json::{Value, json};

#[test]
fn health_status_capabilities_whoami() {
    let d = Daemon::start();
    let health = d.request("GET", "/health", Auth::None, None);
    assert_eq!(health.status, 200);
    assert_eq!(health.headers["content-type"], "application/json");
    let h = health.json();
    assert_eq!(h["ok"], true);
    assert_eq!(h["version"], openwork_shared::COMPAT_VERSION);
    assert!(h["uptimeMs"].is_u64());

    let s = d.get("/status").json();
    assert_eq!(s["ok"], true);
    assert_eq!(s["readOnly"], false);
    assert_eq!(s["approval"], json!({"mode": "auto", "timeoutMs": 30000}));
    assert_eq!(s["workspaceCount"], 1);
    assert_eq!(s["activeWorkspaceId"], d.ws_id);
    assert_eq!(s["workspace"]["path"], d.workspace.display().to_string());
    assert_eq!(s["workspace"]["name"], "ws");
    assert_eq!(s["server"]["port"], 0);
    assert_eq!(s["tokenSource"], json!({"client": "cli", "host": "cli"}));
    assert_eq!(
        s["authorizedRoots"],
        json!([d.workspace.display().to_string()])
    );

    let c = d.get("/capabilities").json();
    assert_eq!(c["schemaVersion"], 1);
    assert_eq!(c["config"], json!({"read": true, "write": true}));
    assert_eq!(c["approvals"]["mode"], "auto");
    assert_eq!(
        c["tokens"]["scopes"],
        json!(["owner", "collaborator", "viewer"])
    );
    assert_eq!(c["hub"]["skills"]["install"], false);
    assert_eq!(c["proxy"]["opencode"], false);

    let w = d.get("/whoami").json();
    let hash = openworkd_tests::sha256(TOKEN);
    assert_eq!(
        w,
        json!({"ok": true, "actor": {"type": "remote", "tokenHash": hash, "scope": "collaborator"}})
    );
    let with_client = d.request_with(
        "GET",
        "/whoami",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("X-OpenWork-Client-Id", "laptop-1"),
        ],
        None,
    );
    assert_eq!(with_client.json()["actor"]["clientId"], "laptop-1");
}

#[test]
fn workspaces_list_and_activate() {
    let d = Daemon::builder()
        .with_workspace()
        .arg("--workspace")
        .arg("@root/second")
        .start();
    let second = d.root().join("second");
    let list = d.get("/workspaces").json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(list["activeId"], d.ws_id);
    assert_eq!(items[0]["workspaceType"], "local");
    assert_eq!(
        items[0]["opencode"]["directory"],
        d.workspace.display().to_string()
    );
    let second_id = workspace_id(&second);
    assert_eq!(items[1]["id"], second_id);

    // Activation is a host route.
    let path = format!("/workspaces/{second_id}/activate");
    assert_eq!(
        d.request("POST", &path, Auth::Bearer(TOKEN), Some("{}"))
            .status,
        401
    );
    let r = d.request("POST", &path, Auth::Host(HOST_TOKEN), Some("{}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["activeId"], second_id);
    assert_eq!(d.get("/workspaces").json()["activeId"], second_id);
    assert_eq!(d.get("/status").json()["activeWorkspaceId"], second_id);
    let missing = d.request(
        "POST",
        "/workspaces/ws_000000000000/activate",
        Auth::Host(HOST_TOKEN),
        Some("{}"),
    );
    assert_eq!(
        (missing.status, missing.code()),
        (404, "workspace_not_found".into())
    );
}

#[test]
fn config_patch_preserves_comments_and_formatting() {
    let d = Daemon::start();
    let original = "{\n  // the model we like\n  \"model\": \"a/b\", /* trailing */\n  \"plugin\": [\"x\"],\n}\n";
    d.write_file("opencode.jsonc", original);
    let got = d.get(&d.ws("config")).json();
    assert_eq!(got["opencode"], json!({"model": "a/b", "plugin": ["x"]}));
    assert_eq!(got["openwork"], json!({}));
    assert_eq!(got["updatedAt"], Value::Null);

    let r = d.patch(
        &d.ws("config"),
        r#"{"opencode":{"model":"c/d","share":"disabled"},"openwork":{"version":1}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let updated_at = r.json()["updatedAt"].as_u64().unwrap();
    let text = d.read_file("opencode.jsonc").unwrap();
    assert!(text.contains("// the model we like"), "{text}");
    assert!(text.contains("/* trailing */"), "{text}");
    assert!(text.contains("\"model\": \"c/d\""), "{text}");
    assert!(text.contains("\"share\": \"disabled\""), "{text}");
    assert!(text.ends_with('\n'));
    assert_eq!(
        d.read_file(".opencode/openwork.json").unwrap(),
        "{\n  \"version\": 1\n}\n"
    );

    // openwork is shallow-merged.
    d.patch(&d.ws("config"), r#"{"openwork":{"other":true}}"#);
    let got = d.get(&d.ws("config")).json();
    assert_eq!(got["openwork"], json!({"version": 1, "other": true}));
    assert_eq!(got["opencode"]["model"], "c/d");
    assert!(got["updatedAt"].as_u64().unwrap() >= updated_at);
}

#[test]
fn config_created_as_jsonc_and_errors_reported() {
    let d = Daemon::start();
    let r = d.patch(&d.ws("config"), r#"{"opencode":{"model":"x/y"}}"#);
    assert_eq!(r.status, 200);
    assert_eq!(
        d.read_file("opencode.jsonc").unwrap(),
        "{\n  \"model\": \"x/y\"\n}\n"
    );

    let r = d.patch(&d.ws("config"), "{}");
    assert_eq!((r.status, r.code()), (400, "invalid_payload".into()));
    for bad in ["", "{not json", "[1"] {
        let r = d.patch(&d.ws("config"), bad);
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_json".into()),
            "body {bad:?}"
        );
        assert_eq!(r.json()["message"], "Invalid JSON body");
    }

    d.write_file("opencode.jsonc", "{ \"a\": 1 \"b\": 2 }");
    let r = d.get(&d.ws("config"));
    assert_eq!((r.status, r.code()), (422, "invalid_jsonc".into()));
    assert_eq!(r.json()["details"][0]["code"], "CommaExpected");
    // A broken file is not edited blindly.
    let r = d.patch(&d.ws("config"), r#"{"opencode":{"a":3}}"#);
    assert_eq!((r.status, r.code()), (422, "invalid_jsonc".into()));
    assert_eq!(
        d.read_file("opencode.jsonc").unwrap(),
        "{ \"a\": 1 \"b\": 2 }"
    );

    d.write_file("opencode.jsonc", "{}");
    d.write_file(".opencode/openwork.json", "{oops");
    let r = d.get(&d.ws("config"));
    assert_eq!((r.status, r.code()), (422, "invalid_json".into()));
}

#[test]
fn unknown_workspace_routes_and_methods() {
    let d = Daemon::start();
    let r = d.get("/workspace/ws_ffffffffffff/config");
    assert_eq!((r.status, r.code()), (404, "workspace_not_found".into()));
    let r = d.get("/no/such/route");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"code": "not_found", "message": "Not found"})
    );
    // No 405: wrong method is 404; HEAD on JSON routes is 404; trailing slash differs.
    assert_eq!(d.request("PUT", "/health", Auth::None, None).status, 404);
    assert_eq!(d.request("HEAD", "/health", Auth::None, None).status, 404);
    assert_eq!(d.get("/workspaces/").status, 404);
}

#[test]
fn plugins_add_list_remove() {
    let d = Daemon::start();
    d.write_file(".opencode/plugins/local.ts", "export default {}");
    let r = d.post(&d.ws("plugins"), r#"{"spec":"opencode-notion@1.2"}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    // Same normalized spec: not added twice.
    d.post(&d.ws("plugins"), r#"{"spec":"opencode-notion"}"#);
    d.post(&d.ws("plugins"), r#"{"spec":"@scope/pkg@2"}"#);
    let list = d.get(&d.ws("plugins")).json();
    let specs: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["spec"].as_str().unwrap())
        .collect();
    assert_eq!(specs[..2], ["opencode-notion@1.2", "@scope/pkg@2"]);
    let local = &list["items"][2];
    assert_eq!(local["source"], "dir.project");
    assert_eq!(local["path"], ".opencode/plugins/local.ts");
    assert_eq!(
        list["loadOrder"],
        json!([
            "config.global",
            "config.project",
            "dir.global",
            "dir.project"
        ])
    );

    let r = d.delete(&d.ws("plugins/%40scope%2Fpkg"));
    assert_eq!(r.status, 200, "{}", r.text);
    let config = d.get(&d.ws("config")).json();
    assert_eq!(config["opencode"]["plugin"], json!(["opencode-notion@1.2"]));

    let r = d.post(&d.ws("plugins"), r#"{"spec":"  "}"#);
    assert_eq!((r.status, r.code()), (400, "invalid_plugin_spec".into()));
    // Nothing was written by the failed request.
    assert_eq!(
        d.get(&d.ws("config")).json()["opencode"]["plugin"],
        json!(["opencode-notion@1.2"])
    );
}

#[test]
fn skills_crud() {
    let d = Daemon::start();
    let body = json!({"name": "expense-audit", "description": "Audit expenses", "content": "# Expense audit\n\n## When to use\n- monthly close\n"});
    let r = d.post(&d.ws("skills"), &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text);
    let path = d.workspace.join(".opencode/skills/expense-audit/SKILL.md");
    assert_eq!(
        r.json(),
        json!({"name": "expense-audit", "path": path.display().to_string(), "description": "Audit expenses", "scope": "project"})
    );
    let text = d
        .read_file(".opencode/skills/expense-audit/SKILL.md")
        .unwrap();
    assert!(
        text.starts_with("---\nname: expense-audit\ndescription: Audit expenses\n---\n"),
        "{text}"
    );

    let list = d.get(&d.ws("skills")).json();
    assert_eq!(list["items"][0]["name"], "expense-audit");
    assert_eq!(list["items"][0]["trigger"], "monthly close");

    let one = d.get(&d.ws("skills/expense-audit")).json();
    assert_eq!(one["content"], text);
    let r = d.get(&d.ws("skills/nope"));
    assert_eq!((r.status, r.code()), (404, "skill_not_found".into()));

    let r = d.post(
        &d.ws("skills"),
        r#"{"name":"Bad Name","content":"x","description":"d"}"#,
    );
    assert_eq!((r.status, r.code()), (400, "invalid_skill_name".into()));
    let r = d.post(
        &d.ws("skills"),
        r#"{"name":"ok-name","content":"","description":"d"}"#,
    );
    assert_eq!((r.status, r.code()), (400, "invalid_skill_content".into()));
    let r = d.post(&d.ws("skills"), r#"{"name":"ok-name","content":"body"}"#);
    assert_eq!((r.status, r.code()), (422, "invalid_description".into()));
    let r = d.post(
        &d.ws("skills"),
        r#"{"name":"ok-name","content":"---\nname: other\ndescription: x\n---\nbody"}"#,
    );
    assert_eq!((r.status, r.code()), (400, "invalid_skill_name".into()));
    assert!(!d.workspace.join(".opencode/skills/ok-name").exists());

    let r = d.delete(&d.ws("skills/expense-audit"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["ok"], true);
    assert!(!path.exists());
    assert_eq!(
        d.delete(&d.ws("skills/expense-audit")).code(),
        "skill_not_found"
    );
}

/// Set the modification time of `dir` and everything in it a minute back,
/// so the daemon may cache what it reads there.
fn backdate_tree(dir: &std::path::Path) {
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            backdate_tree(&entry.path());
        } else {
            std::fs::File::open(entry.path())
                .unwrap()
                .set_modified(then)
                .unwrap();
        }
    }
    std::fs::File::open(dir)
        .unwrap()
        .set_modified(then)
        .unwrap();
}

#[test]
fn skills_changed_on_disk_are_listed_at_once() {
    let d = Daemon::start();
    let doc = |name: &str, description: &str| {
        format!("---\nname: {name}\ndescription: {description}\n---\nbody\n")
    };
    let listed = || -> Vec<(String, String)> {
        let list = d.get(&d.ws("skills")).json();
        let mut items: Vec<(String, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().into(),
                    s["description"].as_str().unwrap().into(),
                )
            })
            .collect();
        items.sort();
        items
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    std::fs::create_dir(d.workspace.join(".git")).unwrap();
    d.write_file(".opencode/skills/one/SKILL.md", &doc("one", "first"));
    // Each change lands right after a listing the daemon could keep.
    let settle = || {
        backdate_tree(&d.workspace);
        listed();
    };
    settle();
    assert_eq!(listed(), vec![pair("one", "first")]);

    d.write_file(".claude/skills/two/SKILL.md", &doc("two", "second"));
    assert_eq!(listed(), vec![pair("one", "first"), pair("two", "second")]);
    settle();
    d.write_file(
        ".opencode/skills/team/three/SKILL.md",
        &doc("three", "third"),
    );
    assert_eq!(listed().len(), 3);
    settle();
    // Same file, same size: only the modification time changes.
    d.write_file(".opencode/skills/one/SKILL.md", &doc("one", "fresh"));
    assert!(listed().contains(&pair("one", "fresh")));
    settle();
    std::fs::remove_dir_all(d.workspace.join(".claude/skills/two")).unwrap();
    assert_eq!(listed(), vec![pair("one", "fresh"), pair("three", "third")]);
}

#[test]
fn commands_changed_on_disk_are_listed_at_once() {
    let d = Daemon::start();
    let doc = |description: &str| format!("---\ndescription: {description}\n---\nrun it\n");
    let listed = || -> Vec<(String, String)> {
        let list = d.get(&d.ws("commands")).json();
        let mut items: Vec<(String, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let description = c["description"].as_str().unwrap_or_default();
                (c["name"].as_str().unwrap().into(), description.into())
            })
            .collect();
        items.sort();
        items
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    d.write_file(".opencode/commands/one.md", &doc("first"));
    // Each change lands right after a listing the daemon could keep.
    let settle = || {
        backdate_tree(&d.workspace);
        listed();
    };
    settle();
    assert_eq!(listed(), vec![pair("one", "first")]);
    d.write_file(".opencode/commands/two.md", &doc("second"));
    assert_eq!(listed(), vec![pair("one", "first"), pair("two", "second")]);
    settle();
    // Same file, same size: only the modification time changes.
    d.write_file(".opencode/commands/one.md", &doc("fresh"));
    assert!(listed().contains(&pair("one", "fresh")));
    settle();
    std::fs::remove_file(d.workspace.join(".opencode/commands/two.md")).unwrap();
    assert_eq!(listed(), vec![pair("one", "fresh")]);
    settle();
    std::fs::remove_dir_all(d.workspace.join(".opencode/commands")).unwrap();
    assert_eq!(listed(), vec![]);
}

#[test]
fn mcp_add_list_remove() {
    let d = Daemon::start();
    d.write_file(
        "opencode.json",
        "{\n  \"tools\": {\"deny\": [\"mcp.notion.*\"]}\n}\n",
    );
    let r = d.post(
        &d.ws("mcp"),
        r#"{"name":"notion","config":{"type":"remote","url":"https://mcp.notion.com/mcp"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json()["items"].clone();
    assert_eq!(items[0]["name"], "notion");
    assert_eq!(items[0]["source"], "config.project");
    assert_eq!(items[0]["disabledByTools"], true);
    // The existing .json file is edited, no .jsonc created.
    assert!(d.read_file("opencode.jsonc").is_none());

    let r = d.post(&d.ws("mcp"), r#"{"name":"x"}"#);
    assert_eq!((r.status, r.code()), (400, "invalid_payload".into()));
    let r = d.post(
        &d.ws("mcp"),
        r#"{"name":"bad name!","config":{"type":"local","command":["x"]}}"#,
    );
    assert_eq!((r.status, r.code()), (400, "invalid_mcp_name".into()));
    let r = d.post(&d.ws("mcp"), r#"{"name":"good","config":{"type":"local"}}"#);
    assert_eq!((r.status, r.code()), (400, "invalid_mcp_config".into()));

    let r = d.delete(&d.ws("mcp/notion"));
    assert_eq!(r.json()["items"], json!([]));
    assert_eq!(d.delete(&d.ws("mcp/absent")).status, 200);
}

#[test]
fn commands_crud_and_global_scope_needs_host() {
    let d = Daemon::start();
    let r = d.post(&d.ws("commands"), r#"{"name":"daily-report","template":"  summarize yesterday  ","description":"Daily report","subtask":true}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["items"][0],
        json!({"name": "daily-report", "description": "Daily report", "template": "summarize yesterday", "model": null, "subtask": true, "scope": "workspace"})
    );
    assert_eq!(
        d.read_file(".opencode/commands/daily-report.md").unwrap(),
        "---\nname: daily-report\ndescription: Daily report\nsubtask: true\n---\n\nsummarize yesterday\n"
    );
    let r = d.post(&d.ws("commands"), r#"{"name":"x","template":"   "}"#);
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_command_template".into())
    );

    let global = d.ws("commands?scope=global");
    assert_eq!(d.get(&global).status, 401);
    let r = d.request_with(
        "GET",
        &global,
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("X-OpenWork-Host-Token", HOST_TOKEN),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["items"], json!([]));

    assert_eq!(
        d.delete(&d.ws("commands/daily-report")).json(),
        json!({"ok": true})
    );
    assert!(d.read_file(".opencode/commands/daily-report.md").is_none());
    assert_eq!(d.get(&d.ws("commands")).json()["items"], json!([]));
}

/// Writers at once share the journal's rounds: every write is answered
/// with success, and each has its audit line and its decision on disk.
#[test]
fn concurrent_writes_are_all_answered_and_recorded() {
    const THREADS: usize = 8;
    const EACH: usize = 15;
    let d = Daemon::start();
    std::thread::scope(|scope| {
        let d = &d;
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    (0..EACH)
                        .map(|n| match t % 2 {
                            0 => d.post(
                                &d.ws("skills"),
                                &json!({"name": format!("s{t}"), "description": "d", "content": format!("# {n}\n")})
                                    .to_string(),
                            ),
                            _ => d.patch(
                                &d.ws("config"),
                                &json!({"opencode": {format!("k{t}"): n}}).to_string(),
                            ),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for writer in writers {
            for answer in writer.join().unwrap() {
                assert_eq!(answer.status, 200, "{}", answer.text);
            }
        }
    });
    let data = d.root().join("data");
    let audit = std::fs::read_to_string(data.join(format!("audit/{}.jsonl", d.ws_id))).unwrap();
    let history = std::fs::read_to_string(data.join("approvals/history.jsonl")).unwrap();
    for log in [&audit, &history] {
        let ids: std::collections::BTreeSet<String> = log
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].to_string())
            .collect();
        assert_eq!(ids.len(), THREADS * EACH, "{log}");
    }
}

#[test]
fn audit_and_events_record_writes() {
    let d = Daemon::start();
    assert_eq!(d.get(&d.ws("audit")).json()["items"], json!([]));
    d.post(&d.ws("plugins"), r#"{"spec":"a"}"#);
    d.post(&d.ws("plugins"), r#"{"spec":"b"}"#);
    d.patch(&d.ws("config"), r#"{"opencode":{"x":1}}"#);
    let audit = d.get(&d.ws("audit")).json();
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["action"], "config.patch");
    assert_eq!(items[0]["target"], "opencode.json");
    assert_eq!(items[2]["summary"], "Added a");
    assert_eq!(items[2]["actor"]["scope"], "collaborator");
    assert_eq!(
        d.get(&d.ws("audit?limit=1")).json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let file = d.root().join(format!("data/audit/{}.jsonl", d.ws_id));
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), 3);
    assert_eq!(
        d.get(&d.ws("config")).json()["updatedAt"],
        items[0]["timestamp"]
    );
    // A log grown long (here 20 MiB of older lines in front): the newest
    // entries are still found, from its end.
    let older = items[2].to_string() + "\n";
    let mut grown = older.repeat((20 << 20) / older.len());
    grown.push_str(&lines);
    std::fs::write(&file, grown).unwrap();
    assert_eq!(
        d.get(&d.ws("config")).json()["updatedAt"],
        items[0]["timestamp"]
    );
    assert_eq!(
        d.get(&d.ws("audit?limit=1")).json()["items"][0]["timestamp"],
        items[0]["timestamp"]
    );

    let events = d.get(&d.ws("events")).json();
    assert_eq!(events["disabled"], false);
    assert_eq!(events["workspaceId"], d.ws_id);
    let list = events["items"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["reason"], "plugins");
    assert_eq!(
        list[0]["trigger"],
        json!({"type": "plugin", "name": "a", "action": "added"})
    );
    let cursor = events["cursor"].as_u64().unwrap();
    assert_eq!(cursor, list[2]["seq"].as_u64().unwrap());
    let later = d.get(&d.ws(&format!("events?since={cursor}"))).json();
    assert_eq!(later["items"], json!([]));
    assert_eq!(later["cursor"], cursor);
}

#[test]
fn export_and_import_merge_and_replace() {
    let d = Daemon::start();
    d.post(&d.ws("plugins"), r#"{"spec":"keep-me"}"#);
    d.post(
        &d.ws("skills"),
        r#"{"name":"old-skill","description":"old","content":"old"}"#,
    );
    let export = d.get(&d.ws("export")).json();
    assert_eq!(export["workspaceId"], d.ws_id);
    assert_eq!(export["opencode"]["plugin"], json!(["keep-me"]));
    assert_eq!(export["skills"][0]["name"], "old-skill");

    // Merge keeps existing keys and skills.
    let merge = json!({"opencode": {"model": "m/1"}, "openwork": {"a": 1}, "skills": [{"name": "new-skill", "description": "new", "content": "hi"}], "commands": [{"name": "c1", "template": "t"}]});
    let r = d.post(&d.ws("import"), &merge.to_string());
    assert_eq!(r.json(), json!({"ok": true}));
    let config = d.get(&d.ws("config")).json();
    assert_eq!(
        config["opencode"],
        json!({"plugin": ["keep-me"], "model": "m/1"})
    );
    assert_eq!(
        d.get(&d.ws("skills")).json()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Replace rewrites the config and the skill folder.
    let replace = json!({"mode": {"opencode": "replace", "skills": "replace"}, "opencode": {"theme": "dark"}, "skills": [{"name": "only-skill", "description": "d", "content": "x"}]});
    d.post(&d.ws("import"), &replace.to_string());
    assert_eq!(
        d.get(&d.ws("config")).json()["opencode"],
        json!({"theme": "dark"})
    );
    let names: Vec<Value> = d.get(&d.ws("skills")).json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("only-skill")]);
    assert_eq!(d.get(&d.ws("commands")).json()["items"][0]["name"], "c1");

    // Round trip: importing an export reproduces the workspace elsewhere.
    let exported = d.get(&d.ws("export")).json();
    let other = Daemon::start();
    other.post(&other.ws("import"), &exported.to_string());
    assert_eq!(
        other.get(&other.ws("config")).json()["opencode"],
        json!({"theme": "dark"})
    );
    assert_eq!(
        other.get(&other.ws("skills")).json()["items"][0]["name"],
        "only-skill"
    );
}

#[test]
fn mounted_aliases() {
    let d = Daemon::start();
    let id = &d.ws_id;
    assert_eq!(
        d.request("GET", &format!("/w/{id}/health"), Auth::None, None)
            .status,
        200
    );
    let s = d.get(&format!("/w/{id}/status")).json();
    assert_eq!(s["workspaceCount"], 1);
    assert_eq!(d.get("/w/ws_000000000000/status").status, 404);
    assert_eq!(
        d.get(&format!("/w/{id}/capabilities")).json()["schemaVersion"],
        1
    );
    let list = d.get(&format!("/w/{id}/workspaces")).json();
    assert_eq!(list["activeId"], *id);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let config = d.get(&format!("/w/{id}/workspace/{id}/config"));
    assert_eq!(config.status, 200, "{}", config.text);
    assert_eq!(
        d.get(&format!("/w/{id}/workspace/ws_000000000000/config"))
            .status,
        404
    );
    assert_eq!(
        d.request(
            "GET",
            &format!("/w/{id}/approvals"),
            Auth::Host(HOST_TOKEN),
            None
        )
        .status,
        404
    );
}

#[test]
fn cors_and_options() {
    let d = Daemon::builder()
        .with_workspace()
        .args(&["--cors", "https://app.example"])
        .start();
    let r = d.request_with(
        "OPTIONS",
        "/workspaces",
        &[("Origin", "https://app.example")],
        None,
    );
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        r.headers["access-control-allow-methods"],
        "GET,POST,PATCH,DELETE,OPTIONS"
    );
    assert!(
        r.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("X-OpenWork-Host-Token")
    );
    // Errors carry CORS headers too; other origins get none.
    let r = d.request_with("GET", "/status", &[("Origin", "https://app.example")], None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let r = d.request_with(
        "GET",
        "/health",
        &[("Origin", "https://evil.example")],
        None,
    );
    assert!(r.headers.get("access-control-allow-origin").is_none());
    let r = d.get("/health");
    assert!(
        r.headers.get("access-control-allow-origin").is_none() && r.headers.get("vary").is_none(),
        "no CORS headers without an origin when the list has none"
    );

    let star = Daemon::builder()
        .with_workspace()
        .args(&["--cors", "*"])
        .start();
    let r = star.request_with("GET", "/health", &[("Origin", "https://any.example")], None);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let r = star.get("/workspaces");
    assert_eq!(
        r.headers["access-control-allow-origin"], "*",
        "with no origin too"
    );
    assert_eq!(r.headers["vary"], "Origin");
}

/// `/health` is answered by the front, before routing; every way of
/// asking for it gets what the routed answer would be.
#[test]
fn health_answers_alike_however_it_is_asked() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
        .start();
    let front = d.request("GET", "/health?probe=1", Auth::None, None);
    let routed = d.request("GET", &format!("/w/{}/health", d.ws_id), Auth::None, None);
    for r in [&front, &routed] {
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["access-control-allow-origin"], "*");
        assert_eq!(r.headers["vary"], "Origin");
    }
    let keys = |r: &openworkd_tests::Response| {
        let mut keys: Vec<String> = r.json().as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&front), ["ok", "uptimeMs", "version"]);
    assert_eq!(keys(&front), keys(&routed));
    assert_eq!(front.json()["version"], routed.json()["version"]);
    // Other methods and near paths are the router's: not found, as before.
    for (method, path) in [
        ("POST", "/health"),
        ("DELETE", "/health"),
        ("HEAD", "/health"),
        ("GET", "/health/"),
        ("GET", "/Health"),
        ("GET", "/health/x"),
    ] {
        let r = d.request(method, path, Auth::None, None);
        assert_eq!(r.status, 404, "{method} {path}");
        if method != "HEAD" {
            assert_eq!(r.code(), "not_found", "{method} {path}");
        }
    }
    let metrics = d
        .request("GET", "/metrics", Auth::Host(HOST_TOKEN), None)
        .text;
    assert!(
        metrics.contains(
            r#"openworkd_http_requests_total{method="GET",route="/health",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"openworkd_http_requests_total{method="GET",route="/w/{id}/health",status="200"} 1"#
        ),
        "{metrics}"
    );
    let log = d.wait_for(std::time::Duration::from_secs(5), || {
        let out = d.output();
        out.contains("GET /health 200").then_some(out)
    });
    assert_eq!(log.matches("GET /health 200").count(), 1, "{log}");
}

#[test]
fn read_only_refuses_writes() {
    let d = Daemon::builder()
        .with_workspace()
        .arg("--read-only")
        .start();
    assert_eq!(d.get("/capabilities").json()["config"]["write"], false);
    assert_eq!(d.get("/status").json()["readOnly"], true);
    for (method, path, body) in [
        ("PATCH", d.ws("config"), "{}"),
        ("POST", d.ws("plugins"), r#"{"spec":"x"}"#),
        ("DELETE", d.ws("mcp/x"), ""),
        ("POST", d.ws("import"), "{}"),
    ] {
        let r = d.request(method, &path, Auth::Bearer(TOKEN), Some(body));
        assert_eq!(
            (r.status, r.code()),
            (403, "read_only".into()),
            "{method} {path}"
        );
    }
    // Tokens stay host operations: the orchestrator mints an owner token
    // from a read-only server.
    let r = d.request(
        "POST",
        "/tokens",
        Auth::Host(HOST_TOKEN),
        Some(r#"{"scope":"viewer"}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = d.request(
        "DELETE",
        &format!("/tokens/{id}"),
        Auth::Host(HOST_TOKEN),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(d.read_file("opencode.jsonc").is_none());
    assert_eq!(d.get(&d.ws("config")).status, 200);
}

#[test]
fn writes_never_leave_the_workspace() {
    let d = Daemon::start();
    let outside = d.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, d.workspace.join(".opencode")).unwrap();
    let r = d.post(
        &d.ws("skills"),
        r#"{"name":"escape","description":"d","content":"x"}"#,
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_path".into()),
        "{}",
        r.text
    );
    let r = d.post(&d.ws("commands"), r#"{"name":"escape","template":"x"}"#);
    assert_eq!(r.code(), "invalid_path");
    let r = d.patch(&d.ws("config"), r#"{"openwork":{"a":1}}"#);
    assert_eq!(r.code(), "invalid_path");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "a file was written outside the workspace"
    );

    // A config file that is itself a symlink out of the workspace is refused.
    let target = d.root().join("elsewhere.jsonc");
    std::fs::write(&target, "{}").unwrap();
    std::os::unix::fs::symlink(&target, d.workspace.join("opencode.jsonc")).unwrap();
    let r = d.patch(&d.ws("config"), r#"{"opencode":{"a":1}}"#);
    assert_eq!(r.code(), "invalid_path");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");

    // Names that try to climb out are rejected by validation.
    let r = d.post(
        &d.ws("commands"),
        r#"{"name":"../../etc/x","template":"x"}"#,
    );
    assert_eq!(r.status, 400);
    let r = d.delete(&d.ws("skills/..%2F..%2Fx"));
    assert_eq!(r.status, 400);
}

#[test]
fn body_size_is_limited() {
    let d = Daemon::start();
    let huge = format!("{{\"spec\":\"{}\"}}", "a".repeat(17 * 1024 * 1024));
    let r = d.post(&d.ws("plugins"), &huge);
    assert_eq!((r.status, r.code()), (413, "body_too_large".into()));
}

#[test]
fn a_cached_config_swapped_for_a_symlink_is_checked_again() {
    let d = Daemon::start();
    d.write_file("opencode.jsonc", r#"{"inside": true}"#);
    assert_eq!(d.get(&d.ws("config")).json()["opencode"]["inside"], true);
    let target = d.root().join("secret.jsonc");
    std::fs::write(&target, r#"{"secret": "outside"}"#).unwrap();
    std::fs::remove_file(d.workspace.join("opencode.jsonc")).unwrap();
    std::os::unix::fs::symlink(&target, d.workspace.join("opencode.jsonc")).unwrap();
    let r = d.get(&d.ws("config"));
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_path".into()),
        "{}",
        r.text
    );
    assert!(!r.text.contains("outside"));
}

/// Plugin and MCP lists come from the cached config and the plugin folder:
/// an edit on disk right after a listing the daemon could keep shows at once.
#[test]
fn plugin_and_mcp_lists_are_never_stale() {
    let d = Daemon::start();
    let names = |what: &str, key: &str| -> Vec<String> {
        let r = d.get(&d.ws(what));
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[key].as_str().unwrap().to_owned())
            .collect()
    };
    let settle = || {
        backdate_tree(&d.workspace);
        names("plugins", "spec");
        names("mcp", "name");
    };
    d.write_file(
        "opencode.json",
        r#"{"plugin": ["a"], "mcp": {"m1": {"type": "remote", "url": "https://a.example/mcp"}}}"#,
    );
    settle();
    assert_eq!(names("plugins", "spec"), ["a"]);
    assert_eq!(names("mcp", "name"), ["m1"]);
    // Same size, other content.
    d.write_file(
        "opencode.json",
        r#"{"plugin": ["b"], "mcp": {"m2": {"type": "remote", "url": "https://a.example/mcp"}}}"#,
    );
    assert_eq!(names("plugins", "spec"), ["b"]);
    assert_eq!(names("mcp", "name"), ["m2"]);
    settle();
    d.write_file(".opencode/plugins/local.js", "export default {}");
    let specs = names("plugins", "spec");
    assert!(
        specs
            .iter()
            .any(|s| s.ends_with("/.opencode/plugins/local.js")),
        "{specs:?}"
    );
    settle();
    std::fs::remove_file(d.workspace.join("opencode.json")).unwrap();
    assert_eq!(names("mcp", "name"), Vec::<String>::new());
    assert!(!names("plugins", "spec").contains(&"b".to_owned()));
}
