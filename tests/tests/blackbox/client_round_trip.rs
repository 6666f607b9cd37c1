//! Every method of the typed client (`openwork_shared::client`) against the
//! real daemon: each answer must decode into its shared type, so the wire
//! types in `shared/` and what the daemon sends cannot drift apart.

use openwork_shared::Scope;
use openwork_shared::models::{
    CommandUpsert, ConfigPatch, McpAdd, Reply, SkillUpsert, TokenCreate,
};
use openworkd_tests::Daemon;
use serde_json::json;
use std::time::Duration;

#[test]
fn every_typed_client_method_decodes_the_daemons_answer() {
    let d = Daemon::start();
    let c = d.client();
    let ws = d.ws_id.as_str();

    assert!(c.health().unwrap().ok);
    assert_eq!(c.status().unwrap().workspace_count, 1);
    assert!(c.capabilities().unwrap().schema_version >= 1);
    assert!(c.whoami().unwrap().ok);
    assert_eq!(c.workspaces().unwrap().active_id.as_deref(), Some(ws));

    let patch = ConfigPatch {
        opencode: json!({"model": "m/1"}).as_object().cloned(),
        openwork: None,
    };
    assert!(c.patch_config(ws, &patch).unwrap().updated_at > 0);
    assert_eq!(c.config(ws).unwrap().opencode["model"], "m/1");

    assert_eq!(c.add_plugin(ws, "plug-a").unwrap().items.len(), 1);
    assert_eq!(c.plugins(ws).unwrap().items.len(), 1);
    assert!(c.remove_plugin(ws, "plug-a").unwrap().items.is_empty());

    let skill = SkillUpsert {
        name: "round-trip".into(),
        content: "Do it.".into(),
        description: Some("A skill".into()),
    };
    assert_eq!(c.upsert_skill(ws, &skill).unwrap().name, "round-trip");
    assert_eq!(c.skills(ws).unwrap().items.len(), 1);
    assert!(
        c.skill(ws, "round-trip")
            .unwrap()
            .content
            .contains("Do it.")
    );
    assert!(c.delete_skill(ws, "round-trip").unwrap().ok);

    let mcp = McpAdd {
        name: "srv".into(),
        config: json!({"type": "local", "command": ["srv"]}),
    };
    assert_eq!(c.add_mcp(ws, &mcp).unwrap().items.len(), 1);
    assert_eq!(c.mcp(ws).unwrap().items.len(), 1);
    assert!(c.remove_mcp(ws, "srv").unwrap().items.is_empty());

    let cmd = CommandUpsert {
        name: "daily".into(),
        template: "sum up".into(),
        description: None,
        agent: None,
        model: None,
        subtask: None,
    };
    assert_eq!(c.upsert_command(ws, &cmd).unwrap().items.len(), 1);
    assert_eq!(c.commands(ws).unwrap().items.len(), 1);
    assert!(c.delete_command(ws, "daily").unwrap().ok);

    assert!(!c.audit(ws, Some(5)).unwrap().items.is_empty());
    assert_eq!(c.export(ws).unwrap().workspace_id, ws);
    assert!(!c.events(ws, 0).unwrap().items.is_empty());

    let created = c
        .create_token(&TokenCreate {
            scope: Scope::Viewer,
            label: Some("rt".into()),
            ttl_seconds: Some(3600),
        })
        .unwrap();
    assert!(created.expires_at.is_some());
    assert!(c.tokens().unwrap().items.iter().any(|t| t.id == created.id));
    assert!(c.revoke_token(&created.id).unwrap().ok);

    let bytes = b"inbox bytes".to_vec();
    let len = bytes.len() as u64;
    let uploaded = c
        .upload_inbox(ws, std::io::Cursor::new(bytes), len, "in.txt", None)
        .unwrap();
    assert_eq!(uploaded.bytes, len);
    assert_eq!(c.inbox(ws).unwrap().items.len(), 1);
    d.write_file(".opencode/openwork/outbox/out.txt", "artifact");
    let artifacts = c.artifacts(ws).unwrap();
    let body = c
        .artifact(ws, &artifacts.items[0].id)
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "artifact");
    assert!(c.approvals().unwrap().items.is_empty());
}

#[test]
fn approvals_round_trip_through_the_typed_client() {
    let d = Daemon::builder().with_workspace().manual(10_000).start();
    let c = d.client();
    let pending = d.write_in_background("PATCH", &d.ws("config"), r#"{"openwork":{"a":1}}"#);
    let item = d.wait_for(Duration::from_secs(10), || {
        c.approvals().unwrap().items.pop()
    });
    assert_eq!(item.action, "config.patch");
    let replied = c.reply_approval(&item.id, Reply::Allow).unwrap();
    assert!(replied.ok);
    assert_eq!(pending.join().unwrap().0, 200);
}
