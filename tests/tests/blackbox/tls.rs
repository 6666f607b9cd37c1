//! HTTPS: certificates from files (read again on SIGHUP) or made by the
//! daemon, and openworkctl trusting a CA or a pinned fingerprint, never
//! falling back to anything else.

use openwork_shared::client::{Client, ClientError};
use openwork_shared::tls::Trust;
use openworkd_tests::{Daemon, HOST_TOKEN, TOKEN, bin, run_isolated};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
const NAMES: &str = "subjectAltName=DNS:localhost,IP:127.0.0.1";

/// A self-signed certificate for localhost and 127.0.0.1: (cert, key).
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
    args.extend(EC);
    args.extend([
        "-subj",
        "/CN=localhost",
        "-addext",
        NAMES,
        "-keyout",
        &key,
        "-out",
        &cert,
    ]);
    openssl(dir, &args);
    (dir.join(cert), dir.join(key))
}

/// A CA, and a certificate for localhost/127.0.0.1 it signed: (ca, cert, key).
pub fn ca_signed(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
    ca.extend(EC);
    ca.extend([
        "-subj",
        "/CN=openworkd test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-new", "-nodes"];
    csr.extend(EC);
    csr.extend([
        "-subj",
        "/CN=localhost",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("leaf.ext"),
        format!("{NAMES}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

/// The SHA-256 fingerprint openssl reports for a PEM certificate.
fn openssl_fingerprint(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().rsplit('=').next().unwrap().to_uppercase()
}

/// The fingerprint openworkd printed at start.
fn printed_fingerprint(d: &Daemon) -> String {
    let out = d.output();
    let line = out
        .lines()
        .find(|l| l.contains("fingerprint (SHA-256): "))
        .unwrap_or_else(|| panic!("no fingerprint printed:\n{out}"));
    line.split("(SHA-256): ").nth(1).unwrap().trim().to_owned()
}

fn status_fingerprint(d: &Daemon) -> String {
    let status = d.get("/status").json();
    status["tls"]["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Change the first byte of a fingerprint.
fn other_than(fingerprint: &str) -> String {
    let first = if fingerprint.starts_with("00") {
        "11"
    } else {
        "00"
    };
    format!("{first}{}", &fingerprint[2..])
}

#[test]
fn a_self_signed_certificate_is_made_once_kept_private_pinned_and_reused() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let start = || {
        Daemon::builder()
            .with_workspace()
            .arg("--tls-self-signed")
            .env("OPENWORK_DATA_DIR", &data_dir)
            .start()
    };
    let mut d = start();
    assert!(d.base.starts_with("https://127.0.0.1:"), "{}", d.base);
    let fingerprint = printed_fingerprint(&d);
    let tls_dir = data.path().join("tls");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&tls_dir), 0o700);
    assert_eq!(mode(&tls_dir.join("key.pem")), 0o600);
    assert_eq!(mode(&tls_dir.join("cert.pem")), 0o600);
    assert_eq!(openssl_fingerprint(&tls_dir.join("cert.pem")), fingerprint);
    let names = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(tls_dir.join("cert.pem"))
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&names.stdout);
    assert!(
        names.contains("DNS:localhost") && names.contains("IP Address:127.0.0.1"),
        "{names}"
    );
    let status = d.get("/status").json();
    assert_eq!(status["tls"]["fingerprint"], fingerprint.as_str());
    assert_eq!(status["tls"]["selfSigned"], true);

    // Pinned: trusted. Another pin, or none: refused with exit 7.
    let ok = d
        .ctl_as_host(&["--fingerprint", &fingerprint, "status", "--json"])
        .ok();
    assert_eq!(
        ok.json()["status"]["tls"]["fingerprint"],
        fingerprint.as_str()
    );
    let lower = fingerprint.replace(':', "").to_lowercase();
    d.ctl_as_host(&["--fingerprint", &format!("sha256:{lower}"), "status"])
        .ok();
    let wrong = d.ctl_as_host(&["--fingerprint", &other_than(&fingerprint), "status"]);
    assert_eq!(wrong.code, 7, "{wrong:?}");
    assert!(wrong.stderr.contains("not the pinned"), "{wrong:?}");
    assert!(
        wrong.stderr.contains(&fingerprint),
        "names what it saw: {wrong:?}"
    );
    let unpinned = d.ctl_as_host(&["status"]);
    assert_eq!(unpinned.code, 7, "{unpinned:?}");
    assert!(unpinned.stderr.contains("--fingerprint"), "{unpinned:?}");
    let garbled = d.ctl_as_host(&["--fingerprint", "AB:CD", "status"]);
    assert_eq!(garbled.code, 2, "{garbled:?}");

    // The typed client pins the same way.
    let trust = |pin: &str| Trust {
        pin: Some(pin.parse().unwrap()),
        ..Trust::default()
    };
    let pinned = Client::with_trust(&d.base, Some(TOKEN.into()), None, &trust(&fingerprint));
    pinned.unwrap().health().unwrap();
    let other = Client::with_trust(
        &d.base,
        Some(TOKEN.into()),
        None,
        &trust(&other_than(&fingerprint)),
    );
    assert!(matches!(
        other.unwrap().health(),
        Err(ClientError::Pin { .. })
    ));

    // Kept: a restart serves the same certificate.
    assert!(d.terminate().success());
    let again = start();
    assert_eq!(printed_fingerprint(&again), fingerprint);
    assert_eq!(status_fingerprint(&again), fingerprint);
}

#[test]
fn certificate_files_are_read_again_on_sighup_and_a_saved_pin_holds() {
    let certs = tempfile::tempdir().unwrap();
    let (a_cert, a_key) = self_signed(certs.path(), "a");
    let (b_cert, b_key) = self_signed(certs.path(), "b");
    let (fp_a, fp_b) = (openssl_fingerprint(&a_cert), openssl_fingerprint(&b_cert));
    let live_cert = certs.path().join("live.pem");
    let live_key = certs.path().join("live.key");
    std::fs::copy(&a_cert, &live_cert).unwrap();
    std::fs::copy(&a_key, &live_key).unwrap();
    let d = Daemon::builder()
        .with_workspace()
        .env("OPENWORK_TLS_CERT", &live_cert.display().to_string())
        .env("OPENWORK_TLS_KEY", &live_key.display().to_string())
        .start();
    assert_eq!(printed_fingerprint(&d), fp_a);
    assert_eq!(status_fingerprint(&d), fp_a);

    // `login` saves the pin in the context; later commands use it.
    let login = d.ctl_with(
        &["login", "--fingerprint", &fp_a, "--json"],
        &[
            ("OPENWORK_TOKEN", TOKEN),
            ("OPENWORK_HOST_TOKEN", HOST_TOKEN),
        ],
        "",
    );
    login.ok();
    let saved = || {
        run_isolated(
            &bin("openworkctl"),
            d.root(),
            &["status", "--json"],
            &[],
            "",
        )
    };
    assert_eq!(saved().ok().json()["status"]["tls"]["selfSigned"], false);

    // Swapped on disk, then SIGHUP: new connections get the new one, and
    // the saved pin refuses it.
    std::fs::copy(&b_cert, &live_cert).unwrap();
    std::fs::copy(&b_key, &live_key).unwrap();
    d.hangup("TLS certificate read again", 1);
    assert_eq!(status_fingerprint(&d), fp_b);
    let refused = saved();
    assert_eq!(refused.code, 7, "{refused:?}");
    assert!(
        refused.stdout.contains(&fp_b),
        "--json failures are JSON: {refused:?}"
    );
    run_isolated(
        &bin("openworkctl"),
        d.root(),
        &["--fingerprint", &fp_b, "status"],
        &[],
        "",
    )
    .ok();

    // A certificate that cannot be read is refused; the running one stays.
    std::fs::write(&live_cert, "not a certificate").unwrap();
    d.hangup("TLS certificate not reloaded", 1);
    assert_eq!(status_fingerprint(&d), fp_b);
    assert!(d.output().contains(&live_cert.display().to_string()));
    // So is one that is not a regular file (a FIFO is not waited on).
    openworkd_tests::make_fifo(&live_cert);
    d.hangup("TLS certificate not reloaded", 2);
    assert_eq!(status_fingerprint(&d), fp_b);
}

#[test]
fn a_ca_given_with_ca_is_trusted_and_nothing_else() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_signed(certs.path());
    let config = serde_json::json!({"tls": {"cert": cert, "key": key}});
    let d = Daemon::builder()
        .with_workspace()
        .config(&config.to_string())
        .start();
    assert_eq!(status_fingerprint(&d), openssl_fingerprint(&cert));
    let ca_arg = ca.display().to_string();
    d.ctl_as_host(&["--ca", &ca_arg, "workspaces", "list"]).ok();
    let unknown = d.ctl_as_host(&["workspaces", "list"]);
    assert_eq!(unknown.code, 7, "{unknown:?}");
    assert!(unknown.stderr.contains("--ca"), "{unknown:?}");
    let mut trust = Trust::default();
    trust.add_ca_file(&ca).unwrap();
    let client = Client::with_trust(&d.base, Some(TOKEN.into()), None, &trust).unwrap();
    client.health().unwrap();
}

#[test]
fn tls_settings_that_cannot_work_stop_startup_with_exit_2() {
    let certs = tempfile::tempdir().unwrap();
    let (a_cert, _) = self_signed(certs.path(), "a");
    let (_, b_key) = self_signed(certs.path(), "b");
    let a = a_cert.display().to_string();
    let missing = certs.path().join("missing.pem").display().to_string();
    let b = b_key.display().to_string();
    let cases: [(&[&str], &str); 4] = [
        (&["--tls-cert", &a], "needs its key"),
        (&["--tls-key", &b], "needs its certificate"),
        (&["--tls-cert", &missing, "--tls-key", &b], "missing.pem"),
        (
            &["--tls-cert", &a, "--tls-key", &b],
            "do not make a usable pair",
        ),
    ];
    for (args, says) in cases {
        let out = Command::new(bin("openworkd"))
            .args(["--port", "0", "--workspace", "."])
            .args(args)
            .env("HOME", certs.path())
            .current_dir(certs.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn plain_http_off_loopback_is_warned_about() {
    let off = Daemon::builder().with_workspace().host("0.0.0.0").start();
    assert!(
        off.output().contains("not a loopback address"),
        "{}",
        off.output()
    );
    let tls = Daemon::builder()
        .with_workspace()
        .host("0.0.0.0")
        .arg("--tls-self-signed")
        .start();
    assert!(!tls.output().contains("not a loopback address"));
    let local = Daemon::builder().with_workspace().start();
    assert!(!local.output().contains("not a loopback address"));
}

#[test]
fn a_tls_connection_that_never_starts_its_handshake_is_closed_after_10_s() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let d = Daemon::builder()
        .with_workspace()
        .arg("--tls-self-signed")
        .start();
    let addr = d.base.trim_start_matches("https://").to_owned();
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    silent.read_to_end(&mut got).unwrap();
    let after = started.elapsed();
    assert!(
        after >= Duration::from_secs(9) && after < Duration::from_secs(20),
        "closed after {after:?}"
    );
    assert!(got.is_empty());
    // Others were served meanwhile, and still are.
    assert_eq!(d.get("/health").status, 200);
}
