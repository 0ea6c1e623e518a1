//! `alleato-load`: a load driver for the Alleato server, on loopback only.
//!
//! Each subcommand sets up what it needs through the API (users, chats, streams), runs its
//! load, and prints one JSON line and one human line: requests per second, latency
//! percentiles from an HDR histogram, errors. See `docs/performance.md`.

mod api;
mod client;
mod scenario;
mod stats;
mod upstream;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Any error of the driver.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Load driver for the Alleato server (loopback targets only).
#[derive(Parser)]
#[command(name = "alleato-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// `GET /api/v1/chats` returning 20 chats, by several users.
    List(scenario::list::Options),
    /// `POST /api/v1/chats`.
    Create(scenario::create::Options),
    /// Users each sending messages to their own chat and reading every stream to `[DONE]`.
    Messages(scenario::messages::Options),
    /// Many live followers of `GET /api/v1/streams/{id}`: connect them all, append, check delivery.
    Followers(scenario::followers::Options),
    /// Time to the first token through alleato versus directly from a fake OpenAI-compatible upstream.
    FirstToken(scenario::first_token::Options),
    /// Serve only the fake OpenAI-compatible upstream, until the time is up.
    FakeUpstream(upstream::Options),
    /// Print a free TCP port on 127.0.0.1 (for scripts).
    FreePort,
}

/// Flags every load scenario takes.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// The server, e.g. `http://127.0.0.1:8787` (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    pub base_url: String,
    /// Concurrent connections [default: 64 for list and create, 128 users for messages, 16
    /// appending connections for followers, 1 pair for first-token].
    #[arg(long)]
    pub connections: Option<usize>,
    /// How long to measure, after the warm-up (e.g. `10s`, `500ms`, `1m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// How long to run before measuring.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Send this many requests in all instead of running for a duration (no warm-up then).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Hard limit on the load phase, whatever else is asked.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub max_time: Duration,
    /// Driver threads: 1 runs everything on one thread, the cheapest for the shared CPU.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// The server's process id, to report its memory from /proc/<pid>/status.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// `10s`, `250ms`, `2m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Raises this process's open-file limit to its hard limit.
fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_nofile();
    let threads = match &cli.command {
        Command::List(o) => o.common.threads,
        Command::Create(o) => o.common.threads,
        Command::Messages(o) => o.common.threads,
        Command::Followers(o) => o.common.threads,
        Command::FirstToken(o) => o.common.threads,
        Command::FakeUpstream(_) | Command::FreePort => 1,
    };
    let rt = match runtime(threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alleato-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::List(o) => scenario::list::run(o).await,
            Command::Create(o) => scenario::create::run(o).await,
            Command::Messages(o) => scenario::messages::run(o).await,
            Command::Followers(o) => scenario::followers::run(o).await,
            Command::FirstToken(o) => scenario::first_token::run(o).await,
            Command::FakeUpstream(o) => upstream::serve_for(o).await,
            Command::FreePort => {
                let l = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
                println!("{}", l.local_addr()?.port());
                Ok(true)
            }
        }
    });
    // Connection tasks may still be parked; do not wait for them.
    rt.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("alleato-load: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("x").is_err());
    }
}
