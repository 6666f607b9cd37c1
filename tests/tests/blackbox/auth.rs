//! The auth matrix and the scoped-token store.

use openworkd_tests::{Auth, Daemon, HOST_TOKEN, TOKEN, sha256};
use serde_json::{Value, json};
use std::time::Duration;

fn issue(d: &Daemon, scope: &str) -> Value {
    let r = d.request(
        "POST",
        "/tokens",
        Auth::Host(HOST_TOKEN),
        Some(&json!({"scope": scope, "label": format!("{scope} test")}).to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

#[test]
fn auth_matrix() {
    let d = Daemon::start();
    let owner = issue(&d, "owner")["token"].as_str().unwrap().to_owned();
    let viewer = issue(&d, "viewer")["token"].as_str().unwrap().to_owned();
    let collaborator = issue(&d, "collaborator")["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // (method, path, body, expected status for: none, bad, viewer, collaborator, client token, owner, host header)
    let ws = |rest: &str| d.ws(rest);
    let cases: Vec<(&str, String, &str, [u16; 7])> = vec![
        (
            "GET",
            "/health".into(),
            "",
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/status".into(),
            "",
            [401, 401, 200, 200, 200, 200, 401],
        ),
        (
            "GET",
            "/whoami".into(),
            "",
            [401, 401, 200, 200, 200, 200, 401],
        ),
        (
            "GET",
            "/capabilities".into(),
            "",
            [401, 401, 200, 200, 200, 200, 401],
        ),
        (
            "GET",
            "/workspaces".into(),
            "",
            [401, 401, 200, 200, 200, 200, 401],
        ),
        ("GET", ws("config"), "", [401, 401, 200, 200, 200, 200, 401]),
        ("GET", ws("audit"), "", [401, 401, 200, 200, 200, 200, 401]),
        ("GET", ws("export"), "", [401, 401, 200, 200, 200, 200, 401]),
        (
            "PATCH",
            ws("config"),
            r#"{"openwork":{"a":1}}"#,
            [401, 401, 403, 200, 200, 200, 401],
        ),
        (
            "POST",
            ws("plugins"),
            r#"{"spec":"p"}"#,
            [401, 401, 403, 200, 200, 200, 401],
        ),
        (
            "DELETE",
            ws("mcp/x"),
            "",
            [401, 401, 403, 200, 200, 200, 401],
        ),
        (
            "POST",
            ws("import"),
            "{}",
            [401, 401, 403, 200, 200, 200, 401],
        ),
        (
            "GET",
            "/approvals".into(),
            "",
            [401, 401, 401, 401, 401, 200, 200],
        ),
        (
            "GET",
            "/tokens".into(),
            "",
            [401, 401, 401, 401, 401, 200, 200],
        ),
        (
            "POST",
            "/approvals/nope".into(),
            r#"{"reply":"allow"}"#,
            [401, 401, 401, 401, 401, 404, 404],
        ),
    ];
    let credentials = [
        Auth::None,
        Auth::Bearer("wrong"),
        Auth::Bearer(&viewer),
        Auth::Bearer(&collaborator),
        Auth::Bearer(TOKEN),
        Auth::Bearer(&owner),
        Auth::Host(HOST_TOKEN),
    ];
    for (method, path, body, expected) in &cases {
        for (auth, want) in credentials.iter().zip(expected) {
            let body = (!body.is_empty()).then_some(*body);
            let r = d.request(method, path, *auth, body);
            assert_eq!(r.status, *want, "{method} {path} as {auth:?}: {}", r.text);
        }
    }

    // The exact error bodies.
    let r = d.request("GET", "/status", Auth::Bearer("wrong"), None);
    assert_eq!(
        r.json(),
        json!({"code": "unauthorized", "message": "Invalid bearer token"})
    );
    let r = d.request("GET", "/approvals", Auth::Bearer(TOKEN), None);
    assert_eq!(
        r.json(),
        json!({"code": "unauthorized", "message": "Invalid host token"})
    );
    let r = d.request(
        "POST",
        &d.ws("plugins"),
        Auth::Bearer(&viewer),
        Some(r#"{"spec":"p"}"#),
    );
    assert_eq!(
        r.json(),
        json!({"code": "forbidden", "message": "Insufficient token scope", "details": {"required": "collaborator", "scope": "viewer"}})
    );
    // The host token is not a bearer token; a near-miss is refused.
    assert_eq!(
        d.request("GET", "/status", Auth::Bearer(HOST_TOKEN), None)
            .status,
        401
    );
    assert_eq!(
        d.request("GET", "/status", Auth::Bearer(&format!("{TOKEN}x")), None)
            .status,
        401
    );
    // Scheme is case-insensitive; the token is trimmed.
    let r = d.request_with(
        "GET",
        "/status",
        &[("Authorization", &format!("bearer   {TOKEN} "))],
        None,
    );
    assert_eq!(r.status, 200);
    let r = d.request_with(
        "GET",
        "/status",
        &[("Authorization", &format!("Basic {TOKEN}"))],
        None,
    );
    assert_eq!(r.status, 401);

    // Actors.
    let me = d
        .request("GET", "/whoami", Auth::Bearer(&owner), None)
        .json();
    assert_eq!(
        me["actor"],
        json!({"type": "remote", "tokenHash": sha256(&owner), "scope": "owner"})
    );
    // Viewers do not see OpenCode credentials.
    let with_creds = Daemon::builder()
        .with_workspace()
        .args(&[
            "--opencode-username",
            "u",
            "--opencode-password",
            "secret-pw",
        ])
        .start();
    let v = issue(&with_creds, "viewer")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen = with_creds
        .request("GET", "/workspaces", Auth::Bearer(&v), None)
        .text;
    assert!(!seen.contains("secret-pw"), "{seen}");
    let seen = with_creds.get("/workspaces").json();
    assert_eq!(seen["items"][0]["opencode"]["password"], "secret-pw");
}

#[test]
fn tokens_issue_list_revoke() {
    let d = Daemon::start();
    let created = issue(&d, "viewer");
    let token = created["token"].as_str().unwrap();
    assert!(
        token.starts_with("owt_")
            && token.len() == 36
            && token[4..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{token}"
    );
    assert_eq!(created["scope"], "viewer");
    assert_eq!(created["label"], "viewer test");
    let id = created["id"].as_str().unwrap();

    let list = d
        .request("GET", "/tokens", Auth::Host(HOST_TOKEN), None)
        .json();
    assert_eq!(list["items"][0]["id"], id);
    assert!(list["items"][0].get("hash").is_none() && list["items"][0].get("token").is_none());

    // The store holds only hashes, in the reference shape, mode 0600.
    let store_path = d.root().join("config/openwork/tokens.json");
    let store: Value =
        serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();
    assert_eq!(store["schemaVersion"], 1);
    assert_eq!(store["tokens"][0]["hash"], sha256(token));
    assert!(
        !std::fs::read_to_string(&store_path)
            .unwrap()
            .contains(token)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&store_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let r = d.request(
        "POST",
        "/tokens",
        Auth::Host(HOST_TOKEN),
        Some(r#"{"scope":"admin"}"#),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_scope".into()));

    assert_eq!(
        d.request("GET", "/status", Auth::Bearer(token), None)
            .status,
        200
    );
    let r = d.request(
        "DELETE",
        &format!("/tokens/{id}"),
        Auth::Host(HOST_TOKEN),
        None,
    );
    assert_eq!(r.json(), json!({"ok": true}));
    // Revoked: the very next request fails.
    assert_eq!(
        d.request("GET", "/status", Auth::Bearer(token), None)
            .status,
        401
    );
    let r = d.request(
        "DELETE",
        &format!("/tokens/{id}"),
        Auth::Host(HOST_TOKEN),
        None,
    );
    assert_eq!((r.status, r.code()), (404, "token_not_found".into()));
}

#[test]
fn token_store_edited_by_hand_is_reread() {
    let d = Daemon::start();
    let store_path = d.root().join("config/openwork/tokens.json");
    let token = "owt_0123456789abcdef0123456789abcdef";
    assert_eq!(
        d.request("GET", "/status", Auth::Bearer(token), None)
            .status,
        401
    );
    // A store in the reference's format, written by hand while the daemon runs.
    let store = json!({"schemaVersion": 1, "updatedAt": 1, "tokens": [
        {"id": "1b4e28ba-2fa1-4d2b-883f-0016d3cca427", "hash": sha256(token), "scope": "owner", "createdAt": 1, "label": "by hand"},
        {"id": "bad-entry", "scope": "owner"}
    ]});
    std::fs::write(&store_path, serde_json::to_string_pretty(&store).unwrap()).unwrap();
    let me = d.request("GET", "/whoami", Auth::Bearer(token), None);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["actor"]["scope"], "owner");
    assert_eq!(
        d.request("GET", "/approvals", Auth::Bearer(token), None)
            .status,
        200
    );
    let list = d
        .request("GET", "/tokens", Auth::Host(HOST_TOKEN), None)
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Removing it by hand revokes it.
    std::fs::write(
        &store_path,
        r#"{"schemaVersion":1,"updatedAt":2,"tokens":[]}"#,
    )
    .unwrap();
    assert_eq!(
        d.request("GET", "/whoami", Auth::Bearer(token), None)
            .status,
        401
    );
}

#[test]
fn token_store_location_from_env() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_TOKEN_STORE", "@root/custom/store.json")
        .start();
    issue(&d, "collaborator");
    assert!(d.root().join("custom/store.json").exists());
    assert!(!d.root().join("config/openwork/tokens.json").exists());
}

#[test]
fn tokens_expire_and_report_their_last_use() {
    let d = Daemon::start();
    let create = |body: &str| d.request("POST", "/tokens", Auth::Host(HOST_TOKEN), Some(body));
    let r = create(r#"{"scope":"viewer","label":"brief","ttlSeconds":1}"#);
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    let token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(
        created["expiresAt"].as_u64().unwrap(),
        created["createdAt"].as_u64().unwrap() + 1000
    );
    assert_eq!(
        d.request("GET", "/whoami", Auth::Bearer(&token), None)
            .status,
        200
    );
    let listed = d
        .request("GET", "/tokens", Auth::Host(HOST_TOKEN), None)
        .json();
    let item = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == created["id"])
        .cloned()
        .unwrap();
    assert_eq!(item["expiresAt"], created["expiresAt"]);
    assert!(item["lastUsedAt"].as_u64().unwrap() >= created["createdAt"].as_u64().unwrap());
    // Past its expiry the token is refused on its next request.
    let r = d.wait_for(Duration::from_secs(10), || {
        let r = d.request("GET", "/whoami", Auth::Bearer(&token), None);
        (r.status != 200).then_some(r)
    });
    assert_eq!((r.status, r.code()), (401, "unauthorized".to_owned()));

    // A token without a lifetime has none; bad lifetimes are refused.
    let r = create(r#"{"scope":"viewer"}"#);
    assert!(r.json()["expiresAt"].is_null(), "{}", r.text);
    for bad in [r#""1h""#, "0", "-5", "1.5", "999999999999"] {
        let r = create(&format!(r#"{{"scope":"viewer","ttlSeconds":{bad}}}"#));
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_payload".to_owned()),
            "{bad}: {}",
            r.text
        );
    }

    // openworkctl: --ttl, and the EXPIRES / LAST USED columns.
    let run = d
        .ctl_as_host(&["tokens", "create", "--scope", "viewer", "--ttl", "2h"])
        .ok();
    assert!(run.stdout.contains("Expires:"), "{}", run.stdout);
    let run = d.ctl_as_host(&["tokens", "list"]).ok();
    assert!(
        run.stdout.contains("EXPIRES") && run.stdout.contains("LAST USED"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("never"), "{}", run.stdout);
    let run = d.ctl_as_host(&["tokens", "create", "--scope", "viewer", "--ttl", "forever"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// A client bound to one loopback source address.
fn client_from(ip: &str) -> reqwest::blocking::Client {
    openworkd_tests::client_builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[test]
fn failed_authentications_are_limited_per_address() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_AUTH_LIMIT_LOOPBACK", "1")
        .start();
    let url = format!("{}/whoami", d.base);
    let attacker = client_from("127.0.0.2");
    for n in 1..=20 {
        let r = attacker.get(&url).bearer_auth("guess").send().unwrap();
        assert_eq!(r.status().as_u16(), 401, "failure {n}");
    }
    // The 21st failure is still answered; from then on the address is refused,
    // even with a valid token, and is told when to come back.
    assert_eq!(
        attacker
            .get(&url)
            .bearer_auth("guess")
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let r = attacker.get(&url).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().unwrap();
    assert_eq!(body["code"], "too_many_requests");
    // Another address is unaffected.
    let r = client_from("127.0.0.1")
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let metrics = d
        .request("GET", "/metrics", Auth::Host(HOST_TOKEN), None)
        .text;
    assert!(
        metrics.contains("openworkd_auth_failures_total 21"),
        "{metrics}"
    );
    assert!(
        metrics.contains("openworkd_auth_limited_total 1"),
        "{metrics}"
    );
}

#[test]
fn loopback_is_exempt_from_the_limit_by_default() {
    let d = Daemon::start();
    let url = format!("{}/whoami", d.base);
    let local = client_from("127.0.0.2");
    for _ in 0..30 {
        assert_eq!(
            local
                .get(&url)
                .bearer_auth("stale")
                .send()
                .unwrap()
                .status()
                .as_u16(),
            401
        );
    }
    assert_eq!(
        local
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn pairing_codes_are_redeemed_once_for_a_token() {
    let d = Daemon::start();
    let open = |body: &str| d.request("POST", "/tokens/grants", Auth::Host(HOST_TOKEN), Some(body));
    let pair = |code: &str| {
        let body = json!({ "code": code }).to_string();
        d.request("POST", "/pair", Auth::None, Some(&body))
    };
    let r = open(r#"{"scope":"collaborator","label":"laptop","ttlSeconds":60}"#);
    assert_eq!(r.status, 201, "{}", r.text);
    let grant = r.json();
    let code = grant["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 11, "{code}");
    assert!(!code.contains(['0', 'O', '1', 'l', 'I']), "{code}");
    assert_eq!(grant["url"], d.base);
    let listed = d
        .request("GET", "/tokens/grants", Auth::Host(HOST_TOKEN), None)
        .json();
    assert_eq!(listed["items"][0]["id"], grant["id"]);
    assert!(
        !listed.to_string().contains(&code),
        "codes are never listed"
    );

    // Redeemed once, without credentials, for a working token.
    let r = pair(&code.to_lowercase());
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["scope"], "collaborator");
    let who = d
        .request("GET", "/whoami", Auth::Bearer(&token), None)
        .json();
    assert_eq!(who["actor"]["scope"], "collaborator");
    let again = pair(&code);
    assert_eq!(
        (again.status, again.code()),
        (401, "grant_invalid".to_owned())
    );
    assert_eq!(pair("ABCDE-FGHJK").code(), "grant_invalid");

    // Revoked and expired grants cannot be redeemed.
    let revoked = open(r#"{"scope":"viewer"}"#).json();
    let path = format!("/tokens/grants/{}", revoked["id"].as_str().unwrap());
    assert_eq!(
        d.request("DELETE", &path, Auth::Host(HOST_TOKEN), None)
            .status,
        200
    );
    assert_eq!(
        pair(revoked["code"].as_str().unwrap()).code(),
        "grant_invalid"
    );
    let brief = open(r#"{"scope":"viewer","ttlSeconds":1}"#).json();
    d.wait_for(Duration::from_secs(10), || {
        let items = d
            .request("GET", "/tokens/grants", Auth::Host(HOST_TOKEN), None)
            .json();
        (!items.to_string().contains(brief["id"].as_str().unwrap())).then_some(())
    });
    assert_eq!(
        pair(brief["code"].as_str().unwrap()).code(),
        "grant_invalid"
    );
    assert_eq!(open(r#"{"scope":"viewer","ttlSeconds":90000}"#).status, 400);
    assert_eq!(
        d.request(
            "POST",
            "/tokens/grants",
            Auth::Bearer(TOKEN),
            Some(r#"{"scope":"viewer"}"#)
        )
        .status,
        401
    );

    // Many clients redeeming one code at once: exactly one token.
    let contested = open(r#"{"scope":"viewer"}"#).json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/pair", d.base);
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (url, body) = (url.clone(), json!({ "code": contested }).to_string());
            std::thread::spawn(move || {
                openworkd_tests::http()
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        7,
        "{statuses:?}"
    );

    // Both steps are audited.
    let audit = d.get(&d.ws("audit?limit=50")).json().to_string();
    assert!(
        audit.contains("tokens.grant") && audit.contains("tokens.pair"),
        "{audit}"
    );
}

#[test]
fn openworkctl_pairs_a_new_client_in_two_commands() {
    let d = Daemon::start();
    let run = d
        .ctl_as_host(&["pair", "--scope", "viewer", "--ttl", "10m"])
        .ok();
    let code = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Pairing code: "))
        .unwrap_or_else(|| panic!("{}", run.stdout))
        .to_owned();
    assert!(
        run.stdout
            .contains(&format!("openworkctl login {} --code {code}", d.base)),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains('█') || run.stdout.contains('▀'),
        "a QR code: {}",
        run.stdout
    );
    // The new client: no token of its own, only the code.
    let login = d
        .ctl_with(
            &["login", &d.base, "--code", &code],
            &[("OPENWORKCTL_CREDENTIAL_STORE", "file")],
            "",
        )
        .ok();
    assert!(login.stdout.contains("as viewer"), "{}", login.stdout);
    let status = d.ctl_with(
        &["workspaces", "list"],
        &[("OPENWORKCTL_CREDENTIAL_STORE", "file")],
        "",
    );
    assert_eq!(status.code, 0, "{status:?}");
    let again = d.ctl(&["login", &d.base, "--code", &code]);
    assert_eq!(again.code, 4, "{again:?}");
}
