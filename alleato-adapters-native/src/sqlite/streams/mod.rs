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
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alleato_core::id::{ChatId, UserId};
use alleato_core::ports::Clock;
use alleato_core::store::StoreError;
use alleato_core::streams::{
    EventLog, EventStream, LOG_RETENTION, StreamError, StreamEvent, StreamHub, StreamId, StreamMeta, StreamStatus,
    StreamUsage,
};
use alleato_core::time::Timestamp;
use async_trait::async_trait;
use rusqlite::params;
use tokio::sync::oneshot;

use self::commit::{Job, Queue};
use self::rows::{events_after, hub_error, stopped, stream_from_row};
use super::SqliteStore;
use super::store::{UuidText, map_error, query_one};
use alleato_sql as sql;

mod commit;
mod rows;

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

    async fn usage(&self, owner: UserId, stream: Option<StreamId>) -> Result<StreamUsage, StreamError> {
        // Read after the appends it follows have committed: `append` answers once they have.
        self.shared
            .store
            .read(move |conn| {
                let stream = stream.map(|s| UuidText::new(s.as_uuid()));
                let count =
                    |row: &rusqlite::Row<'_>, i: usize| row.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
                conn.prepare_cached(sql::STREAM_USAGE)
                    .and_then(|mut s| {
                        s.query_row(params![UuidText::new(owner.as_uuid()), stream], |r| {
                            Ok(StreamUsage {
                                open_streams: count(r, 0)?,
                                bytes: count(r, 1)?,
                                stream_events: count(r, 2)?,
                                stream_bytes: count(r, 3)?,
                            })
                        })
                    })
                    .map_err(map_error)
            })
            .await
            .map_err(hub_error)
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
