//! A fixed set of connections, each used by one blocking thread at a time.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use alleato_core::store::StoreError;
use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections handed out to `spawn_blocking` closures.
///
/// A caller first waits (asynchronously) for a permit, so that there is always an idle
/// connection once it has one; the connection then travels to a blocking thread inside a
/// [`Lease`], which puts it back when dropped, even if the closure panics or the caller's
/// future is dropped while the statement still runs.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Shared {
    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // The vector is only pushed to and popped from: a panic elsewhere cannot leave it
        // inconsistent.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Lease {
    conn: Option<Connection>,
    shared: Arc<Shared>,
    // Released after `drop` has put the connection back (fields drop after `Drop::drop`).
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.idle().push(conn);
        }
    }
}

impl Pool {
    /// A pool of these connections.
    pub(crate) fn new(conns: Vec<Connection>) -> Self {
        let permits = Arc::new(Semaphore::new(conns.len()));
        Self {
            shared: Arc::new(Shared {
                idle: Mutex::new(conns),
                permits,
            }),
        }
    }

    /// Runs `f` with a connection of the pool on a blocking thread, waiting for one to be free.
    ///
    /// A panic in `f` is resumed in the caller.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.shared.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite pool is closed".to_owned()))?;
        let Some(conn) = self.shared.idle().pop() else {
            return Err(StoreError::Unavailable("no idle SQLite connection".to_owned()));
        };
        let lease = Lease {
            conn: Some(conn),
            shared: Arc::clone(&self.shared),
            _permit: permit,
        };
        let task = tokio::task::spawn_blocking(move || {
            let mut lease = lease;
            match lease.conn.as_mut() {
                Some(conn) => f(conn),
                None => Err(StoreError::Unavailable("no idle SQLite connection".to_owned())),
            }
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Unavailable("the runtime is shutting down".to_owned())),
        }
    }
}
