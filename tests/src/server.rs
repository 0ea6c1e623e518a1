//! Finding or starting the server under test.
//!
//! One server is shared by all the tests of a test binary. Each `#[tokio::test]` runs on its own
//! runtime, so the shared server is a plain `std::process::Child` (no runtime owns it) and every
//! test makes its own HTTP client. Statics are never dropped, so the shared child is killed by an
//! `atexit` hook; servers that a test starts for itself are killed when dropped.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::api::Api;

/// The secret the harness gives the servers it starts (64 characters).
pub const TEST_JWT_SECRET: &str = "contract-suite-hs256-secret-0123456789abcdefghijklmnopqrstuvwxyz";

/// The one origin the servers under test allow for CORS.
pub const ALLOWED_ORIGIN: &str = "https://app.example.com";

/// How long a server may take to answer `GET /health` with `200`: the Worker's start applies the
/// migrations to a fresh local D1 and starts wrangler and workerd, a few seconds each on a busy
/// machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// Which runtime serves the API under test: `ALLEATO_RUNTIME`, `native` by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// The `alleato` release binary.
    Native,
    /// The Worker in workerd, started through `scripts/worker`.
    Cloudflare,
}

impl Runtime {
    /// From `ALLEATO_RUNTIME` (`native` when unset).
    ///
    /// # Panics
    /// On any other value, so that a typo never tests the wrong runtime.
    pub fn from_env() -> Self {
        match std::env::var("ALLEATO_RUNTIME").as_deref().map(str::trim) {
            Err(_) | Ok("" | "native") => Self::Native,
            Ok("cloudflare") => Self::Cloudflare,
            Ok(other) => panic!("ALLEATO_RUNTIME={other}: expected `native` or `cloudflare`"),
        }
    }

    /// `native` or `cloudflare`, as `/health` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Cloudflare => "cloudflare",
        }
    }

    /// What this runtime cannot do yet. Each gap is listed in the README ("Runtime gaps"); a test
    /// that needs one asks [`Api::supports`](crate::Api::supports), which records the gate.
    pub fn lacks(self) -> &'static [Capability] {
        match self {
            Self::Native => &[],
            Self::Cloudflare => &[
                Capability::RestartRecovery,
                Capability::NativeProcess,
                Capability::Compression,
                Capability::GracefulShutdown,
                Capability::ConnectionTimeouts,
                Capability::RequestLog,
            ],
        }
    }
}

/// A capability some tests need and some runtimes lack, named so that every gate is declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// After the server is killed mid-answer and started again on the same data, the cut-off
    /// answer is marked `error` and its stream ended. Needs a start-up hook, which a Worker has
    /// not: on Cloudflare this waits for generations in Durable Objects (their alarms).
    RestartRecovery,
    /// Running the `alleato` binary itself with settings of the test's own: its start-up checks
    /// of the configuration, and the trust in proxies' forwarding headers that only a server
    /// reached through a socket has (the Worker takes the client's address from Cloudflare).
    NativeProcess,
    /// Answers compressed by the server itself (gzip, brotli). On Cloudflare the edge
    /// compresses; the Worker leaves bodies as they are.
    Compression,
    /// On SIGTERM the server ends its event streams with `[DONE]`, drains running answers and
    /// exits 0. A Worker has no process of its own to signal.
    GracefulShutdown,
    /// The server's own connection settings (`ALLEATO_HEAD_TIMEOUT_SECS`…): a Worker's
    /// connections are Cloudflare's front end's.
    ConnectionTimeouts,
    /// One log line per request in the server's own output. The Worker's requests are logged by
    /// Cloudflare.
    RequestLog,
}

impl Capability {
    /// The capability's name in gate lines and the README.
    pub fn name(self) -> &'static str {
        match self {
            Self::RestartRecovery => "restart-recovery",
            Self::NativeProcess => "native-process",
            Self::Compression => "compression",
            Self::GracefulShutdown => "graceful-shutdown",
            Self::ConnectionTimeouts => "connection-timeouts",
            Self::RequestLog => "request-log",
        }
    }
}

/// What the suite may do with the server it targets.
///
/// Tests that need more than a target allows ask for it through [`Api::own_server`],
/// [`Api::jwt_secret`] or [`Api::supports`], which record the gate; they never test the target's
/// kind themselves.
///
/// [`Api::own_server`]: crate::Api::own_server
/// [`Api::jwt_secret`]: crate::Api::jwt_secret
/// [`Api::supports`]: crate::Api::supports
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// The runtime under test.
    pub runtime: Runtime,
    /// Whether tests may start servers of their own with special settings. False when the suite
    /// targets an external `ALLEATO_BASE_URL`.
    pub own_servers: bool,
    /// The secret the server signs access tokens with, when known.
    pub jwt_secret: Option<String>,
}

/// Records that `test` did not run its checks because the target lacks `what`: printed, and
/// appended to the file named by `ALLEATO_GATE_LOG` so that a runner can count the gates.
pub(crate) fn record_gate(test: &str, runtime: Runtime, what: &str) {
    let line = format!("gated\t{}\t{what}\t{test}", runtime.name());
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("ALLEATO_GATE_LOG").filter(|p| !p.is_empty()) {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            panic!("cannot record the gate in {}: {e}", PathBuf::from(path).display());
        }
    }
}

struct Shared {
    base_url: String,
    capabilities: Capabilities,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
static SHARED_PROCESS: Mutex<Option<ServerProcess>> = Mutex::new(None);

extern "C" fn kill_shared_server() {
    let process = match SHARED_PROCESS.lock() {
        Ok(mut guard) => guard.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    drop(process);
}

/// The shared target: `ALLEATO_BASE_URL` when set, else the release binary started once.
///
/// # Panics
/// When the binary is missing or does not become healthy; every test of the binary then fails
/// with the same message.
pub(crate) fn shared() -> (String, Capabilities) {
    let shared = SHARED.get_or_init(|| {
        if let Some(base_url) = external_base_url() {
            return Ok(Shared {
                base_url,
                capabilities: Capabilities {
                    runtime: Runtime::from_env(),
                    own_servers: false,
                    jwt_secret: std::env::var("ALLEATO_TEST_JWT_SECRET").ok().filter(|s| !s.is_empty()),
                },
            });
        }
        let process = ServerProcess::start(&[])?;
        let base_url = process.base_url.clone();
        *SHARED_PROCESS.lock().unwrap_or_else(|e| e.into_inner()) = Some(process);
        // SAFETY: registering a plain `extern "C" fn` with no captured state.
        unsafe {
            libc::atexit(kill_shared_server);
        }
        Ok(Shared {
            base_url,
            capabilities: local_capabilities(),
        })
    });
    match shared {
        Ok(s) => (s.base_url.clone(), s.capabilities.clone()),
        Err(message) => panic!("{message}"),
    }
}

fn external_base_url() -> Option<String> {
    let url = std::env::var("ALLEATO_BASE_URL").ok()?;
    let url = url.trim().trim_end_matches('/');
    (!url.is_empty()).then(|| url.to_owned())
}

fn local_capabilities() -> Capabilities {
    Capabilities {
        runtime: Runtime::from_env(),
        own_servers: true,
        jwt_secret: Some(TEST_JWT_SECRET.to_owned()),
    }
}

/// A server started for one test with special settings; killed when dropped.
pub struct OwnServer {
    process: ServerProcess,
}

impl OwnServer {
    pub(crate) fn start(extra_env: &[(&str, &str)]) -> Self {
        match ServerProcess::start(extra_env) {
            Ok(process) => Self { process },
            Err(message) => panic!("{message}"),
        }
    }

    /// A client for this server.
    pub fn api(&self) -> Api {
        Api::new(self.process.base_url.clone(), local_capabilities())
    }

    /// Sends `SIGTERM` to the server (the process itself, not its group), as a service manager
    /// stopping it would.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.process.child.id()).expect("a pid fits pid_t");
        // SAFETY: signalling our own child, which is not reaped before `wait_exit` or drop.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }

    /// Waits up to `timeout` for the server to exit; its exit status, or `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.process.child.try_wait() {
                Ok(Some(status)) => {
                    self.process.killed = true;
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }

    /// The server's `host:port`.
    pub fn addr(&self) -> SocketAddr {
        self.process
            .base_url
            .trim_start_matches("http://")
            .parse()
            .expect("the base URL of a started server is http://<ip>:<port>")
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        read_log(&self.process.log_path)
    }

    /// Kills the server with `SIGKILL`, as a crash would: no graceful shutdown. To start it again
    /// on the same data, start both with the same `ALLEATO_DATA_DIR` in their settings.
    pub fn crash(mut self) {
        self.process.kill_group();
    }
}

/// How a run of the `alleato` binary that was expected to stop at once ended.
#[derive(Debug)]
pub struct BinaryRun {
    /// The exit status, `None` when it was still running after the timeout (then killed).
    pub code: Option<i32>,
    /// What it printed on stderr.
    pub stderr: String,
    /// What it printed on stdout.
    pub stdout: String,
    /// Whether it created anything in its (empty, not yet existing) data directory.
    pub wrote_data: bool,
}

/// Runs the release binary with only `env` (and a data directory that does not exist yet),
/// waiting up to ten seconds for it to exit.
pub(crate) fn run_binary(env: &[(&str, &str)]) -> Result<BinaryRun, String> {
    let bin = binary_path()?;
    let dir = tempfile::Builder::new()
        .prefix("alleato-binary-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let data_dir = dir.path().join("data");
    let mut command = Command::new(&bin);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ALLEATO_") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(dir.path())
        .env("ALLEATO_DATA_DIR", &data_dir)
        .env("ALLEATO_LISTEN", "127.0.0.1:0");
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut stderr = String::new();
    let mut stdout = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    let wrote_data = data_dir.exists();
    Ok(BinaryRun {
        code,
        stderr,
        stdout,
        wrote_data,
    })
}

/// A running server (the `alleato` binary, or `scripts/worker` with wrangler and workerd) in a
/// process group of its own, with its temporary directory.
struct ServerProcess {
    child: Child,
    base_url: String,
    log_path: PathBuf,
    killed: bool,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    _dir: TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// How a server of the runtime under test is started.
enum Launcher {
    /// The release binary at this path.
    Native(PathBuf),
    /// `scripts/worker` serving the prebuilt Worker.
    Cloudflare(PathBuf),
}

impl Launcher {
    fn for_runtime(runtime: Runtime) -> Result<Self, String> {
        match runtime {
            Runtime::Native => binary_path().map(Self::Native),
            Runtime::Cloudflare => {
                let script = workspace_dir().join("scripts").join("worker");
                if script.is_file() {
                    Ok(Self::Cloudflare(script))
                } else {
                    Err(format!("{} is missing", script.display()))
                }
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Native(bin) => bin.display().to_string(),
            Self::Cloudflare(script) => format!("the Worker ({})", script.display()),
        }
    }

    /// The command serving on `port` with its data in `data_dir`.
    fn command(&self, port: u16, data_dir: &std::path::Path) -> Command {
        match self {
            Self::Native(bin) => {
                let mut command = Command::new(bin);
                command
                    .env("ALLEATO_LISTEN", format!("127.0.0.1:{port}"))
                    .env("ALLEATO_DATA_DIR", data_dir);
                command
            }
            Self::Cloudflare(script) => {
                let mut command = Command::new("bash");
                command
                    .arg(script)
                    .arg("--no-build")
                    .arg("--port")
                    .arg(port.to_string())
                    .arg("--state")
                    .arg(data_dir);
                command
            }
        }
    }
}

fn binary_path() -> Result<PathBuf, String> {
    let path = match std::env::var_os("ALLEATO_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_dir().join("target").join("release").join("alleato"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the server binary {} is missing: run `cargo build --release --bin alleato` first \
             (or set ALLEATO_BIN, or ALLEATO_BASE_URL to test a running server)",
            path.display()
        ))
    }
}

fn workspace_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.join(".."), PathBuf::from)
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the free port: {e}"))
}

impl ServerProcess {
    fn start(extra_env: &[(&str, &str)]) -> Result<Self, String> {
        let bin = Launcher::for_runtime(Runtime::from_env())?;
        // The free port is released before the server binds it, so another process may take it
        // in between: start again on a new port when the server dies early.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::start_once(&bin, extra_env) {
                Ok(process) => return Ok(process),
                Err(StartError::Exited(message)) => last_error = message,
                Err(StartError::Fatal(message)) => return Err(message),
            }
        }
        Err(last_error)
    }

    fn start_once(bin: &Launcher, extra_env: &[(&str, &str)]) -> Result<Self, StartError> {
        let port = free_port().map_err(StartError::Fatal)?;
        let dir = tempfile::Builder::new()
            .prefix("alleato-contract-")
            .tempdir()
            .map_err(|e| StartError::Fatal(format!("cannot create a temporary directory: {e}")))?;
        // A test that restarts a server on the same data names the directory itself.
        let data_dir = match extra_env.iter().find(|(k, _)| *k == "ALLEATO_DATA_DIR") {
            Some((_, dir)) => PathBuf::from(dir),
            None => dir.path().join("data"),
        };
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| StartError::Fatal(format!("cannot create the data dir: {e}")))?;
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path).map_err(|e| StartError::Fatal(format!("cannot create the log: {e}")))?;
        let log_err = log
            .try_clone()
            .map_err(|e| StartError::Fatal(format!("cannot clone the log: {e}")))?;

        let mut command = bin.command(port, &data_dir);
        // Only the settings below, whatever the developer's shell exports.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ALLEATO_") {
                command.env_remove(key);
            }
        }
        // Its own process group, so that the whole of it (wrangler and workerd too) is killed.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .env("ALLEATO_JWT_SECRET", TEST_JWT_SECRET)
            .env("ALLEATO_RATE_LIMIT_PER_MINUTE", "1000000")
            .env("ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE", "1000000")
            .env("ALLEATO_CORS_ORIGINS", ALLOWED_ORIGIN)
            .env("ALLEATO_LOG", "warn");
        for (key, value) in extra_env {
            if *key != "ALLEATO_DATA_DIR" {
                command.env(key, value);
            }
        }
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let child = command
            .spawn()
            .map_err(|e| StartError::Fatal(format!("cannot start {}: {e}", bin.name())))?;
        let mut process = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log_path: log_path.clone(),
            killed: false,
            _dir: dir,
        };

        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(StartError::Exited(format!(
                    "the server {} exited with {status} before becoming healthy; its output:\n{}",
                    bin.name(),
                    read_log(&log_path)
                )));
            }
            if health_is_ok(addr) {
                return Ok(process);
            }
            if Instant::now() > deadline {
                process.kill_group();
                return Err(StartError::Fatal(format!(
                    "the server {} did not answer GET /health with 200 within {}s; its output:\n{}",
                    bin.name(),
                    STARTUP_TIMEOUT.as_secs(),
                    read_log(&log_path)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl ServerProcess {
    /// Kills the whole process group with `SIGKILL`, as a crash would, and reaps the child.
    fn kill_group(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: signalling the process group our child leads (`process_group(0)`); the child is
        // not reaped before the `wait` below, so its pid, and so the group id, still names it.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

enum StartError {
    /// The child died: maybe its port was taken, worth another try.
    Exited(String),
    Fatal(String),
}

fn read_log(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// A bare HTTP/1.1 request, so that polling needs no async runtime.
fn health_is_ok(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    // `HTTP/1.x 200`
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && head.ends_with(b" 200")
}
