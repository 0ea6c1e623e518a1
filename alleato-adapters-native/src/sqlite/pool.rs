//! The store's connections: readers used in place, and one writer that commits the writes of
//! everyone waiting together (group commit).
//!
//! # Why in place, on the calling task's thread
//!
//! A statement on a warm connection takes microseconds. Handing each one to a connection
//! thread and back cost two thread wake-ups, and on the 2-vCPU machine of
//! `docs/performance.md` a wake-up of an idle vCPU costs more than the statement. So a reader
//! is taken from the pool and used right where the caller runs, and the writer's batches run
//! on a tokio task. (One user's send, streamed to its end: 2.0 ms with connection threads and a
//! transaction per write, 0.9 ms with this pool and the use cases' batched writes; median.)
//!
//! # Group commit
//!
//! Every write is a job in one queue. A committer task takes every job waiting and runs them
//! all in one transaction, each job inside a savepoint of its own (a job that fails is rolled
//! back alone), then commits once and answers them all; it goes on while jobs keep coming. One commit writes each
//! changed page once, however many jobs changed it: new messages and stream events of all
//! users land on the same right-most B-tree pages, so under load a batch writes a fraction of
//! the pages one transaction per job would.
//!
//! A job's answer is sent only after its batch commits: nobody sees a write that could still
//! be lost.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use alleato_core::store::StoreError;
use rusqlite::Connection;
use tokio::sync::{Semaphore, oneshot};

use super::store::map_error;

/// Reader connections, lent one at a time to the calling task.
pub(crate) struct Readers {
    idle: Mutex<Vec<Connection>>,
    free: Semaphore,
}

impl Readers {
    pub(crate) fn new(conns: Vec<Connection>) -> Self {
        let n = conns.len();
        Self {
            idle: Mutex::new(conns),
            free: Semaphore::new(n),
        }
    }

    /// Runs `f` on an idle reader, waiting (without blocking the thread) while all are busy.
    /// A panic in `f` is resumed in the caller; the connection goes back to the pool.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        let _permit = self.free.acquire().await.map_err(|_| stopped())?;
        let conn = lock(&self.idle).pop().ok_or_else(stopped)?;
        // A statement interrupted by a panic is reset on its next use, so the connection
        // stays usable.
        let result = catch_unwind(AssertUnwindSafe(|| f(&conn)));
        lock(&self.idle).push(conn);
        result.unwrap_or_else(|panic| resume_unwind(panic))
    }
}

/// What a write job leaves for after its transaction: its outcome, which says whether the
/// job's savepoint is kept.
pub(crate) trait Written: Send + 'static {
    /// Whether the job's changes are to be kept.
    fn succeeded(&self) -> bool;
}

impl<T: Send + 'static> Written for Result<T, StoreError> {
    fn succeeded(&self) -> bool {
        self.is_ok()
    }
}

/// How a write job ended, as its answer learns it once its batch is over.
pub(crate) enum Outcome<W> {
    /// The job ran and its batch committed: what it returned (if that was a failure, the
    /// job's own changes were rolled back, the batch's kept).
    Done(W),
    /// The job panicked; its changes were rolled back.
    Panicked(Box<dyn Any + Send>),
    /// The batch failed: nothing of it was written. Holds what the job returned, when it ran.
    Failed(Option<W>, StoreError),
}

/// A job, type-erased: given the connection (inside the batch's transaction) it runs and
/// returns its answer for later; given `None` it does not run, and answers as failed.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Pending + Send>;

/// A job that ran: whether to keep its savepoint, and its answer, given the batch's outcome.
struct Pending {
    keep: bool,
    answer: Answer,
}

/// Answers a job, given the connection and whether its batch committed.
type Answer = Box<dyn FnOnce(&Connection, Result<(), &StoreError>) + Send>;

/// The single writer connection with its queue of jobs.
pub(crate) struct Writer {
    shared: Arc<WriterShared>,
}

struct WriterShared {
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Whether someone is committing; it takes the queued jobs until it finds none.
    committing: bool,
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Self {
        Self {
            shared: Arc::new(WriterShared {
                conn: Mutex::new(conn),
                queue: Mutex::new(Queue::default()),
            }),
        }
    }

    /// Runs `f` in the next batch's transaction and returns its result once that batch has
    /// committed. An `Err` from `f` rolls back `f`'s changes alone. A panic in `f` is resumed
    /// in the caller.
    ///
    /// `f` runs inside a transaction: it must not begin or end one itself.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        self.submit(f, move |_, outcome| {
            // The caller may have stopped waiting; then nobody needs the answer.
            let _ = answer.send(match outcome {
                Outcome::Done(result) => Ok(result),
                Outcome::Panicked(panic) => Err(panic),
                Outcome::Failed(_, e) => Ok(Err(e)),
            });
        });
        match answered.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(stopped()),
        }
    }

    /// Queues `work` for the next batch, and `then`, to run with its [`Outcome`] once the
    /// batch is over. `then` runs on the writer connection outside any transaction, before the
    /// next batch begins, so the `then`s of successive jobs run in the jobs' order.
    pub(crate) fn submit<W, F, A>(&self, work: F, then: A)
    where
        W: Written,
        F: FnOnce(&Connection) -> W + Send + 'static,
        A: FnOnce(&Connection, Outcome<W>) + Send + 'static,
    {
        let job: Job = Box::new(move |conn| match conn {
            None => Pending {
                keep: false,
                answer: Box::new(move |conn, batch| {
                    let e = batch.err().map_or_else(stopped, copy_error);
                    then(conn, Outcome::Failed(None, e));
                }),
            },
            Some(conn) => match catch_unwind(AssertUnwindSafe(|| work(conn))) {
                Ok(w) => Pending {
                    keep: w.succeeded(),
                    answer: Box::new(move |conn, batch| match batch {
                        Ok(()) => then(conn, Outcome::Done(w)),
                        Err(e) => then(conn, Outcome::Failed(Some(w), copy_error(e))),
                    }),
                },
                Err(panic) => Pending {
                    keep: false,
                    answer: Box::new(move |conn, _| then(conn, Outcome::Panicked(panic))),
                },
            },
        });
        let start = {
            let mut q = lock(&self.shared.queue);
            q.jobs.push(job);
            !std::mem::replace(&mut q.committing, true)
        };
        if start {
            // A task of its own commits, once this one has yielded: whatever this task (and
            // the others running meanwhile) queues before that joins the same batch.
            let mut committer = Committer {
                shared: Arc::clone(&self.shared),
                done: false,
            };
            tokio::spawn(async move {
                while committer.shared.commit_once() {
                    // Lets the tasks this batch answered run (on this thread, where they were
                    // woken) before the next batch, which then gathers what they write next.
                    tokio::task::yield_now().await;
                }
                committer.finished();
            });
        }
    }
}

/// The committing task's hold on the committer role. Should the task end before the queue is
/// empty (its runtime shutting down), the role is given up, so that the next write starts
/// another committer, which takes the jobs left.
struct Committer {
    shared: Arc<WriterShared>,
    done: bool,
}

impl Committer {
    /// The queue was found empty and the role given up by `commit_once`.
    fn finished(&mut self) {
        self.done = true;
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.shared.queue).committing = false;
        }
    }
}

impl WriterShared {
    /// Commits the jobs waiting as one batch. Returns whether more jobs arrived meanwhile (the
    /// caller is then still the committer); otherwise the committer role is given up.
    fn commit_once(&self) -> bool {
        let jobs = std::mem::take(&mut lock(&self.queue).jobs);
        if !jobs.is_empty() {
            // Only the committer takes the connection: the lock is never contended.
            commit_batch(&lock(&self.conn), jobs);
        }
        let mut q = lock(&self.queue);
        q.committing = !q.jobs.is_empty();
        q.committing
    }
}

/// Runs the jobs in one transaction (more when one aborts), commits, and answers them.
fn commit_batch(conn: &Connection, jobs: Vec<Job>) {
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
            let e = map_error(e);
            tracing::warn!(error = %e, jobs = jobs.len(), "cannot begin an SQLite write batch");
            for job in jobs {
                (job(None).answer)(conn, Err(&e));
            }
            return;
        }
        let mut ran = Vec::with_capacity(jobs.len());
        let mut failure = None;
        for job in jobs.by_ref() {
            let (pending, failed) = run_one(conn, job);
            ran.push(pending);
            if let Some(e) = failed {
                // The rest of the jobs get a transaction of their own.
                failure = Some(e);
                break;
            }
        }
        let batch = match failure {
            None => exec(conn, "COMMIT").map_err(map_error),
            Some(e) => Err(e),
        };
        if let Err(e) = &batch {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            tracing::warn!(error = %e, jobs = ran.len(), "an SQLite write batch failed");
        }
        for pending in ran {
            let answer = pending.answer;
            if catch_unwind(AssertUnwindSafe(|| answer(conn, batch.as_ref().map(|_| ())))).is_err() {
                tracing::error!("answering an SQLite write panicked");
            }
        }
    }
}

/// Runs one job inside a savepoint of its own. Returns, besides its answer, the error that
/// ends the whole transaction, if any.
fn run_one(conn: &Connection, job: Job) -> (Pending, Option<StoreError>) {
    if let Err(e) = exec(conn, "SAVEPOINT job") {
        return (job(None), Some(map_error(e)));
    }
    let pending = job(Some(conn));
    let ended = if pending.keep {
        exec(conn, "RELEASE job")
    } else {
        exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
    };
    let failed = match ended {
        Err(e) => Some(map_error(e)),
        // The job's error made SQLite roll back the whole transaction (a full disk, an I/O
        // error): the jobs before it are lost too.
        Ok(()) if conn.is_autocommit() => Some(StoreError::Unavailable(
            "SQLite rolled back a transaction after an error".to_owned(),
        )),
        Ok(()) => None,
    };
    (pending, failed)
}

/// Runs one of the batch's own statements (`BEGIN`, `SAVEPOINT`…) from the connection's
/// statement cache: they run for every job, and are parsed only once.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// The same failure again, for each job of a failed batch: `Unavailable` stays itself, any
/// other becomes a backend error that quotes it.
pub(crate) fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        e => StoreError::Backend {
            adapter: super::ADAPTER,
            source: Box::new(BatchFailed(e.to_string())),
        },
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the write batch failed: {0}")]
struct BatchFailed(String);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each change under these locks is one push, pop or take: a panic cannot leave it half-done.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite connections are closed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .unwrap();
        conn
    }

    fn insert(v: i64) -> impl FnOnce(&Connection) -> Result<usize, StoreError> + Send + 'static {
        move |conn| conn.execute("INSERT INTO t (v) VALUES (?1)", [v]).map_err(map_error)
    }

    fn count(writer: &Writer) -> i64 {
        let conn = lock(&writer.shared.conn);
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_read_reaches_its_caller_and_spares_the_connection() {
        let readers = Arc::new(Readers::new(vec![Connection::open_in_memory().unwrap()]));
        let panicking = {
            let readers = Arc::clone(&readers);
            tokio::spawn(async move { readers.run(|_| -> Result<(), StoreError> { panic!("boom") }).await })
        };
        assert!(panicking.await.unwrap_err().is_panic());
        let one: i64 = readers
            .run(|conn| conn.query_row("SELECT 1", [], |r| r.get(0)).map_err(map_error))
            .await
            .unwrap();
        assert_eq!(one, 1);
    }

    #[tokio::test]
    async fn writes_queued_together_commit_together_and_a_failing_one_rolls_back_alone() {
        let writer = Writer::new(table());
        // Holding the queue as if a commit were under way: the three jobs wait for one batch.
        lock(&writer.shared.queue).committing = true;
        let answers: Vec<_> = [1, 1, 2]
            .into_iter()
            .map(|v| {
                let (tx, rx) = oneshot::channel();
                writer.submit(insert(v), move |_, outcome| {
                    let _ = tx.send(matches!(outcome, Outcome::Done(Ok(1))));
                });
                rx
            })
            .collect();
        assert_eq!(lock(&writer.shared.queue).jobs.len(), 3);
        assert!(!writer.shared.commit_once(), "nothing is left for another batch");
        let mut done = Vec::new();
        for rx in answers {
            done.push(rx.await.unwrap());
        }
        // The duplicate failed on its own; the jobs before and after it were kept.
        assert_eq!(done, [true, false, true]);
        assert_eq!(count(&writer), 2);
    }

    #[tokio::test]
    async fn a_write_leaves_no_transaction_open_and_a_failing_one_changes_nothing() {
        let writer = Writer::new(table());
        writer.run(insert(7)).await.unwrap();
        assert!(lock(&writer.shared.conn).is_autocommit(), "no transaction is left open");
        assert_eq!(count(&writer), 1);
        let err = writer.run(insert(7)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Backend { .. } | StoreError::Conflict(_)),
            "{err}"
        );
        assert_eq!(count(&writer), 1);
    }

    #[test]
    fn jobs_left_by_a_runtime_that_shut_down_are_committed_by_the_next_write() {
        let writer = Arc::new(Writer::new(table()));
        let first = tokio::runtime::Builder::new_current_thread().build().unwrap();
        first.block_on(async {
            // Queued, and its committer spawned but never run: the runtime goes first.
            writer.submit(insert(1), |_, _| {});
        });
        drop(first);
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        second.block_on(async {
            let write = tokio::time::timeout(std::time::Duration::from_secs(10), writer.run(insert(2)));
            write
                .await
                .expect("the write is not stuck behind a committer that died")
                .unwrap();
        });
        assert_eq!(count(&writer), 2, "the left job ran with the new one");
    }

    #[tokio::test]
    async fn a_panicking_write_reaches_its_caller_and_the_writer_goes_on() {
        let writer = Arc::new(Writer::new(table()));
        let panicking = {
            let writer = Arc::clone(&writer);
            tokio::spawn(async move {
                writer
                    .run(|conn| -> Result<(), StoreError> {
                        conn.execute("INSERT INTO t (v) VALUES (1)", []).unwrap();
                        panic!("boom")
                    })
                    .await
            })
        };
        assert!(panicking.await.unwrap_err().is_panic());
        // The panicking job's insert was rolled back with its savepoint.
        assert_eq!(count(&writer), 0);
        writer.run(insert(1)).await.unwrap();
        assert_eq!(count(&writer), 1);
    }

    #[tokio::test]
    async fn a_job_that_ends_the_transaction_fails_its_whole_batch_and_the_rest_go_on() {
        let writer = Writer::new(table());
        lock(&writer.shared.queue).committing = true;
        let first = writer.run(insert(1));
        let rogue = writer.run(|conn| conn.execute_batch("ROLLBACK").map_err(map_error));
        let last = writer.run(insert(3));
        let (first, rogue, last) = {
            let mut first = Box::pin(first);
            let mut rogue = Box::pin(rogue);
            let mut last = Box::pin(last);
            // Queue all three (each `run` queues its job when first polled), then commit.
            let noop = &mut std::task::Context::from_waker(std::task::Waker::noop());
            assert!(first.as_mut().poll(noop).is_pending());
            assert!(rogue.as_mut().poll(noop).is_pending());
            assert!(last.as_mut().poll(noop).is_pending());
            while writer.shared.commit_once() {}
            (first.await, rogue.await, last.await)
        };
        // The first insert was lost with the transaction the rogue job ended, and says so.
        assert!(first.is_err());
        assert!(rogue.is_err());
        // The job after it ran in a transaction of its own.
        last.unwrap();
        assert_eq!(count(&writer), 1);
    }
}
