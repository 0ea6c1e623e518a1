//! The HTTP server: hyper over this module's own accept loop, so that the limits axum's `serve`
//! does not expose are ours to set. A request head must arrive within the head timeout (which
//! also bounds how long a keep-alive connection may sit idle); connections are capped in total
//! and, optionally, per client address; running out of file descriptors is logged and survived
//! by backing off the accept loop; the listen backlog is 1,024; the soft `nofile` limit is raised
//! to the hard one at start.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alleato_core::signal::Signal;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The listen backlog: bursts of connections wait in the kernel rather than being refused.
pub const BACKLOG: u32 = 1024;

/// File descriptors kept free of connections, for the database, logs and outgoing requests.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The connection limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// How long a client may take to send a request's head, from when the server starts waiting
    /// for it; an idle keep-alive connection is closed after the same time.
    pub head_timeout: Duration,
    /// Connections open at once; more wait in the backlog.
    pub max_connections: usize,
    /// Connections open at once from one client address; `0` for no cap (behind a proxy every
    /// connection comes from the proxy's address).
    pub max_per_address: usize,
}

/// Raises the soft `nofile` limit to the hard limit, and returns the limit now in force (`None`
/// where it cannot be read).
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim = raised;
                } else {
                    tracing::warn!(
                        soft = lim.rlim_cur,
                        hard = lim.rlim_max,
                        "cannot raise the nofile limit"
                    );
                }
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    None
}

/// The default connection cap for a `nofile` limit: what it leaves beyond the reserve.
pub fn default_max_connections(nofile: Option<u64>) -> usize {
    let n = nofile.unwrap_or(1024).saturating_sub(RESERVED_DESCRIPTORS).max(16);
    usize::try_from(n).unwrap_or(usize::MAX).min(1_000_000)
}

/// Binds `addr` with a backlog of [`BACKLOG`].
///
/// # Errors
/// When the address cannot be bound.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `app` on `listener` until `stop` is set, then stops accepting and waits for the open
/// connections to finish (the caller bounds that wait).
pub async fn serve(listener: TcpListener, app: Router, limits: ServeLimits, stop: Signal) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(Mutex::new(HashMap::<IpAddr, usize>::new()));
    let graceful = GracefulShutdown::new();
    // HTTP/1 only: hyper-util's `auto` builder detects HTTP/2 by reading the first bytes before
    // any timer runs, so a connection that sends nothing would be held forever. (HTTP/2 reaches
    // the server through a proxy as HTTP/1, and cleartext HTTP/2 needs prior knowledge anyway.)
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout);
    let mut backoff = Duration::ZERO;
    // Whether the last wait for a permit was logged: one warning per time the cap is reached.
    let mut saturated = false;
    loop {
        let permit = if let Ok(p) = permits.clone().try_acquire_owned() {
            saturated = false;
            p
        } else {
            if !std::mem::replace(&mut saturated, true) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection limit reached; new connections wait in the backlog"
                );
            }
            tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = stop.wait() => break,
            }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.wait() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => {
                backoff = Duration::ZERO;
                a
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                if is_out_of_descriptors(&e) {
                    tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "out of file descriptors; accepting again after a pause");
                } else {
                    tracing::debug!(error = %e, "accept failed");
                }
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let Some(slot) = AddressSlot::take(&per_address, peer.ip(), limits.max_per_address) else {
            tracing::warn!(client = %peer.ip(), max_per_address = limits.max_per_address, "connection shed: too many from one address");
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let conn = builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// One connection's place in its address's count; gives it back when dropped.
struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl AddressSlot {
    fn take(counts: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, max: usize) -> Option<Self> {
        let mut map = counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Self {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}
