//! Running under a service manager: readiness over the notify socket,
//! SIGHUP does not stop the daemon, SIGTERM stops it cleanly.

use openworkd_tests::{Auth, Daemon};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

#[test]
fn readiness_and_signals_as_a_service_manager_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut d = Daemon::builder()
        .with_workspace()
        .env("NOTIFY_SOCKET", &socket_path.display().to_string())
        .start();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 on the notify socket");
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "READY=1");
    // Ready means serving.
    assert_eq!(d.request("GET", "/health", Auth::None, None).status, 200);

    Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap();
    d.wait_for(Duration::from_secs(10), || {
        d.output().contains("SIGHUP received").then_some(())
    });
    assert_eq!(d.request("GET", "/health", Auth::None, None).status, 200);

    let status = d.terminate();
    assert!(status.success(), "{status:?}");
    let n = socket
        .recv(&mut buf)
        .expect("STOPPING=1 on the notify socket");
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "STOPPING=1");
}
