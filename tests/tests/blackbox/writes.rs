//! How a write lands on disk: in its folder as one rename of the target,
//! with what the folder hands down to new files (group, default ACL) and
//! the mode the file had; what an interrupted write left is swept.

use inotify::{EventMask, Inotify, WatchMask};
use openworkd_tests::{Daemon, sha256};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Every event the kernel queued for the watched folders so far, as
/// (folder, event name, entry name), entries of folders themselves left out.
fn drain(
    inotify: &mut Inotify,
    folders: &BTreeMap<inotify::WatchDescriptor, &'static str>,
) -> Vec<(&'static str, EventMask, String)> {
    let mut buffer = [0; 64 * 1024];
    let mut seen = Vec::new();
    loop {
        let events = match inotify.read_events(&mut buffer) {
            Ok(events) => events,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return seen,
            Err(e) => panic!("inotify: {e}"),
        };
        let before = seen.len();
        for event in events {
            let Some(name) = event.name else { continue };
            seen.push((
                folders[&event.wd],
                event.mask,
                name.to_string_lossy().into_owned(),
            ));
        }
        if seen.len() == before {
            return seen;
        }
    }
}

#[test]
fn a_write_shows_in_its_folder_as_one_rename_of_the_target() {
    let d = Daemon::start();
    let skill = |body: &str| {
        let r = d.post(
            &d.ws("skills"),
            &json!({"name": "notes", "description": "d", "content": body}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    };
    let patch = |theme: &str| {
        let r = d.patch(
            &d.ws("config"),
            &json!({"opencode": {"theme": theme}}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    };
    // Both files exist, so the writes below replace them.
    skill("# one\n");
    patch("one");
    let sid = d.post(&d.ws("files/sessions"), "{}").json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let write = |path: &str| {
        let r = d.post(
            &format!("/files/sessions/{sid}/write-batch"),
            &json!({"writes": [{"path": path, "contentBase64": "aGk="}]}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["items"][0]["ok"], true, "{}", r.text);
    };
    write("docs/a.txt");

    let mut inotify = Inotify::init().unwrap();
    let ws = &d.workspace;
    let mut folders = BTreeMap::new();
    for (folder, path) in [
        ("root", ws.clone()),
        ("skill", ws.join(".opencode/skills/notes")),
        ("docs", ws.join("docs")),
    ] {
        folders.insert(
            inotify.watches().add(&path, WatchMask::ALL_EVENTS).unwrap(),
            folder,
        );
    }
    skill("# two\n");
    patch("two");
    write("docs/a.txt");
    write("docs/b.txt");
    // Queued by the kernel as the daemon made them, before it answered.
    let seen = drain(&mut inotify, &folders);

    // Nothing was made, written, closed after writing or moved away in
    // the folders: each file came in whole, by one rename. (Reading the
    // config to edit it opens it.)
    let changing = EventMask::CREATE
        | EventMask::MODIFY
        | EventMask::ATTRIB
        | EventMask::CLOSE_WRITE
        | EventMask::MOVED_FROM
        | EventMask::MOVED_TO
        | EventMask::DELETE;
    let changes: Vec<_> = seen
        .iter()
        .filter(|(_, mask, _)| mask.intersects(changing))
        .map(|(folder, mask, name)| (*folder, *mask, name.as_str()))
        .collect();
    let moved = EventMask::MOVED_TO;
    assert_eq!(
        changes,
        [
            ("skill", moved, "SKILL.md"),
            ("root", moved, "opencode.jsonc"),
            ("docs", moved, "a.txt"),
            ("docs", moved, "b.txt"),
        ],
        "all events: {seen:?}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("docs/b.txt")).unwrap(),
        "hi"
    );
    assert!(
        std::fs::read_to_string(ws.join(".opencode/skills/notes/SKILL.md"))
            .unwrap()
            .contains("# two")
    );
}

/// Set a default ACL on `dir` giving user `uid` read and write.
fn set_default_acl(dir: &Path, uid: u32) {
    // The kernel's ACL format: a version, then (tag, permissions, id).
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 7u16, u32::MAX), // owner
        (0x02, 6, uid),            // the named user
        (0x04, 5, u32::MAX),       // owning group
        (0x10, 7, u32::MAX),       // mask
        (0x20, 5, u32::MAX),       // others
    ] {
        acl.extend(tag.to_le_bytes());
        acl.extend(perm.to_le_bytes());
        acl.extend(id.to_le_bytes());
    }
    rustix::fs::setxattr(
        dir,
        "system.posix_acl_default",
        &acl,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap_or_else(|e| panic!("cannot set a default ACL on {}: {e}", dir.display()));
}

#[test]
fn a_new_file_gets_what_its_folder_hands_down_and_a_replaced_one_keeps_its_mode() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test gives folders another group and must run as root"
    );
    let d = Daemon::start();
    let ws = &d.workspace;
    let ours = rustix::process::getegid().as_raw();
    let other = 4242;
    let folder = |name: &str, mode: u32, group: Option<u32>| {
        let dir = ws.join(name);
        std::fs::create_dir(&dir).unwrap();
        if let Some(group) = group {
            std::os::unix::fs::chown(&dir, None, Some(group)).unwrap();
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    };
    folder("setgid", 0o2775, Some(other));
    folder("grouped", 0o775, Some(other));
    let acl = folder("acl", 0o755, None);
    set_default_acl(&acl, 4343);
    folder("plain", 0o755, None);
    std::fs::write(ws.join("plain/private.txt"), "old").unwrap();
    std::fs::set_permissions(
        ws.join("plain/private.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    let sid = d.post(&d.ws("files/sessions"), "{}").json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paths = [
        "setgid/a.txt",
        "grouped/b.txt",
        "acl/c.txt",
        "plain/d.txt",
        "plain/private.txt",
    ];
    let writes: Vec<Value> = paths
        .iter()
        .map(|p| json!({"path": p, "contentBase64": "aGk="}))
        .collect();
    let r = d.post(
        &format!("/files/sessions/{sid}/write-batch"),
        &json!({ "writes": writes }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let meta = |p: &str| std::fs::metadata(ws.join(p)).unwrap();
    // A set-group-ID folder's group (and only there is it not ours).
    assert_eq!(meta("setgid/a.txt").gid(), other);
    assert_eq!(meta("grouped/b.txt").gid(), ours);
    assert_eq!(meta("plain/d.txt").gid(), ours);
    // The folder's default ACL became the file's.
    assert!(
        rustix::fs::getxattr_query(ws.join("acl/c.txt"), "system.posix_acl_access").is_ok(),
        "acl/c.txt has no ACL"
    );
    assert!(rustix::fs::getxattr_query(ws.join("plain/d.txt"), "system.posix_acl_access").is_err());
    assert_eq!(meta("plain/d.txt").mode() & 0o7777, 0o644);
    assert_eq!(meta("plain/private.txt").mode() & 0o7777, 0o600);
    for p in paths {
        assert_eq!(std::fs::read_to_string(ws.join(p)).unwrap(), "hi", "{p}");
    }
}

#[test]
fn what_an_interrupted_write_left_in_the_staging_folder_is_removed_at_start() {
    let data = tempfile::tempdir().unwrap();
    let staging = data.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let random = "0123456789abcdef";
    let leftover = staging.join(format!(
        ".openworkd-tmp-{random}-{}",
        &sha256(&format!("openworkd temporary file {random}"))[..8]
    ));
    std::fs::write(&leftover, "half-written").unwrap();
    // Temporary files are made in its subfolders.
    std::fs::create_dir(staging.join("07")).unwrap();
    let in_subfolder = staging.join("07").join(leftover.file_name().unwrap());
    std::fs::write(&in_subfolder, "half-written").unwrap();
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_DATA_DIR", &data.path().display().to_string())
        .start();
    assert!(!leftover.exists());
    assert!(!in_subfolder.exists());
    // The folder is the daemon's alone.
    assert_eq!(std::fs::metadata(&staging).unwrap().mode() & 0o777, 0o700);
    let r = d.patch(
        &d.ws("config"),
        &json!({"opencode": {"theme": "x"}}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(files_under(&staging), Vec::<String>::new());
}

/// The files (not folders) under `dir`, two levels deep.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        match entry.file_type().unwrap().is_dir() {
            true => files.extend(
                std::fs::read_dir(entry.path())
                    .unwrap()
                    .map(|e| e.unwrap().path().display().to_string()),
            ),
            false => files.push(entry.path().display().to_string()),
        }
    }
    files
}

/// A daemon with a workspace and its own data folder.
fn daemon_with_data_folder() -> (tempfile::TempDir, Daemon) {
    let data = tempfile::tempdir().unwrap();
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_DATA_DIR", &data.path().display().to_string())
        .start();
    (data, d)
}

/// The staging subfolder whose turn it is at `secs` (one per 5 s, 64 in turn).
fn staging_turn(secs: u64) -> String {
    format!("{:02}", secs / 5 % 64)
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn temporary_files_are_made_in_staging_subfolders_taking_turns() {
    let (data, d) = daemon_with_data_folder();
    let staging = data.path().join("staging");
    let upsert = |body: &str| {
        let before = unix_secs();
        let r = d.post(
            &d.ws("skills"),
            &json!({"name": "notes", "description": "d", "content": body}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        (staging_turn(before), staging_turn(unix_secs()))
    };
    let subfolders = || {
        let mut names: Vec<String> = std::fs::read_dir(&staging)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // The skill's folder made (a new folder's first file is made in it).
    upsert("# zero\n");
    for entry in std::fs::read_dir(&staging).unwrap() {
        std::fs::remove_dir_all(entry.unwrap().path()).unwrap();
    }
    let (from, to) = upsert("# one\n");
    let first = subfolders();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0] == from || first[0] == to,
        "{first:?}, {from}..{to}"
    );
    // The next turn begins within 5 s: its write goes to another subfolder.
    std::thread::sleep(std::time::Duration::from_millis(5100));
    upsert("# two\n");
    let both = subfolders();
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(files_under(&staging), Vec::<String>::new());
    assert!(
        std::fs::read_to_string(d.workspace.join(".opencode/skills/notes/SKILL.md"))
            .unwrap()
            .contains("# two")
    );
    // Where the file system keeps the flag, the staging folder is marked as
    // the top of a hierarchy (its subfolders placed apart).
    let probe = tempfile::tempdir_in(data.path()).unwrap();
    let supported = std::fs::File::open(probe.path()).is_ok_and(|f| {
        rustix::fs::ioctl_getflags(&f).is_ok_and(|flags| {
            rustix::fs::ioctl_setflags(&f, flags | rustix::fs::IFlags::TOPDIR).is_ok()
                && rustix::fs::ioctl_getflags(&f)
                    .is_ok_and(|now| now.contains(rustix::fs::IFlags::TOPDIR))
        })
    });
    let flags = rustix::fs::ioctl_getflags(std::fs::File::open(&staging).unwrap());
    assert_eq!(
        flags.is_ok_and(|f| f.contains(rustix::fs::IFlags::TOPDIR)),
        supported
    );
}

#[test]
fn writes_work_when_the_data_folder_is_on_another_file_system() {
    let data = tempfile::tempdir_in("/dev/shm").unwrap();
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_DATA_DIR", &data.path().display().to_string())
        .start();
    assert_ne!(
        std::fs::metadata(data.path()).unwrap().dev(),
        std::fs::metadata(&d.workspace).unwrap().dev(),
        "the data folder must be on another file system for this test"
    );
    let r = d.patch(
        &d.ws("config"),
        &json!({"opencode": {"theme": "x"}}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = d.post(
        &d.ws("skills"),
        &json!({"name": "notes", "description": "d", "content": "# one\n"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(d.workspace.join(".opencode/skills/notes/SKILL.md").exists());
}

#[test]
fn a_symlink_planted_as_the_staging_folder_is_not_followed() {
    let data = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::set_permissions(elsewhere.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), data.path().join("staging")).unwrap();
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_DATA_DIR", &data.path().display().to_string())
        .start();
    let r = d.post(
        &d.ws("skills"),
        &json!({"name": "notes", "description": "d", "content": "# one\n"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(d.workspace.join(".opencode/skills/notes/SKILL.md").exists());
    // Written beside its target instead; the symlink's target untouched.
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    assert_eq!(
        std::fs::metadata(elsewhere.path()).unwrap().mode() & 0o777,
        0o755
    );
    assert!(
        d.output()
            .contains("temporary files are written beside their targets"),
        "{}",
        d.output()
    );
}

#[test]
fn writes_go_on_when_the_staging_folder_is_removed_or_replaced_while_running() {
    let (data, d) = daemon_with_data_folder();
    let staging = data.path().join("staging");
    let upsert = |body: &str| {
        let r = d.post(
            &d.ws("skills"),
            &json!({"name": "notes", "description": "d", "content": body}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let written =
            std::fs::read_to_string(d.workspace.join(".opencode/skills/notes/SKILL.md")).unwrap();
        assert!(written.contains(body), "{written}");
    };
    upsert("# one\n");
    // A file where each subfolder would be: written beside the target.
    for entry in std::fs::read_dir(&staging).unwrap() {
        std::fs::remove_dir_all(entry.unwrap().path()).unwrap();
    }
    let turns: Vec<_> = (0..64)
        .map(|turn| staging.join(format!("{turn:02}")))
        .collect();
    for turn in &turns {
        std::fs::write(turn, "not a folder").unwrap();
    }
    upsert("# one and a half\n");
    for turn in &turns {
        assert_eq!(std::fs::read_to_string(turn).unwrap(), "not a folder");
    }
    std::fs::remove_dir_all(&staging).unwrap();
    upsert("# two\n");
    // A file where the folder was: written beside the target instead.
    std::fs::write(&staging, "not a folder").unwrap();
    upsert("# three\n");
    assert_eq!(std::fs::read_to_string(&staging).unwrap(), "not a folder");
    let leftovers: Vec<_> = std::fs::read_dir(d.workspace.join(".opencode/skills/notes"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["SKILL.md"]);
}

/// A write is made durable after it is done (its content at the journal's
/// checkpoint, a second later), and the workspace may change in between.
/// Whatever a written file or its folder became by then (a file where the
/// folder was, a FIFO where the file was, a symlink loop), later writes
/// go on: none waits or fails, also once more than the write-ahead log
/// holds (8 MiB) was written, and nothing is logged as an error.
#[test]
fn writes_go_on_when_what_a_write_made_is_replaced_before_it_is_flushed() {
    type Change = fn(&Path);
    let cases: [(&str, Change); 3] = [
        ("gone/a.txt", |ws| {
            std::fs::remove_dir_all(ws.join("gone")).unwrap();
            std::fs::write(ws.join("gone"), "a file now").unwrap();
        }),
        ("fifo.txt", |ws| {
            openworkd_tests::make_fifo(&ws.join("fifo.txt"))
        }),
        ("loop/b.txt", |ws| {
            std::fs::remove_dir_all(ws.join("loop")).unwrap();
            std::os::unix::fs::symlink("loop", ws.join("loop")).unwrap();
        }),
    ];
    // A journal that stopped shows as a write never answered.
    let patient = openworkd_tests::client_builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let mib = base64::engine::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        vec![b'x'; 1 << 20],
    );
    for (path, change) in cases {
        let d = Daemon::builder()
            .with_workspace()
            .env("OPENWORK_WATCH", "0")
            .start();
        let ws = d.root().join("ws");
        let r = d.post(&d.ws("files/sessions"), "{}");
        let sid = r.json()["session"]["id"].as_str().unwrap().to_owned();
        let batch = format!("/files/sessions/{sid}/write-batch");
        let write = json!({"writes": [{"path": path, "contentBase64": "aGVsbG8="}]});
        let r = d.post(&batch, &write.to_string());
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        change(&ws);
        std::thread::sleep(std::time::Duration::from_millis(1500));
        for round in 0..4 {
            let writes: Vec<Value> = (0..3)
                .map(|i| json!({"path": format!("big/{round}-{i}.bin"), "contentBase64": mib}))
                .collect();
            let body = json!({"writes": writes}).to_string();
            let answered = patient
                .post(format!("{}{batch}", d.base))
                .bearer_auth(openworkd_tests::TOKEN)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .unwrap_or_else(|e| panic!("{path}: write {round} was not answered in 30 s: {e}"));
            let (status, text) = (answered.status().as_u16(), answered.text().unwrap());
            assert_eq!(status, 200, "{path}: write {round}: {text}");
        }
        let out = d.output();
        assert!(!out.contains("cannot sync"), "{path}: {out}");
        assert!(!out.contains("journal:"), "{path}: {out}");
    }
}

/// A clean stop flushes what the write-ahead log covers and starts it over:
/// the next start writes nothing back, so a log rotated or cut while the
/// daemon was stopped stays as it was left.
#[test]
fn a_log_cut_while_the_daemon_is_stopped_stays_cut() {
    let mut d = Daemon::start();
    let r = d.post(
        &d.ws("skills"),
        r#"{"name":"kept","description":"d","content":"x"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(d.terminate().success());
    let data = d.root().join("data");
    let audit = data.join(format!("audit/{}.jsonl", d.ws_id));
    let history = data.join("approvals/history.jsonl");
    for log in [&audit, &history] {
        assert!(
            std::fs::metadata(log).unwrap().len() > 0,
            "{}",
            log.display()
        );
        // Rotated: emptied in place.
        std::fs::File::create(log).unwrap();
    }
    let mut again = Daemon::builder()
        .env("OPENWORK_DATA_DIR", &data.display().to_string())
        .args(&["--workspace", &d.workspace.display().to_string()])
        .start();
    again.ws_id = d.ws_id.clone();
    assert_eq!(again.get(&again.ws("skills/kept")).status, 200);
    for log in [&audit, &history] {
        assert_eq!(
            std::fs::read_to_string(log).unwrap(),
            "",
            "{}",
            log.display()
        );
    }
    assert!(!again.output().contains("restored"), "{}", again.output());
    again.terminate();
}
