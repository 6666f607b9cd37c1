//! The in-process tier: the daemon's router driven with `oneshot`, no
//! socket and no process. The auth matrix is table-driven from the one
//! endpoint table (`openworkd::route_auth`, the same that documents the
//! routes in `/openapi.json`): every route × every kind of credential.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use openworkd::config::{self, Environment, Flags};
use openworkd::{AppState, RouteAuth, route_auth, router};
use openworkd_tests::{HOST_TOKEN, TOKEN};
use tower::ServiceExt;

/// A state for a temp workspace with fixed tokens and auto approval.
fn state(dir: &std::path::Path) -> (AppState, String) {
    let ws = dir.join("ws");
    for sub in ["ws", "home", "config", "data"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let flags = Flags {
        workspace: vec![ws.display().to_string()],
        token: Some(TOKEN.into()),
        host_token: Some(HOST_TOKEN.into()),
        approval: Some("auto".into()),
        ..Flags::default()
    };
    let data = dir.join("data").display().to_string();
    let var = move |name: &str| match name {
        "OPENWORK_DATA_DIR" => Some(data.clone()),
        "OPENWORK_WATCH" => Some("0".to_owned()),
        _ => None,
    };
    let env = Environment {
        var: &var,
        home: Some(dir.join("home")),
        config_dir: Some(dir.join("config")),
        cwd: dir.to_path_buf(),
    };
    let config = config::resolve(&flags, &env, &mut |_| {}).unwrap();
    let id = config.workspaces[0].id.clone();
    (AppState::new(config), id)
}

/// A kind of credential a request can carry.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cred {
    None,
    Unknown,
    Viewer,
    Collaborator,
    Owner,
    Host,
}

async fn call(
    app: &openworkd::Front,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from("{}")).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn issue(app: &openworkd::Front, scope: &str) -> String {
    let req = Request::builder()
        .method("POST")
        .uri("/tokens")
        .header("X-OpenWork-Host-Token", HOST_TOKEN)
        .header("content-type", "application/json")
        .body(Body::from(format!(r#"{{"scope":"{scope}"}}"#)))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Whether `cred` is let through by a route needing `auth`.
fn admitted(auth: RouteAuth, cred: Cred) -> bool {
    match auth {
        RouteAuth::None => true,
        RouteAuth::Client => matches!(cred, Cred::Viewer | Cred::Collaborator | Cred::Owner),
        RouteAuth::Collaborator => matches!(cred, Cred::Collaborator | Cred::Owner),
        RouteAuth::Host => matches!(cred, Cred::Owner | Cred::Host),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_admits_exactly_the_credentials_it_documents() {
    let dir = tempfile::tempdir().unwrap();
    let (state, ws) = state(dir.path());
    let app = router(state);
    let viewer = issue(&app, "viewer").await;
    let collaborator = issue(&app, "collaborator").await;
    let owner = issue(&app, "owner").await;
    let bearer = |t: &str| vec![("authorization", format!("Bearer {t}"))];
    let creds = [
        (Cred::None, vec![]),
        (Cred::Unknown, bearer("not-a-token")),
        (Cred::Viewer, bearer(&viewer)),
        (Cred::Collaborator, bearer(&collaborator)),
        (Cred::Owner, bearer(&owner)),
        (
            Cred::Host,
            vec![("x-openwork-host-token", HOST_TOKEN.to_owned())],
        ),
    ];
    let table = route_auth();
    assert!(table.len() > 40, "{}", table.len());
    for (method, template, auth) in table {
        let path = template
            .replace("{id}", &ws)
            .replace("{name}", "nothing-here")
            .replace("{item}", "bm90aGluZw")
            .replace("{sid}", "no-session")
            .replace("{approvalId}", "no-approval")
            .replace("{tokenId}", "no-token");
        for (cred, headers) in &creds {
            let (status, body) = call(&app, &method.to_uppercase(), &path, headers).await;
            let refused = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
            assert!(
                status.as_u16() < 500,
                "{method} {template} as {cred:?}: {status} {body}"
            );
            if admitted(auth, *cred) {
                let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let by_auth = answer["code"] == "unauthorized"
                    || answer["message"] == "Insufficient token scope";
                assert!(
                    !(refused && by_auth),
                    "{method} {template} ({auth:?}) refused {cred:?}: {status} {body}"
                );
            } else {
                assert!(
                    refused,
                    "{method} {template} ({auth:?}) admitted {cred:?}: {status} {body}"
                );
            }
        }
    }
}

async fn send(
    app: &openworkd::Front,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("x-openwork-host-token", HOST_TOKEN)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// Bodies are read into the shared wire types with the reference's
/// leniency, and refused with the reference's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_read_into_the_shared_types_leniently() {
    let dir = tempfile::tempdir().unwrap();
    let (state, ws) = state(dir.path());
    let app = router(state);
    let config = format!("/workspace/{ws}/config");
    let code = |v: &serde_json::Value| v["code"].as_str().unwrap_or_default().to_owned();
    for (method, path, body, status, expected) in [
        ("PATCH", config.as_str(), "{bad", 400, "invalid_json"),
        ("PATCH", config.as_str(), "[1]", 400, "invalid_payload"),
        (
            "PATCH",
            config.as_str(),
            r#"{"opencode": 5}"#,
            400,
            "invalid_payload",
        ),
        (
            "PATCH",
            config.as_str(),
            r#"{"opencode": null, "openwork": false}"#,
            400,
            "invalid_payload",
        ),
        ("POST", "/tokens", "{}", 400, "invalid_scope"),
        ("POST", "/tokens", r#"{"scope": 7}"#, 400, "invalid_scope"),
        (
            "POST",
            "/tokens",
            r#"{"scope": " viewer ", "label": 3}"#,
            201,
            "",
        ),
        (
            "POST",
            &format!("/workspace/{ws}/plugins"),
            r#"{"spec": ["x"]}"#,
            400,
            "invalid_plugin_spec",
        ),
        (
            "POST",
            &format!("/workspace/{ws}/mcp"),
            r#"{"name": "m", "config": false}"#,
            400,
            "invalid_payload",
        ),
    ] {
        let (got, answer) = send(&app, method, path, body).await;
        assert_eq!(got.as_u16(), status, "{method} {path} {body}: {answer}");
        if !expected.is_empty() {
            assert_eq!(code(&answer), expected, "{method} {path} {body}: {answer}");
        }
    }
    let (_, answer) = send(&app, "PATCH", &config, r#"{"opencode": 5}"#).await;
    assert_eq!(answer["message"], "opencode must be an object");
    let import = format!("/workspace/{ws}/import");
    let (status, answer) = send(&app, "POST", &import, "[1]").await;
    assert_eq!(
        (status.as_u16(), answer["message"].as_str()),
        (400, Some("Import payload must be an object"))
    );
    // Parts of the wrong type are left out; items that are not objects are empty.
    let (status, answer) = send(
        &app,
        "POST",
        &import,
        r#"{"mode": 3, "opencode": [], "skills": "x", "commands": [7]}"#,
    )
    .await;
    assert_eq!(
        (status.as_u16(), answer["code"].as_str()),
        (400, Some("invalid_command_template")),
        "{answer}"
    );
    // Commands: truthy strings as the reference makes them; a number
    // description becomes its text, a false agent is absent.
    let body =
        r#"{"name": "c1", "template": "t", "description": 12, "agent": false, "subtask": "yes"}"#;
    let (status, answer) = send(&app, "POST", &format!("/workspace/{ws}/commands"), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["items"][0]["description"], "12");
    assert!(answer["items"][0]["agent"].is_null());
}
