//! Inbox uploads and outbox artifacts over HTTP.

use openworkd_tests::{Daemon, TOKEN, http};
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};
use std::io::Read;

fn upload(d: &Daemon, query: &str, form: Form) -> (u16, Value) {
    let url = format!("{}{}{}", d.base, d.ws("inbox"), query);
    let resp = http()
        .post(url)
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap())
}

fn file_form(name: &str, bytes: &[u8]) -> Form {
    Form::new().part(
        "file",
        Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
    )
}

/// Files left in the daemon's upload staging folder.
fn staged(d: &Daemon) -> usize {
    std::fs::read_dir(d.workspace.join(".opencode/openwork/.uploads"))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[test]
fn inbox_uploads_land_atomically_where_asked() {
    let d = Daemon::start();
    let (status, body) = upload(&d, "", file_form("report.txt", b"hello"));
    assert_eq!(
        (status, &body),
        (200, &json!({"ok": true, "path": "report.txt", "bytes": 5}))
    );
    assert_eq!(
        d.read_file(".opencode/openwork/inbox/report.txt").unwrap(),
        "hello"
    );

    // The form's `path` wins over the file name, even after the file part; the query wins over both.
    let form = file_form("ignored.txt", b"two").text("path", "docs/two.txt");
    assert_eq!(upload(&d, "", form).1["path"], "docs/two.txt");
    let form = file_form("ignored.txt", b"three").text("path", "docs/nope.txt");
    assert_eq!(
        upload(&d, "?path=%2Fworkspace%2Fq.txt", form).1["path"],
        "q.txt"
    );
    // Overwrites.
    upload(&d, "", file_form("report.txt", b"again"));
    assert_eq!(
        d.read_file(".opencode/openwork/inbox/report.txt").unwrap(),
        "again"
    );
    assert_eq!(staged(&d), 0);

    let list = d.get(&d.ws("inbox")).json();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(names.contains(&"two.txt"));
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "docs/two.txt")
        .unwrap();
    let got = d.get(&d.ws(&format!("inbox/{}", item["id"].as_str().unwrap())));
    assert_eq!(got.text, "two");

    let audit = d.get(&d.ws("audit")).json();
    assert_eq!(audit["items"][0]["action"], "workspace.inbox.upload");
    assert_eq!(audit["items"][0]["summary"], "Uploaded report.txt to inbox");
}

#[test]
fn inbox_refuses_bad_uploads_leaving_nothing() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_INBOX_MAX_BYTES", "1000")
        .start();
    let (status, body) = upload(&d, "", file_form("big.bin", &[7u8; 5000]));
    assert_eq!(status, 413);
    assert_eq!(body["code"], "file_too_large");
    assert_eq!(body["details"]["maxBytes"], 1000);
    assert!(
        !d.workspace
            .join(".opencode/openwork/inbox/big.bin")
            .exists()
    );
    assert_eq!(staged(&d), 0);

    for bad in ["../escape.txt", "a/../../b", "x\0y"] {
        let form = file_form("f.txt", b"x").text("path", bad.to_owned());
        let (status, body) = upload(&d, "", form);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_path")),
            "{bad:?}"
        );
    }
    let (status, body) = upload(&d, "", Form::new().text("path", "a.txt"));
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("file_required"))
    );
    let r = d.post(&d.ws("inbox"), "{}");
    assert_eq!((r.status, r.code()), (400, "invalid_payload".into()));
    assert_eq!(staged(&d), 0);

    // An inbox that is a symlink out of the workspace is refused.
    let outside = d.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(d.workspace.join(".opencode/openwork")).unwrap();
    std::os::unix::fs::symlink(&outside, d.workspace.join(".opencode/openwork/inbox")).unwrap();
    let (status, body) = upload(&d, "", file_form("f.txt", b"x"));
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_path")));
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn disabled_inbox_and_outbox() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_INBOX_ENABLED", "0")
        .env("OPENWORK_OUTBOX_ENABLED", "no")
        .start();
    let (status, body) = upload(&d, "", file_form("a.txt", b"x"));
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("inbox_disabled"))
    );
    assert_eq!(d.get(&d.ws("inbox")).json(), json!({"items": []}));
    assert_eq!(d.get(&d.ws("artifacts")).json(), json!({"items": []}));
    assert_eq!(d.get(&d.ws("artifacts/YQ")).code(), "outbox_disabled");
    let caps = d.get("/capabilities").json();
    assert_eq!(caps["toolProviders"]["files"]["injection"], false);
    assert_eq!(caps["toolProviders"]["files"]["outbox"], false);
}

#[test]
fn artifacts_are_listed_and_streamed_with_ranges() {
    let d = Daemon::start();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
    d.write_file(".opencode/openwork/outbox/sub/dir/a.txt", "a");
    std::fs::write(
        d.workspace.join(".opencode/openwork/outbox/report.pdf"),
        &data,
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "/etc/hostname",
        d.workspace.join(".opencode/openwork/outbox/link"),
    )
    .unwrap();

    let list = d.get(&d.ws("artifacts")).json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "symlinks are not listed: {list}");
    let report = items.iter().find(|i| i["path"] == "report.pdf").unwrap();
    assert_eq!(report["id"], "cmVwb3J0LnBkZg");
    assert_eq!(report["size"], 100_000);
    assert!(items.iter().any(|i| i["id"] == "c3ViL2Rpci9hLnR4dA"));

    let url = format!("{}{}", d.base, d.ws("artifacts/cmVwb3J0LnBkZg"));
    let mut resp = http().get(&url).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert_eq!(resp.headers()["content-length"], "100000");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"report.pdf\""
    );
    let mut body = Vec::new();
    resp.read_to_end(&mut body).unwrap();
    assert_eq!(body, data);

    let resp = http()
        .get(&url)
        .bearer_auth(TOKEN)
        .header("Range", "bytes=1000-1099")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 1000-1099/100000");
    assert_eq!(resp.bytes().unwrap().as_ref(), &data[1000..1100]);
    let resp = http()
        .get(&url)
        .bearer_auth(TOKEN)
        .header("Range", "bytes=200000-")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 416);

    assert_eq!(d.get(&d.ws("artifacts/!!!")).code(), "invalid_artifact");
    assert_eq!(
        d.get(&d.ws("artifacts/Li4vZXRjL3Bhc3N3ZA")).code(),
        "invalid_artifact"
    ); // ../etc/passwd
    assert_eq!(
        d.get(&d.ws("artifacts/bm9wZQ")).code(),
        "artifact_not_found"
    );
    // The symlink leaves the workspace: refused, not served.
    let r = d.get(&d.ws("artifacts/bGluaw"));
    assert_eq!((r.status, r.code()), (400, "invalid_path".into()));
    assert_eq!(
        d.request("GET", &d.ws("artifacts"), openworkd_tests::Auth::None, None)
            .status,
        401
    );
}

/// Yields `len` bytes without holding them in memory.
struct Zeros(u64);

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0 as usize);
        buf[..n].fill(b'z');
        self.0 -= n as u64;
        Ok(n)
    }
}

#[test]
fn large_upload_is_streamed_with_flat_memory() {
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_INBOX_MAX_BYTES", "200000000")
        .start();
    const SIZE: u64 = 100 * 1024 * 1024;
    let before = d.peak_rss_kib();
    let client = d.client_with(TOKEN);
    let uploaded = client
        .upload_inbox(&d.ws_id, Zeros(SIZE), SIZE, "big.bin", None)
        .unwrap();
    assert_eq!(uploaded.bytes, SIZE);
    let on_disk = std::fs::metadata(d.workspace.join(".opencode/openwork/inbox/big.bin"))
        .unwrap()
        .len();
    assert_eq!(on_disk, SIZE);
    let grown = d.peak_rss_kib() - before;
    assert!(
        grown < 32 * 1024,
        "daemon memory grew by {grown} KiB for a 100 MiB upload"
    );
}
