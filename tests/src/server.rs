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

/// How long a server may take to answer `GET /health` with `200`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What the suite may do with the server it targets.
///
/// Tests that need more than a target allows ask for it through [`Api::own_server`] or
/// [`Api::jwt_secret`], which print why they skip; they never test the target's kind themselves.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// Whether tests may start servers of their own with special settings. False when the suite
    /// targets an external `ALLEATO_BASE_URL`.
    pub own_servers: bool,
    /// The secret the server signs access tokens with, when known.
    pub jwt_secret: Option<String>,
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

    /// Kills the server with `SIGKILL`, as a crash would: no graceful shutdown. To start it again
    /// on the same data, start both with the same `ALLEATO_DATA_DIR` in their settings.
    pub fn crash(mut self) {
        let pid = libc::pid_t::try_from(self.process.child.id()).expect("a pid fits pid_t");
        // SAFETY: signalling our own child, which cannot have been reaped before the `wait` below,
        // so the pid still names it.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let _ = self.process.child.wait();
    }
}

/// A running `alleato` child process with its temporary data directory.
struct ServerProcess {
    child: Child,
    base_url: String,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    _dir: TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        let bin = binary_path()?;
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

    fn start_once(bin: &PathBuf, extra_env: &[(&str, &str)]) -> Result<Self, StartError> {
        let port = free_port().map_err(StartError::Fatal)?;
        let dir = tempfile::Builder::new()
            .prefix("alleato-contract-")
            .tempdir()
            .map_err(|e| StartError::Fatal(format!("cannot create a temporary directory: {e}")))?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir(&data_dir).map_err(|e| StartError::Fatal(format!("cannot create the data dir: {e}")))?;
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path).map_err(|e| StartError::Fatal(format!("cannot create the log: {e}")))?;
        let log_err = log
            .try_clone()
            .map_err(|e| StartError::Fatal(format!("cannot clone the log: {e}")))?;

        let mut command = Command::new(bin);
        // Only the settings below, whatever the developer's shell exports.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ALLEATO_") {
                command.env_remove(key);
            }
        }
        command
            .env("ALLEATO_LISTEN", format!("127.0.0.1:{port}"))
            .env("ALLEATO_DATA_DIR", &data_dir)
            .env("ALLEATO_JWT_SECRET", TEST_JWT_SECRET)
            .env("ALLEATO_RATE_LIMIT_PER_MINUTE", "1000000")
            .env("ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE", "1000000")
            .env("ALLEATO_CORS_ORIGINS", ALLOWED_ORIGIN)
            .env("ALLEATO_LOG", "warn");
        for (key, value) in extra_env {
            command.env(key, value);
        }
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let child = command
            .spawn()
            .map_err(|e| StartError::Fatal(format!("cannot start {}: {e}", bin.display())))?;
        let mut process = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };

        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(StartError::Exited(format!(
                    "the server {} exited with {status} before becoming healthy; its output:\n{}",
                    bin.display(),
                    read_log(&log_path)
                )));
            }
            if health_is_ok(addr) {
                return Ok(process);
            }
            if Instant::now() > deadline {
                let _ = process.child.kill();
                let _ = process.child.wait();
                return Err(StartError::Fatal(format!(
                    "the server {} did not answer GET /health with 200 within {}s; its output:\n{}",
                    bin.display(),
                    STARTUP_TIMEOUT.as_secs(),
                    read_log(&log_path)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
