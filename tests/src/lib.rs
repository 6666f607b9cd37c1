//! Test harness: builds the real binaries once, starts `openworkd` on a
//! free loopback port with a temp workspace, HOME, config and data dir, and
//! speaks HTTP to it.

use openwork_shared::client::Client;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "client-token-for-tests";
pub const HOST_TOKEN: &str = "host-token-for-tests";

/// The workspace's binaries, built once per test process with the profile
/// and into the target folder of the running test binary, so
/// `cargo test --release` (or `--target-dir`) tests what it built.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        // <target dir>/<profile dir>/deps/<test binary>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "openworkd", "-p", "openworkctl"])
            .arg("--profile")
            .arg(&profile)
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(root)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        profile_dir
    });
    dir.join(name)
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Host(&'a str),
}

pub struct Builder {
    launcher: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    config: Option<String>,
    approval: &'static str,
    tokens: bool,
    host: &'static str,
}

pub struct Daemon {
    child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub ws_id: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Builder {
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Write this text as the config file (`<tmp>/config/openwork/server.json`).
    pub fn config(mut self, text: &str) -> Self {
        self.config = Some(text.to_owned());
        self
    }

    /// Manual approvals with this timeout.
    pub fn manual(mut self, timeout_ms: u64) -> Self {
        self.approval = "manual";
        self.args.push("--approval-timeout".into());
        self.args.push(timeout_ms.to_string());
        self
    }

    /// Start the daemon through this program: it is run with these
    /// arguments followed by the daemon's path and arguments.
    pub fn launched_by(mut self, command: &[&str]) -> Self {
        self.launcher = command.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Do not pass --approval: the mode comes from the config file or the
    /// environment.
    pub fn approval_from_config(mut self) -> Self {
        self.approval = "";
        self
    }

    /// Do not pass --token/--host-token (let the daemon generate them).
    pub fn without_tokens(mut self) -> Self {
        self.tokens = false;
        self
    }

    /// Listen on this address instead of 127.0.0.1.
    pub fn host(mut self, host: &'static str) -> Self {
        self.host = host;
        self
    }

    /// Add `--workspace <tmp>/ws`.
    pub fn with_workspace(self) -> Self {
        self.arg("--workspace").arg("@ws")
    }

    pub fn start(self) -> Daemon {
        self.try_start().unwrap_or_else(|(out, err)| {
            panic!("openworkd did not start\nstdout: {out}\nstderr: {err}")
        })
    }

    /// Start, or return (stdout, stderr) if the process exited first.
    pub fn try_start(self) -> Result<Daemon, (String, String)> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let workspace = root.join("ws");
        for sub in ["ws", "home", "config/openwork", "data"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let config_path = root.join("config/openwork/server.json");
        if let Some(text) = &self.config {
            std::fs::write(&config_path, text).unwrap();
        }
        let mut cmd = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(bin("openworkd"));
                cmd
            }
            None => Command::new(bin("openworkd")),
        };
        for (key, _) in std::env::vars() {
            if key.starts_with("OPENWORK") || key.starts_with("OPENCODE") {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", root.join("home"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("OPENWORK_DATA_DIR", root.join("data"))
            .args(["--host", self.host, "--port", "0"]);
        if !self.approval.is_empty() {
            cmd.args(["--approval", self.approval]);
        }
        if self.tokens {
            cmd.args(["--token", TOKEN, "--host-token", HOST_TOKEN]);
        }
        for arg in &self.args {
            // `@ws` and `@root` stand for the temp paths.
            let arg = arg
                .replace("@ws", &workspace.display().to_string())
                .replace("@root", &root.display().to_string());
            cmd.arg(arg);
        }
        for (k, v) in &self.env {
            cmd.env(
                k,
                v.replace("@ws", &workspace.display().to_string())
                    .replace("@root", &root.display().to_string()),
            );
        }
        cmd.current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn openworkd");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let err_sink = stderr_lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                err_sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        // Pretty or JSON logs: the URL ends at a quote or space.
                        break rest.split(['"', ' ']).next().unwrap_or_default().to_owned();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if child.try_wait().ok().flatten().is_some() {
                        std::thread::sleep(Duration::from_millis(100));
                        let out = lines.lock().unwrap().join("\n");
                        let err = stderr_lines.lock().unwrap().join("\n");
                        return Err((out, err));
                    }
                }
                _ => {
                    let _ = child.kill();
                    std::thread::sleep(Duration::from_millis(100));
                    let out = lines.lock().unwrap().join("\n");
                    let err = stderr_lines.lock().unwrap().join("\n");
                    return Err((out, err));
                }
            }
        };
        // The workspace count is the last line of the boot output.
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains("Workspaces: ") || line.contains("No workspaces configured") {
                break;
            }
        }
        let ws_id = workspace_id(&workspace);
        Ok(Daemon {
            child,
            base,
            dir,
            workspace,
            ws_id,
            lines,
        })
    }
}

/// A blocking HTTP client builder without proxies. Over TLS it takes any
/// certificate: tests that check certificates use openworkctl or the typed
/// client with a pinned fingerprint.
pub fn client_builder() -> reqwest::blocking::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .no_proxy()
        .tls_danger_accept_invalid_certs(true)
}

/// One shared blocking HTTP client (no proxies, no timeout: approvals wait).
pub fn http() -> &'static reqwest::blocking::Client {
    static HTTP: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    HTTP.get_or_init(|| client_builder().timeout(None).build().unwrap())
}

/// Put a FIFO at `path` (in place of a file already there): opening it
/// to read waits for a writer, which no one ever is.
pub fn make_fifo(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        panic!("{}: {e}", path.display());
    }
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}

/// SHA-256 hex of a string (token hashes).
pub fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The reference's id: `ws_` + 12 hex of SHA-256 of the path.
pub fn workspace_id(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(path.display().to_string().as_bytes());
    format!("ws_{}", &hex::encode(digest)[..12])
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The `code` of an error answer.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

impl Daemon {
    /// A daemon with one workspace, fixed tokens and auto approval.
    pub fn start() -> Daemon {
        Daemon::builder().with_workspace().start()
    }

    pub fn builder() -> Builder {
        Builder {
            launcher: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            config: None,
            approval: "auto",
            tokens: true,
            host: "127.0.0.1",
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory of the daemon so far, in KiB (Linux).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// The typed client with both tokens.
    pub fn client(&self) -> Client {
        Client::new(&self.base, Some(TOKEN.into()), Some(HOST_TOKEN.into())).unwrap()
    }

    /// The typed client with only this bearer token.
    pub fn client_with(&self, token: &str) -> Client {
        Client::new(&self.base, Some(token.into()), None).unwrap()
    }

    /// Everything the daemon printed to stdout so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn request(&self, method: &str, path: &str, auth: Auth, body: Option<&str>) -> Response {
        let header;
        let headers: Vec<(&str, &str)> = match auth {
            Auth::None => vec![],
            Auth::Bearer(t) => {
                header = format!("Bearer {t}");
                vec![("Authorization", header.as_str())]
            }
            Auth::Host(t) => vec![("X-OpenWork-Host-Token", t)],
        };
        self.request_with(method, path, &headers, body)
    }

    /// A request with exactly these headers (a body is sent as JSON).
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = http().request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        let resp = req.send().expect("request failed");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        Response {
            status,
            headers,
            text: resp.text().unwrap_or_default(),
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, Auth::Bearer(TOKEN), None)
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        self.request("POST", path, Auth::Bearer(TOKEN), Some(body))
    }

    pub fn patch(&self, path: &str, body: &str) -> Response {
        self.request("PATCH", path, Auth::Bearer(TOKEN), Some(body))
    }

    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, Auth::Bearer(TOKEN), None)
    }

    /// `/workspace/<id>/<rest>`.
    pub fn ws(&self, rest: &str) -> String {
        format!("/workspace/{}/{}", self.ws_id, rest)
    }

    pub fn write_file(&self, relative: &str, text: &str) {
        let path = self.workspace.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read_file(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.workspace.join(relative)).ok()
    }

    /// Poll until `check` returns Some, or panic after `timeout`.
    pub fn wait_for<T>(&self, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
        wait_for(timeout, &mut check)
    }

    /// Send SIGHUP and wait until `logged` has appeared `nth` times in the
    /// output (the reload, or its refusal, is logged).
    pub fn hangup(&self, logged: &str, nth: usize) {
        Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .unwrap();
        self.wait_for(Duration::from_secs(10), || {
            (self.output().matches(logged).count() >= nth).then_some(())
        });
    }

    /// Kill with SIGKILL (a crash) and wait until the process is gone.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "openworkd did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn wait_for<T>(timeout: Duration, check: &mut dyn FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a CLI run printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self
    }
}

/// Run a command with a clean environment rooted in `root` (HOME, config,
/// runtime dir; no session bus, so no OS keyring), feeding `stdin`.
pub fn run_isolated(
    program: &Path,
    root: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> Run {
    use std::io::Write;
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars() {
        if key.starts_with("OPENWORK") || key.starts_with("OPENCODE") || key.starts_with("DBUS") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", root.join("home"))
        .env("XDG_CONFIG_HOME", root.join("home/.config"))
        .env("XDG_RUNTIME_DIR", root.join("home"))
        .envs(env.iter().copied())
        .args(args)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    let _ = feeder.join();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Daemon {
    /// Run `openworkctl --url <daemon> ARGS` (no tokens unless given).
    pub fn ctl(&self, args: &[&str]) -> Run {
        self.ctl_with(args, &[], "")
    }

    /// `openworkctl` with the client and host tokens in its environment.
    pub fn ctl_as_host(&self, args: &[&str]) -> Run {
        self.ctl_with(
            args,
            &[
                ("OPENWORK_TOKEN", TOKEN),
                ("OPENWORK_HOST_TOKEN", HOST_TOKEN),
            ],
            "",
        )
    }

    pub fn ctl_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
        let mut full = vec!["--url", self.base.as_str()];
        full.extend_from_slice(args);
        run_isolated(&bin("openworkctl"), self.root(), &full, env, stdin)
    }
}

/// An npm test peer installed by `scripts/test` (`$OPENWORKD_PEERS`,
/// default `<repo>/.peers/node_modules`).
pub fn peer_package(package: &str) -> PathBuf {
    let base = std::env::var_os("OPENWORKD_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .join(".peers/node_modules")
        });
    let path = base.join(package);
    assert!(
        path.join("package.json").exists(),
        "{} is missing: run ./scripts/test, which installs the npm package {package}",
        path.display()
    );
    path
}

/// A binary of an npm test peer.
pub fn peer(package: &str, binary: &str) -> PathBuf {
    peer_package(package).join("bin").join(binary)
}

impl Daemon {
    /// Start a write with the client token on another thread (it may wait
    /// for approval); joins to its (status, JSON body).
    pub fn write_in_background(
        &self,
        method: &str,
        path: &str,
        body: &str,
    ) -> std::thread::JoinHandle<(u16, Value)> {
        let url = format!("{}{}", self.base, path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = body.to_owned();
        std::thread::spawn(move || {
            let resp = http()
                .request(method, url)
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json().unwrap_or(Value::Null))
        })
    }

    /// Issue a scoped token with the host token; returns its value.
    pub fn issue_token(&self, scope: &str) -> String {
        let body = format!(r#"{{"scope":"{scope}"}}"#);
        let r = self.request("POST", "/tokens", Auth::Host(HOST_TOKEN), Some(&body));
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["token"].as_str().unwrap().to_owned()
    }

    /// Open `path` as a server-sent event stream (client token); checks the
    /// status and content type, returns the response to read lines from.
    pub fn event_stream(&self, path: &str) -> reqwest::blocking::Response {
        let stream = client_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
            .get(format!("{}{}", self.base, path))
            .bearer_auth(TOKEN)
            .header("Accept", "text/event-stream")
            .send()
            .unwrap();
        assert_eq!(stream.status(), 200);
        let kind = stream.headers()["content-type"].to_str().unwrap();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        stream
    }

    /// Answer the only pending approval with `reply` (host token).
    pub fn reply_to_pending(&self, reply: &str) -> Response {
        let id = self.pending(1)[0]["id"].as_str().unwrap().to_owned();
        let body = serde_json::json!({ "reply": reply }).to_string();
        self.request(
            "POST",
            &format!("/approvals/{id}"),
            Auth::Host(HOST_TOKEN),
            Some(&body),
        )
    }

    /// Wait until exactly `count` approvals are pending; returns them.
    pub fn pending(&self, count: usize) -> Vec<Value> {
        self.wait_for(Duration::from_secs(10), || {
            let items = self
                .request("GET", "/approvals", Auth::Host(HOST_TOKEN), None)
                .json()["items"]
                .as_array()
                .cloned()
                .unwrap();
            (items.len() == count).then_some(items)
        })
    }
}

/// A loopback port nothing listens on (just now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real OpenCode engine (`opencode serve --pure`) in a temp project with
/// its own HOME, password-protected, killed on drop.
pub struct Engine {
    child: Child,
    pub url: String,
    pub password: String,
    pub project: PathBuf,
    _dir: tempfile::TempDir,
}

impl Engine {
    pub const USER: &'static str = "opencode";

    pub fn start() -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("project");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        let port = free_port();
        let password = "engine-password-for-tests".to_owned();
        let mut cmd = Command::new(peer("opencode-linux-x64", "opencode"));
        for (key, _) in std::env::vars() {
            if key.starts_with("OPENCODE") || key.starts_with("XDG_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .args([
                "serve",
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--pure",
            ])
            .env("OPENCODE_SERVER_PASSWORD", &password)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .current_dir(&project)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn opencode");
        let engine = Engine {
            child,
            url: format!("http://127.0.0.1:{port}"),
            password,
            project: project.canonicalize().unwrap(),
            _dir: dir,
        };
        // A request that reaches the engine while it starts can hang: probe
        // with a short timeout and retry.
        let probe = client_builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        wait_for(Duration::from_secs(90), &mut || {
            probe
                .get(format!("{}/config", engine.url))
                .basic_auth(Self::USER, Some(&engine.password))
                .send()
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
                .or_else(|| {
                    std::thread::sleep(Duration::from_millis(200));
                    None
                })
        });
        engine
    }

    /// A direct request to the engine, with its credentials.
    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        http()
            .get(format!("{}{}", self.url, path))
            .basic_auth(Self::USER, Some(&self.password))
            .header("x-opencode-directory", self.project.display().to_string())
            .send()
            .unwrap()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
