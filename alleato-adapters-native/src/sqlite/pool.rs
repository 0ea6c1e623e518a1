//! Connections owned by dedicated threads, fed from one job queue.
//!
//! Each connection lives on its own OS thread for its whole life, so no rusqlite call ever runs
//! on a tokio worker. Callers push a job onto a shared queue and await its answer; a thread that
//! finishes a job takes the next one at once, so under load a query costs no thread wake-up
//! (handing each query to `spawn_blocking` instead costs a wake-up or two and measured about a
//! third slower on two cores).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use alleato_core::store::StoreError;
use crossbeam_channel::{Sender, unbounded};
use rusqlite::Connection;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A set of connections, each served by its own thread. Dropping the pool lets the threads
/// finish the queued jobs, close their connections and exit.
pub(crate) struct Pool {
    jobs: Sender<Job>,
}

impl Pool {
    /// Starts one thread per connection, named `{name}-{n}`.
    ///
    /// # Errors
    /// When a thread cannot be started; those already started then stop.
    pub(crate) fn new(name: &str, conns: Vec<Connection>) -> std::io::Result<Self> {
        let (jobs, queue) = unbounded::<Job>();
        for (n, mut conn) in conns.into_iter().enumerate() {
            let queue = queue.clone();
            std::thread::Builder::new().name(format!("{name}-{n}")).spawn(move || {
                // Ends when every sender is gone and the queue is empty.
                for job in queue {
                    job(&mut conn);
                }
            })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` with one of the pool's connections on that connection's thread.
    ///
    /// Queueing never blocks. If the caller stops waiting, `f` still runs to its end. A panic in
    /// `f` is resumed in the caller; the thread survives it.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<Result<T, StoreError>, Box<dyn Any + Send>>>();
        let job: Job = Box::new(move |conn| {
            // A statement interrupted by a panic is reset on its next use and an open
            // transaction rolls back on drop, so the connection stays usable.
            let result = catch_unwind(AssertUnwindSafe(|| f(conn)));
            // The caller may have stopped waiting; then nobody needs the answer.
            let _ = answer.send(result);
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        match answered.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(stopped()),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite connection threads have stopped".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_job_reaches_its_caller_and_spares_the_thread() {
        let pool = std::sync::Arc::new(Pool::new("test", vec![Connection::open_in_memory().unwrap()]).unwrap());
        let panicking = {
            let pool = std::sync::Arc::clone(&pool);
            tokio::spawn(async move { pool.run(|_| -> Result<(), StoreError> { panic!("boom") }).await })
        };
        assert!(panicking.await.unwrap_err().is_panic());
        let one: i64 = pool
            .run(|conn| {
                conn.query_row("SELECT 1", [], |r| r.get(0))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .await
            .unwrap();
        assert_eq!(one, 1);
    }
}
