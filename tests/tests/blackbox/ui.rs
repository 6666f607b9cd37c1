//! The web page: served embedded with the right headers, and driven in a
//! real headless Chromium: paste a token, see the workspace, approve a
//! write pushed to the page by clicking Allow.

use openworkd_tests::{Auth, Daemon, peer_package};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn page_and_assets_are_served_without_auth() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_WATCH", "0")
        .start();
    for (path, content_type) in [
        ("/ui".to_owned(), "text/html; charset=utf-8"),
        (format!("/w/{}/ui", d.ws_id), "text/html; charset=utf-8"),
        ("/ui/assets/toy.css".to_owned(), "text/css; charset=utf-8"),
        (
            "/ui/assets/toy.js".to_owned(),
            "text/javascript; charset=utf-8",
        ),
        ("/ui/assets/openwork-mark.svg".to_owned(), "image/svg+xml"),
    ] {
        let r = d.request("GET", &path, Auth::None, None);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.headers["content-type"], content_type, "{path}");
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
        // No other site may frame the page (it holds a token and buttons
        // that allow writes), and it loads nothing from elsewhere.
        assert_eq!(r.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        let policy = r.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
    }
    let page = d.request("GET", "/ui", Auth::None, None).text;
    assert!(page.contains(r#"src="/ui/assets/toy.js""#));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no remote resources"
    );
    let r = d.request("GET", "/ui/assets/other.js", Auth::None, None);
    assert_eq!((r.status, r.code()), (404, "not_found".into()));

    let off = Daemon::builder().env("OPENWORK_TOY_UI", "0").start();
    for path in ["/ui", "/ui/assets/toy.js", "/ui/assets/other.js"] {
        let r = off.request("GET", path, Auth::None, None);
        assert_eq!((r.status, r.code()), (404, "ui_disabled".into()), "{path}");
    }
}

const DRIVER: &str = r##"
const { chromium } = require(process.env.PLAYWRIGHT);
const say = (event, data) => console.log(JSON.stringify({ event, ...data }));
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-background-networking"],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // How the page asks for approvals: one stream, no polling.
  const approvalGets = [];
  page.on("request", (r) => {
    if (r.method() === "GET" && new URL(r.url()).pathname === "/approvals") approvalGets.push(r.headers()["accept"] || "");
  });
  // A person pastes the token into the page and connects.
  await page.goto(`${process.env.BASE}/ui`);
  await page.fill("#token", process.env.TOKEN);
  await page.click("#token-form button[type=submit]");
  await page.waitForURL(/\/w\/[^/]+\/ui$/, { timeout: 20000 });
  await page.waitForFunction(() => document.getElementById("workspace-name").textContent !== "", null, { timeout: 20000 });
  say("ready", {
    url: page.url(),
    name: await page.textContent("[data-testid=workspace-name]"),
    stored: await page.evaluate(() => localStorage.getItem("openwork.toy.token")),
    skills: await page.textContent("#skills"),
  });
  const allow = page.locator("button[data-action=allow]");
  await page.waitForFunction(() => !document.getElementById("approvals-empty").hidden, null, { timeout: 20000 });
  say("watching", {});
  await allow.waitFor({ timeout: 40000 });
  const summary = await page.textContent("[data-approval]");
  await allow.click();
  await page.locator("[data-approval]").waitFor({ state: "detached", timeout: 20000 });
  await page.waitForTimeout(2500);
  say("approved", { summary, errors, approvalGets });
  // A link carrying the token in its fragment works too, and the token
  // leaves the address bar.
  const linked = await browser.newPage();
  await linked.goto(`${process.env.BASE}/ui#token=${process.env.TOKEN}`);
  await linked.waitForURL(/\/w\/[^/]+\/ui$/, { timeout: 20000 });
  say("linked", { url: linked.url() });
  await browser.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"##;

fn chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("OPENWORKD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/test, which installs the Debian package chromium",
        path.display()
    );
    path
}

#[test]
fn a_person_approves_a_write_in_the_browser() {
    let d = Daemon::builder().with_workspace().manual(60_000).start();
    d.write_file(
        ".opencode/skills/triage/SKILL.md",
        "---\nname: triage\ndescription: Sort incoming issues\n---\nSteps",
    );
    let owner = d.issue_token("owner");
    let playwright = peer_package("playwright-core");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("driver.cjs");
    std::fs::write(&script, DRIVER).unwrap();
    let mut node = Command::new("node")
        .arg(&script)
        .env("PLAYWRIGHT", &playwright)
        .env("CHROMIUM", chromium())
        .env("BASE", &d.base)
        .env("TOKEN", &owner)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is required (./scripts/test installs it)");
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = node.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str(&line) {
                let _ = tx.send(value);
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the browser driver reports")
    };

    let ready = next();
    assert_eq!(ready["event"], "ready");
    assert_eq!(ready["name"], "ws");
    assert_eq!(ready["stored"], owner.as_str());
    let url = ready["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/w/{}/ui", d.ws_id)), "{url}");
    assert!(ready["skills"].as_str().unwrap().contains("triage"));

    // A write waits for the host; the page is pushed it and the person
    // allows it.
    assert_eq!(next()["event"], "watching");
    let write = d.write_in_background(
        "PATCH",
        &d.ws("config"),
        r#"{"opencode":{"theme":"approved-in-browser"}}"#,
    );
    let approved = next();
    assert_eq!(approved["event"], "approved");
    assert!(
        approved["summary"]
            .as_str()
            .unwrap()
            .contains("config.patch"),
        "{approved}"
    );
    assert_eq!(approved["errors"], serde_json::json!([]));
    assert_eq!(
        approved["approvalGets"],
        serde_json::json!(["text/event-stream"]),
        "one stream, no polling"
    );
    let linked = next();
    assert_eq!(linked["event"], "linked");
    let url = linked["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/w/{}/ui", d.ws_id)), "{url}");
    assert!(!url.contains("token"), "the token left the URL: {url}");
    let (status, body) = write.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        d.read_file("opencode.jsonc")
            .unwrap()
            .contains("approved-in-browser")
    );
    assert!(node.wait().unwrap().success());
}
