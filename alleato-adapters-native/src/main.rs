//! The `alleato` server.

use std::process::ExitCode;
use std::time::Duration;

use alleato_adapters_native::config::{Config, StartError, validate, wire};
use alleato_adapters_native::serve;
use alleato_core::messages::MessageStore;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
use tracing_subscriber::EnvFilter;

/// clap's error as one line, naming the environment variable of the argument it is about.
fn unreadable(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let env = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => {
            let long = arg.split_whitespace().next().unwrap_or("").trim_start_matches("--");
            Config::command()
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .and_then(|a| a.get_env())
                .map(|env| env.to_string_lossy().into_owned())
        }
        _ => None,
    };
    match env {
        Some(env) => format!("{env}: {first}"),
        None => first.to_owned(),
    }
}

/// Starts the logs; the filter was checked by `validate`.
fn init_logs(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    limit_retained_heap();
    // Flags and numbers that cannot be read end here: one line naming the setting, status 2.
    let config = match Config::try_parse() {
        Ok(config) => config,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) => {
            eprintln!("alleato: {}", unreadable(&e));
            return ExitCode::from(2);
        }
    };
    // Every other setting is checked before anything is created or bound; a failure is one line
    // naming the setting, and status 2.
    if let Err(e) = validate(&config) {
        eprintln!("alleato: {e}");
        return ExitCode::from(e.exit_code());
    }
    init_logs(&config);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Start(e)) => {
            eprintln!("alleato: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(Failure::Serve(e)) => {
            eprintln!("alleato: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why the server stopped: it could not start, or serving failed.
enum Failure {
    Start(StartError),
    Serve(std::io::Error),
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        Self::Start(e)
    }
}

async fn run(config: Config) -> Result<(), Failure> {
    let nofile = serve::raise_nofile_limit();
    // Bound first: an address in use stops the server before it touches the data directory.
    let listener = serve::bind(config.listen).map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let wired = wire(&config).await?;
    let (cache, durable_cache) = (wired.cache.clone(), wired.durable_cache.clone());
    let (counters, hub) = (wired.counters.clone(), wired.hub.clone());
    let (store, clock) = (wired.store.clone(), wired.state.clock.clone());
    // Expired cache entries, counters and sessions are never read; this bounds the memory and the
    // database room of those never read again.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            cache.purge_expired();
            if let Err(e) = durable_cache.purge_expired().await {
                tracing::warn!(error = %e, "purging expired cache entries failed");
            }
            counters.purge_expired();
            if let Err(e) = hub.purge_expired().await {
                tracing::warn!(error = %e, "purging expired stream logs failed");
            }
            if let Err(e) = store.purge_ended_sessions(clock.now()).await {
                tracing::warn!(error = %e, "purging ended sessions failed");
            }
        }
    });
    let stop = wired.state.shutdown.clone();
    let (messages, answers) = (wired.state.messages.clone(), wired.store.clone());
    // A body that stops arriving holds its connection; natively only (the timer is tokio's).
    let app = alleato_http::router(wired.state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        Duration::from_secs(config.body_timeout_secs),
    ));
    let app = alleato_adapters_native::access_log::with_request_log(app);
    let addr = listener.local_addr().map_err(Failure::Serve)?;
    let limits = serve::ServeLimits {
        head_timeout: Duration::from_secs(config.head_timeout_secs),
        max_connections: match config.max_connections {
            0 => serve::default_max_connections(nofile),
            n => usize::try_from(n).unwrap_or(usize::MAX),
        },
        max_per_address: usize::try_from(config.max_connections_per_address).unwrap_or(usize::MAX),
    };
    tracing::info!(%addr, data_dir = %config.data_dir.display(), nofile, max_connections = limits.max_connections, "alleato listening on http://{addr}");
    let mut server = tokio::spawn(serve::serve(listener, app, limits, stop.clone()));
    tokio::select! {
        served = &mut server => {
            served.map_err(|e| Failure::Serve(std::io::Error::other(e)))?;
            return Ok(());
        }
        () = shutdown_signal() => {}
    }
    // Stops accepting, and ends every event stream being served with `: shutting down` and
    // `[DONE]`: their clients resume elsewhere. The generations go on, into storage.
    stop.set();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.drain_seconds);
    tracing::info!(drain_seconds = config.drain_seconds, "shutting down: draining");
    match tokio::time::timeout_at(deadline, &mut server).await {
        Ok(served) => served.map_err(|e| Failure::Serve(std::io::Error::other(e)))?,
        Err(_) => tracing::warn!("connections still open at the drain deadline are dropped"),
    }
    // Running answers get until the deadline to finish; what still runs then is saved as
    // `error` with the text it has, and its stream closed.
    loop {
        match answers.streaming_messages().await {
            Ok(running) if running.is_empty() => break,
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(running) => {
                tracing::warn!(
                    running = running.len(),
                    "answers still running at the drain deadline are saved as failed"
                );
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the running answers");
                break;
            }
        }
    }
    match messages.recover_interrupted().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(answers = n, "interrupted answers saved with their partial text"),
        Err(e) => tracing::warn!(error = %e, "saving the interrupted answers failed"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Argon2id hashes with 19 MiB blocks. glibc serves allocations of that size from mmap only
/// above a threshold it raises as it goes, after which freed blocks stay in the heap: a few
/// dozen logins grew the server by a gigabyte. A fixed threshold returns them at once.
fn limit_retained_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters, and glibc documents it as MT-Safe.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
