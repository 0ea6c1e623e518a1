//! The [`StreamHub`] port on SQLite: the core's in-process fan-out ([`EventLog`]) for live
//! streams, with every change written to the database before anyone sees it.
//!
//! # Group commit
//!
//! Every change (create, append, close, delete) is a job in one queue. One job of the store's
//! writer at a time takes every change waiting and writes them all inside the writer's batch
//! transaction (with the store's own writes of the moment); once that batch commits it applies
//! them to the in-memory logs (which wakes the followers) and answers their callers, and
//! queues the next such job if changes arrived meanwhile. So an `append` returns once its event
//! is durable, and under load one commit carries the appends of every concurrent generation
//! instead of one transaction each.
//!
//! The committer is the only writer of streams, and it assigns sequence numbers itself, from
//! what the batch has written so far: a failed batch leaves neither gaps nor events that
//! followers saw but the database lost.
//!
//! # Memory
//!
//! Open streams live in memory ([`EventLog`]s), loaded from the database when first used after
//! a restart. A closed stream leaves memory at once (followers already reading it keep their
//! copy until they finish); following it later replays it from the database.
//! [`SqliteStreamHub::purge_expired`] also lets go of open streams that nobody has followed or
//! written for an hour: they load again on their next use.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use alleato_core::id::{ChatId, UserId};
use alleato_core::ports::Clock;
use alleato_core::store::StoreError;
use alleato_core::streams::{
    EventLog, EventStream, LOG_RETENTION, StreamError, StreamEvent, StreamHub, StreamId, StreamMeta, StreamStatus,
};
use alleato_core::time::Timestamp;
use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, Row, params};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::pool::{Outcome, Written, copy_error};
use super::store::{UuidText, corrupt, integer, map_error, optional_text, query_one, text, uuid};
use alleato_sql as sql;

use super::{ADAPTER, SqliteStore};

/// How many closed streams one purge statement deletes at most.
const PURGE_CHUNK: i64 = 256;

/// How long an open stream that nobody follows stays in memory without appends.
const IDLE_IN_MEMORY: Duration = Duration::from_secs(60 * 60);

/// Stream logs in SQLite with live followers in memory: a [`StreamHub`] whose logs survive a
/// restart.
///
/// It shares the [`SqliteStore`]'s database file and connections (the `streams` and
/// `stream_events` tables of `migrations/0002_streams.sql`): streams belong to users and chats,
/// and go with them when they are deleted. Cloning is cheap and shares the hub. Make one per
/// process: two hubs on one file would each believe they are the only writer of a stream.
///
/// At start-up, [`open_streams`](Self::open_streams) lists the streams a crash left open, for
/// the server to close; [`purge_expired`](Self::purge_expired), called now and then, deletes
/// the logs closed more than 24 hours ago.
///
/// Its methods need a tokio runtime.
#[derive(Clone)]
pub struct SqliteStreamHub {
    shared: Arc<Shared>,
    retention: Duration,
}

struct Shared {
    store: SqliteStore,
    clock: Arc<dyn Clock>,
    /// The open streams in memory.
    live: Mutex<HashMap<StreamId, Arc<Live>>>,
    queue: Mutex<Queue>,
}

/// An open stream in memory.
struct Live {
    meta: StreamMeta,
    log: Arc<EventLog>,
    /// When it was last appended to or followed, in milliseconds.
    used_at: AtomicI64,
}

impl Live {
    fn new(meta: StreamMeta, log: EventLog, now: Timestamp) -> Arc<Self> {
        Arc::new(Self {
            meta,
            log: Arc::new(log),
            used_at: AtomicI64::new(now.as_millis()),
        })
    }

    fn touch(&self, now: Timestamp) {
        self.used_at.fetch_max(now.as_millis(), Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Whether a committer is running; it takes the jobs queued until it finds none.
    committing: bool,
}

/// A change waiting for the next commit, with where to send its answer.
enum Job {
    Create {
        meta: StreamMeta,
        done: oneshot::Sender<Result<(), StreamError>>,
    },
    /// A batch of events, written together.
    Append {
        id: StreamId,
        data: Vec<String>,
        done: oneshot::Sender<Result<u64, StreamError>>,
    },
    Close {
        id: StreamId,
        done: oneshot::Sender<Result<(), StreamError>>,
    },
    Delete {
        id: StreamId,
        done: oneshot::Sender<Result<(), StreamError>>,
    },
    /// Loads an open stream that is not in memory (after a restart), to follow it live.
    Attach {
        id: StreamId,
        done: oneshot::Sender<Result<Arc<EventLog>, StreamError>>,
    },
}

impl Job {
    fn id(&self) -> StreamId {
        match self {
            Self::Create { meta, .. } => meta.id,
            Self::Append { id, .. } | Self::Close { id, .. } | Self::Delete { id, .. } | Self::Attach { id, .. } => *id,
        }
    }

    /// Answers the job with `e`. (Here and below, a caller that stopped waiting needs no
    /// answer: a failed `send` is ignored.)
    fn fail(self, e: StreamError) {
        match self {
            Self::Create { done, .. } | Self::Close { done, .. } | Self::Delete { done, .. } => {
                let _ = done.send(Err(e));
            }
            Self::Append { done, .. } => {
                let _ = done.send(Err(e));
            }
            Self::Attach { done, .. } => {
                let _ = done.send(Err(e));
            }
        }
    }
}

/// What a job did in the transaction, to apply to memory once it commits.
enum Effect {
    /// Nothing to apply (closing a closed stream).
    Nothing,
    Created(StreamMeta),
    /// The batch's first sequence number.
    Appended(u64),
    Closed,
    Deleted,
    Attach,
    /// The stream's row is gone, deleted with its user or chat: drop it and answer `NotFound`.
    Vanished,
}

/// A batch of changes as the writer ran it.
struct Batch {
    jobs: Vec<Job>,
    effects: Result<Vec<Result<Effect, StreamError>>, StoreError>,
    now: Timestamp,
}

impl Written for Batch {
    fn succeeded(&self) -> bool {
        self.effects.is_ok()
    }
}

/// A stream as the batch sees it, its own uncommitted changes included.
#[derive(Debug, Clone, Copy)]
struct View {
    open: bool,
    next_seq: u64,
}

impl SqliteStreamHub {
    /// A hub on the store's database, timed by `clock` (when streams close, and so when their
    /// logs expire). Logs stay 24 hours after closing ([`LOG_RETENTION`]).
    pub fn new(store: &SqliteStore, clock: Arc<dyn Clock>) -> Self {
        Self {
            shared: Arc::new(Shared {
                store: store.clone(),
                clock,
                live: Mutex::new(HashMap::new()),
                queue: Mutex::new(Queue::default()),
            }),
            retention: LOG_RETENTION,
        }
    }

    /// How long closed logs are kept before [`purge_expired`](Self::purge_expired) deletes
    /// them.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Every stream open in the database, oldest first. At start-up, before any stream is
    /// created, these are the streams a crash left open: close them (their events are kept).
    ///
    /// # Errors
    /// `Unavailable` or `Backend` when the database fails.
    pub async fn open_streams(&self) -> Result<Vec<StreamMeta>, StreamError> {
        self.shared
            .store
            .read(|conn| {
                let mut stmt = conn.prepare_cached(sql::OPEN_STREAMS).map_err(map_error)?;
                let mut rows = stmt.query([]).map_err(map_error)?;
                let mut streams = Vec::new();
                while let Some(row) = rows.next().map_err(map_error)? {
                    streams.push(stream_from_row(row)?);
                }
                Ok(streams)
            })
            .await
            .map_err(hub_error)
    }

    /// Deletes the streams closed longer ago than the retention, with their events, and
    /// returns how many went. Call it now and then (every few minutes). It also lets go of the
    /// memory of open streams idle for an hour with nobody following them.
    ///
    /// # Errors
    /// `Unavailable` or `Backend` when the database fails.
    pub async fn purge_expired(&self) -> Result<u64, StreamError> {
        let now = self.shared.clock.now();
        self.shared.evict_idle(now);
        let retention = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.as_millis().saturating_sub(retention);
        let mut purged = 0;
        loop {
            // Chunk by chunk, each its own job of the writer, so that appends commit between
            // them.
            let gone = self
                .shared
                .store
                .write(move |conn| {
                    conn.prepare_cached(sql::PURGE_CLOSED_STREAMS)
                        .and_then(|mut s| s.execute(params![cutoff, PURGE_CHUNK]))
                        .map_err(map_error)
                })
                .await
                .map_err(hub_error)?;
            purged += gone as u64;
            if (gone as i64) < PURGE_CHUNK {
                break;
            }
        }
        if purged > 0 {
            tracing::debug!(purged, "purged expired stream logs");
        }
        Ok(purged)
    }

    /// Queues a change and waits for its answer, which comes once it is committed.
    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StreamError>>) -> Job,
    ) -> Result<T, StreamError> {
        let (done, answer) = oneshot::channel();
        Shared::submit(&self.shared, job(done));
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    fn live(&self, id: StreamId) -> Option<Arc<Live>> {
        self.shared.lock_live().get(&id).cloned()
    }
}

impl fmt::Debug for SqliteStreamHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStreamHub")
            .field("store", &self.shared.store)
            .field("live", &self.shared.lock_live().len())
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock_live(&self) -> MutexGuard<'_, HashMap<StreamId, Arc<Live>>> {
        // Each change under the lock is one map operation: a panic cannot leave it half-done.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(this: &Arc<Self>, job: Job) {
        let start = {
            let mut q = this.lock_queue();
            q.jobs.push(job);
            !std::mem::replace(&mut q.committing, true)
        };
        if start {
            Self::schedule(this);
        }
    }

    /// Gives the writer a job that takes every stream change queued when it runs, writes them
    /// in the writer's batch, and once that batch has committed applies them to memory and
    /// answers them; then schedules itself again if more changes queued meanwhile. So one
    /// batch of changes at a time, in order.
    fn schedule(this: &Arc<Self>) {
        let (writing, answering) = (Arc::clone(this), Arc::clone(this));
        this.store.inner.writer.submit(
            move |conn| {
                let jobs = std::mem::take(&mut writing.lock_queue().jobs);
                let now = writing.clock.now();
                let effects = writing.execute(conn, &jobs, now);
                Batch { jobs, effects, now }
            },
            move |conn, outcome| {
                answering.finish(conn, outcome);
                let more = {
                    let mut q = answering.lock_queue();
                    q.committing = !q.jobs.is_empty();
                    q.committing
                };
                if more {
                    Self::schedule(&answering);
                }
            },
        );
    }

    /// Applies a batch that the writer committed, or fails its jobs.
    fn finish(&self, conn: &Connection, outcome: Outcome<Batch>) {
        match outcome {
            Outcome::Done(Batch {
                jobs,
                effects: Ok(effects),
                now,
            }) => {
                for (job, effect) in jobs.into_iter().zip(effects) {
                    self.apply(conn, job, effect, now);
                }
            }
            Outcome::Done(Batch {
                jobs, effects: Err(e), ..
            })
            | Outcome::Failed(Some(Batch { jobs, .. }), e) => {
                tracing::warn!(error = %e, jobs = jobs.len(), "a stream batch failed to commit");
                for job in jobs {
                    job.fail(batch_error(&e));
                }
            }
            Outcome::Failed(None, e) => {
                // The batch never ran: its jobs are still queued.
                let jobs = std::mem::take(&mut self.lock_queue().jobs);
                tracing::warn!(error = %e, jobs = jobs.len(), "a stream batch failed to begin");
                for job in jobs {
                    job.fail(batch_error(&e));
                }
            }
            // The jobs went with the panic; their callers get `Unavailable`.
            Outcome::Panicked(_) => tracing::error!("a stream batch panicked; its jobs failed"),
        }
    }

    /// Writes the jobs in one transaction. An `Err` in a job's place is that job's own refusal
    /// (`NotFound`, `Closed`…); an `Err` of the whole is a failure of the database, and then
    /// nothing was written.
    fn execute(
        &self,
        tx: &Connection,
        jobs: &[Job],
        now: Timestamp,
    ) -> Result<Vec<Result<Effect, StreamError>>, StoreError> {
        let mut views: HashMap<StreamId, Option<View>> = HashMap::new();
        let mut effects = Vec::with_capacity(jobs.len());
        for job in jobs {
            let id = job.id();
            let view = match views.entry(id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(self.view(tx, id)?),
            };
            let key = UuidText::new(id.as_uuid());
            let effect = match (job, *view) {
                (Job::Create { .. }, Some(_)) => Err(StreamError::Conflict),
                (Job::Create { meta, .. }, None) => {
                    let chat = meta.chat_id.map(|c| UuidText::new(c.as_uuid()));
                    let row = params![
                        key,
                        UuidText::new(meta.owner.as_uuid()),
                        chat,
                        meta.created_at.as_millis()
                    ];
                    match change(tx, sql::INSERT_STREAM, row)? {
                        // The id is free (the view says so): the owner or the chat is missing.
                        None => Err(StreamError::NotFound),
                        Some(_) => {
                            *view = Some(View {
                                open: true,
                                next_seq: 0,
                            });
                            Ok(Effect::Created(StreamMeta {
                                status: StreamStatus::Open,
                                ..meta.clone()
                            }))
                        }
                    }
                }
                (_, None) => Err(StreamError::NotFound),
                (Job::Append { .. } | Job::Attach { .. }, Some(View { open: false, .. })) => Err(StreamError::Closed),
                (Job::Append { data, .. }, Some(View { open: true, next_seq })) => {
                    if append_events(tx, &key, next_seq, data)? {
                        *view = Some(View {
                            open: true,
                            next_seq: next_seq + data.len() as u64,
                        });
                        Ok(Effect::Appended(next_seq))
                    } else {
                        *view = None;
                        Ok(Effect::Vanished)
                    }
                }
                (Job::Attach { .. }, Some(_)) => Ok(Effect::Attach),
                (Job::Close { .. }, Some(View { open: false, .. })) => Ok(Effect::Nothing),
                (Job::Close { .. }, Some(v)) => match change(tx, sql::CLOSE_STREAM, params![key, now.as_millis()])? {
                    Some(1..) => {
                        *view = Some(View { open: false, ..v });
                        Ok(Effect::Closed)
                    }
                    _ => {
                        *view = None;
                        Ok(Effect::Vanished)
                    }
                },
                (Job::Delete { .. }, Some(_)) => {
                    let deleted = matches!(change(tx, sql::DELETE_STREAM, [key])?, Some(1..));
                    *view = None;
                    Ok(if deleted { Effect::Deleted } else { Effect::Vanished })
                }
            };
            effects.push(effect);
        }
        Ok(effects)
    }

    /// How a stream stands before the batch touches it: in memory if it is live there, else
    /// as the database has it.
    fn view(&self, conn: &Connection, id: StreamId) -> Result<Option<View>, StoreError> {
        if let Some(live) = self.lock_live().get(&id) {
            return Ok(Some(View {
                open: true,
                next_seq: live.log.len(),
            }));
        }
        query_one(conn, sql::STREAM_STATE, [UuidText::new(id.as_uuid())], |row| {
            let next = integer(row, 1, "stream_events.seq")?;
            Ok(View {
                open: status_from_row(row, 0)? == StreamStatus::Open,
                next_seq: u64::try_from(next).map_err(|e| corrupt("stream_events.seq", e))?,
            })
        })
    }

    /// Applies a committed job to memory (waking followers), then answers it.
    fn apply(&self, conn: &Connection, job: Job, effect: Result<Effect, StreamError>, now: Timestamp) {
        let effect = match effect {
            Ok(Effect::Vanished) => {
                self.drop_live(job.id());
                Err(StreamError::NotFound)
            }
            other => other,
        };
        match job {
            Job::Create { done, .. } => {
                let answer = effect.map(|e| {
                    if let Effect::Created(meta) = e {
                        self.lock_live().insert(meta.id, Live::new(meta, EventLog::new(), now));
                    }
                });
                let _ = done.send(answer);
            }
            Job::Append { id, data, done } => {
                let answer = match effect {
                    Ok(Effect::Appended(first)) => {
                        let last = first + data.len() as u64 - 1;
                        self.publish(conn, id, first, data, now);
                        Ok(last)
                    }
                    Ok(_) => unreachable!("`execute` answers an append with `Appended` or `Vanished`"),
                    Err(e) => Err(e),
                };
                let _ = done.send(answer);
            }
            Job::Close { id, done } => {
                let answer = effect.map(|e| {
                    if matches!(e, Effect::Closed)
                        && let Some(live) = self.lock_live().remove(&id)
                    {
                        live.log.close();
                    }
                });
                let _ = done.send(answer);
            }
            Job::Delete { id, done } => {
                let answer = effect.map(|_| self.drop_live(id));
                let _ = done.send(answer);
            }
            Job::Attach { id, done } => {
                let answer = effect.and_then(|_| match self.load(conn, id, now) {
                    Ok(Some(live)) => Ok(Arc::clone(&live.log)),
                    Ok(None) => Err(StreamError::NotFound),
                    Err(e) => Err(hub_error(e)),
                });
                let _ = done.send(answer);
            }
        }
    }

    /// Forgets a deleted stream: its followers end at once.
    fn drop_live(&self, id: StreamId) {
        if let Some(live) = self.lock_live().remove(&id) {
            live.log.delete();
        }
    }

    /// Hands a committed batch of events, numbered from `seq`, to the stream's followers.
    fn publish(&self, conn: &Connection, id: StreamId, seq: u64, data: Vec<String>, now: Timestamp) {
        let live = match self.load(conn, id, now) {
            Ok(Some(live)) => live,
            // Loaded from the database (which holds the event) or gone: nothing to hand.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(stream = %id, error = %e, "cannot load a stream to hand it an event");
                return;
            }
        };
        let len = live.log.len();
        if seq == len {
            if let Err(e) = live.log.append_all(data) {
                tracing::error!(stream = %id, error = %e, "a committed event found its log ended");
            }
        } else if seq > len {
            tracing::error!(stream = %id, seq, len, "a committed event is ahead of its log");
        }
        // seq < len: the log was (re)loaded after the commit and holds the events already.
    }

    /// The stream in memory, loaded from the database if it is open there but not in memory
    /// (after a restart, or after being idle). `None` when it is not open.
    fn load(&self, conn: &Connection, id: StreamId, now: Timestamp) -> Result<Option<Arc<Live>>, StoreError> {
        if let Some(live) = self.lock_live().get(&id) {
            live.touch(now);
            return Ok(Some(Arc::clone(live)));
        }
        let key = UuidText::new(id.as_uuid());
        let Some(meta) = query_one(conn, sql::STREAM_BY_ID, [&key], stream_from_row)? else {
            return Ok(None);
        };
        if meta.status != StreamStatus::Open {
            return Ok(None);
        }
        let events = events_after(conn, id, None)?;
        let mut data = Vec::with_capacity(events.len());
        for (n, e) in events.into_iter().enumerate() {
            if e.seq != n as u64 {
                return Err(corrupt(
                    "stream_events.seq",
                    format_args!("stream {id} has a gap at {n}"),
                ));
            }
            data.push(e.data);
        }
        let live = Live::new(meta, EventLog::from_events(data), now);
        // Only the committer loads streams, so nobody has put it there meanwhile.
        self.lock_live().insert(id, Arc::clone(&live));
        tracing::debug!(stream = %id, events = live.log.len(), "loaded an open stream into memory");
        Ok(Some(live))
    }

    /// Lets go of open streams that nobody follows and nobody has written for a while.
    fn evict_idle(&self, now: Timestamp) {
        let idle = i64::try_from(IDLE_IN_MEMORY.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.as_millis().saturating_sub(idle);
        // Followers hold the log, and whoever is about to follow (or write) holds the entry:
        // both counts are 1 when only this map does. Clones are taken under this lock, so none
        // can appear while it is held.
        self.lock_live().retain(|_, l| {
            Arc::strong_count(l) > 1 || Arc::strong_count(&l.log) > 1 || l.used_at.load(Ordering::Relaxed) > cutoff
        });
    }
}

#[async_trait]
impl StreamHub for SqliteStreamHub {
    async fn create(&self, meta: &StreamMeta) -> Result<(), StreamError> {
        let meta = meta.clone();
        self.submit(|done| Job::Create { meta, done }).await
    }

    async fn meta(&self, id: StreamId) -> Result<Option<StreamMeta>, StreamError> {
        if let Some(live) = self.live(id) {
            return Ok(Some(live.meta.clone()));
        }
        self.shared
            .store
            .read(move |conn| query_one(conn, sql::STREAM_BY_ID, [UuidText::new(id.as_uuid())], stream_from_row))
            .await
            .map_err(hub_error)
    }

    async fn append(&self, id: StreamId, data: &[String]) -> Result<u64, StreamError> {
        if data.is_empty() {
            return Err(StreamError::EmptyBatch);
        }
        let data = data.to_vec();
        self.submit(|done| Job::Append { id, data, done }).await
    }

    async fn events(&self, id: StreamId, after: Option<u64>) -> Result<Vec<StreamEvent>, StreamError> {
        if let Some(live) = self.live(id) {
            // Memory holds what is committed, and nothing else.
            return live.log.events(after);
        }
        self.shared
            .store
            .read(move |conn| {
                if query_one(conn, sql::STREAM_BY_ID, [UuidText::new(id.as_uuid())], stream_from_row)?.is_none() {
                    return Err(StoreError::NotFound);
                }
                events_after(conn, id, after)
            })
            .await
            .map_err(hub_error)
    }

    async fn close(&self, id: StreamId) -> Result<(), StreamError> {
        self.submit(|done| Job::Close { id, done }).await
    }

    async fn follow(&self, id: StreamId, after: Option<u64>) -> Result<EventStream, StreamError> {
        let now = self.shared.clock.now();
        if let Some(live) = self.live(id) {
            live.touch(now);
            return Ok(live.log.follow(after));
        }
        // Not in memory: closed (replay it from the database), or open but not loaded since a
        // restart (the committer loads it, in turn with the changes to it).
        loop {
            let replay = self
                .shared
                .store
                .read(move |conn| {
                    let meta = query_one(conn, sql::STREAM_BY_ID, [UuidText::new(id.as_uuid())], stream_from_row)?;
                    match meta.map(|m| m.status) {
                        None => Err(StoreError::NotFound),
                        Some(StreamStatus::Open) => Ok(None),
                        // A closed log no longer changes: no need to read it in one snapshot.
                        Some(StreamStatus::Closed) => events_after(conn, id, after).map(Some),
                    }
                })
                .await
                .map_err(hub_error)?;
            if let Some(events) = replay {
                return Ok(Box::pin(futures_util::stream::iter(events)));
            }
            match self.submit(|done| Job::Attach { id, done }).await {
                Ok(log) => return Ok(log.follow(after)),
                // Closed since it was read: replay it.
                Err(StreamError::Closed) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn delete(&self, id: StreamId) -> Result<(), StreamError> {
        self.submit(|done| Job::Delete { id, done }).await
    }

    async fn delete_chat_streams(&self, chat: ChatId) -> Result<(), StreamError> {
        // The database deletes the rows with the chat (ON DELETE CASCADE); the streams held in
        // memory must be ended here, or their followers would wait for events that never come.
        let ids: Vec<StreamId> = self
            .shared
            .lock_live()
            .iter()
            .filter(|(_, live)| live.meta.chat_id == Some(chat))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            match self.delete(id).await {
                Ok(()) | Err(StreamError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Runs one write and returns how many rows it changed, or `None` when it broke a constraint
/// (a foreign key: the row it refers to is gone). Other failures fail the batch.
fn change(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Option<usize>, StoreError> {
    match conn.prepare_cached(sql).and_then(|mut s| s.execute(params)) {
        Ok(n) => Ok(Some(n)),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::ConstraintViolation => Ok(None),
        Err(e) => Err(map_error(e)),
    }
}

/// Writes a batch of events numbered from `first`. Returns `false` when the stream's row is
/// gone (a foreign key broke on the first insert, so nothing of the batch is written).
fn append_events(tx: &Connection, key: &UuidText, first: u64, data: &[String]) -> Result<bool, StoreError> {
    for (n, event) in data.iter().enumerate() {
        let seq = first
            .checked_add(n as u64)
            .and_then(|s| i64::try_from(s).ok())
            .ok_or_else(|| corrupt("stream_events.seq", "sequence number out of range"))?;
        match change(tx, sql::INSERT_STREAM_EVENT, params![key, seq, event])? {
            Some(_) => {}
            None if n == 0 => return Ok(false),
            // The batch's first events are written: fail the whole transaction rather than
            // keep half a batch.
            None => return Err(corrupt("stream_events", format_args!("event {seq} broke a constraint"))),
        }
    }
    Ok(true)
}

/// The events of a stream after `after` (all when `None`), in order.
fn events_after(conn: &Connection, id: StreamId, after: Option<u64>) -> Result<Vec<StreamEvent>, StoreError> {
    let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
    let mut stmt = conn.prepare_cached(sql::STREAM_EVENTS_AFTER).map_err(map_error)?;
    let mut rows = stmt
        .query(params![UuidText::new(id.as_uuid()), after])
        .map_err(map_error)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(map_error)? {
        let seq = integer(row, 0, "stream_events.seq")?;
        events.push(StreamEvent {
            seq: u64::try_from(seq).map_err(|e| corrupt("stream_events.seq", e))?,
            data: text(row, 1, "stream_events.data")?.to_owned(),
        });
    }
    Ok(events)
}

fn status_from_row(row: &Row<'_>, i: usize) -> Result<StreamStatus, StoreError> {
    match text(row, i, "streams.status")? {
        "open" => Ok(StreamStatus::Open),
        "closed" => Ok(StreamStatus::Closed),
        other => Err(corrupt("streams.status", format_args!("unknown status {other:?}"))),
    }
}

/// Reads a row of `sql::stream_columns!`.
fn stream_from_row(row: &Row<'_>) -> Result<StreamMeta, StoreError> {
    Ok(StreamMeta {
        id: StreamId::from_uuid(uuid(row, 0, "streams.id")?),
        owner: UserId::from_uuid(uuid(row, 1, "streams.user_id")?),
        chat_id: optional_text(row, 2, "streams.chat_id")?
            .map(|c| Uuid::try_parse(c).map(ChatId::from_uuid))
            .transpose()
            .map_err(|e| corrupt("streams.chat_id", e))?,
        status: status_from_row(row, 3)?,
        created_at: Timestamp::from_millis(integer(row, 4, "streams.created_at")?),
    })
}

fn hub_error(e: StoreError) -> StreamError {
    match e {
        StoreError::NotFound => StreamError::NotFound,
        StoreError::Unavailable(why) => StreamError::Unavailable(why),
        e => StreamError::Backend {
            adapter: ADAPTER,
            source: Box::new(e),
        },
    }
}

/// The error each job of a failed batch gets (the cause is one, the jobs many).
fn batch_error(e: &StoreError) -> StreamError {
    hub_error(copy_error(e))
}

fn stopped() -> StreamError {
    StreamError::Unavailable("the stream hub's writer has stopped".to_owned())
}
