//! The [`StreamHub`] port in memory: one [`EventLog`] per stream, and closed streams dropped
//! once their retention has passed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::id::{ChatId, UserId};

use crate::ports::Clock;
use crate::streams::{
    EventLog, EventStream, LOG_RETENTION, StreamError, StreamEvent, StreamHub, StreamId, StreamMeta, StreamStatus,
    StreamUsage,
};
use crate::time::Timestamp;

/// How often (in clock time) `create` sweeps the expired streams away by itself.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Stream logs in memory, with live followers: for tests, for embedding, and for a single
/// process that needs no replay across restarts.
///
/// A closed stream stays readable for its retention ([`LOG_RETENTION`], 24 hours, unless
/// [`with_retention`](Self::with_retention) says otherwise), measured by the [`Clock`]; then it
/// reads as gone. Its memory is released by [`purge_expired`](Self::purge_expired), which
/// `create` also runs now and then, so a hub that keeps creating streams stays bounded
/// without any timer.
pub struct MemoryStreamHub {
    clock: Arc<dyn Clock>,
    retention: i64,
    state: Mutex<HubState>,
}

struct HubState {
    streams: HashMap<StreamId, Entry>,
    next_sweep: Timestamp,
}

struct Entry {
    meta: StreamMeta,
    log: Arc<EventLog>,
    closed_at: Option<Timestamp>,
}

impl Entry {
    fn expired(&self, now: Timestamp, retention: i64) -> bool {
        self.closed_at.is_some_and(|at| at.plus_millis(retention) <= now)
    }
}

impl MemoryStreamHub {
    /// An empty hub whose closed streams live for [`LOG_RETENTION`].
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let next_sweep = clock.now();
        Self {
            clock,
            retention: millis(LOG_RETENTION),
            state: Mutex::new(HubState {
                streams: HashMap::new(),
                next_sweep,
            }),
        }
    }

    /// How long a closed stream stays readable.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = millis(retention);
        self
    }

    /// Drops every closed stream whose retention has passed, and returns how many. Followers
    /// still reading one keep their copy of its log until they finish.
    pub fn purge_expired(&self) -> usize {
        let now = self.clock.now();
        let mut s = self.lock();
        s.next_sweep = now.plus_millis(millis(SWEEP_EVERY));
        let before = s.streams.len();
        s.streams.retain(|_, e| !e.expired(now, self.retention));
        before - s.streams.len()
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // Each change under the lock is one map operation: a panic cannot leave it half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the stream's entry, or fails with `NotFound` when it is absent or expired.
    fn with_entry<T>(&self, id: StreamId, f: impl FnOnce(&mut Entry, Timestamp) -> T) -> Result<T, StreamError> {
        let now = self.clock.now();
        let mut s = self.lock();
        match s.streams.get_mut(&id) {
            Some(e) if !e.expired(now, self.retention) => Ok(f(e, now)),
            Some(_) => {
                s.streams.remove(&id);
                Err(StreamError::NotFound)
            }
            None => Err(StreamError::NotFound),
        }
    }
}

impl std::fmt::Debug for MemoryStreamHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStreamHub")
            .field("streams", &self.lock().streams.len())
            .field("retention_ms", &self.retention)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl StreamHub for MemoryStreamHub {
    async fn create(&self, meta: &StreamMeta) -> Result<(), StreamError> {
        if self.clock.now() >= self.lock().next_sweep {
            self.purge_expired();
        }
        let now = self.clock.now();
        let mut s = self.lock();
        if s.streams.get(&meta.id).is_some_and(|e| !e.expired(now, self.retention)) {
            return Err(StreamError::Conflict);
        }
        let meta = StreamMeta {
            status: StreamStatus::Open,
            ..meta.clone()
        };
        let entry = Entry {
            meta,
            log: Arc::new(EventLog::new()),
            closed_at: None,
        };
        s.streams.insert(entry.meta.id, entry);
        Ok(())
    }

    async fn meta(&self, id: StreamId) -> Result<Option<StreamMeta>, StreamError> {
        match self.with_entry(id, |e, _| e.meta.clone()) {
            Ok(meta) => Ok(Some(meta)),
            Err(StreamError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn append(&self, id: StreamId, data: &[String]) -> Result<u64, StreamError> {
        // The log decides whether it is still open; the hub's lock is not held while the
        // followers are woken.
        let log = self.with_entry(id, |e, _| Arc::clone(&e.log))?;
        log.append_all(data.to_vec())
    }

    async fn events(&self, id: StreamId, after: Option<u64>) -> Result<Vec<StreamEvent>, StreamError> {
        let log = self.with_entry(id, |e, _| Arc::clone(&e.log))?;
        log.events(after)
    }

    async fn close(&self, id: StreamId) -> Result<(), StreamError> {
        self.with_entry(id, |e, now| {
            if e.log.close() {
                e.meta.status = StreamStatus::Closed;
                e.closed_at = Some(now);
            }
        })
    }

    async fn follow(&self, id: StreamId, after: Option<u64>) -> Result<EventStream, StreamError> {
        self.with_entry(id, |e, _| e.log.follow(after))
    }

    async fn delete(&self, id: StreamId) -> Result<(), StreamError> {
        let entry = {
            let now = self.clock.now();
            let mut s = self.lock();
            match s.streams.remove(&id) {
                Some(e) if !e.expired(now, self.retention) => e,
                _ => return Err(StreamError::NotFound),
            }
        };
        entry.log.delete();
        Ok(())
    }

    async fn usage(&self, owner: UserId, stream: Option<StreamId>) -> Result<StreamUsage, StreamError> {
        let now = self.clock.now();
        let s = self.lock();
        let mut usage = StreamUsage::default();
        for (id, e) in &s.streams {
            if e.meta.owner != owner || e.expired(now, self.retention) {
                continue;
            }
            let bytes = e.log.bytes();
            usage.bytes += bytes;
            if e.meta.status == StreamStatus::Open {
                usage.open_streams += 1;
            }
            if Some(*id) == stream {
                usage.stream_events = e.log.len();
                usage.stream_bytes = bytes;
            }
        }
        Ok(usage)
    }

    async fn delete_chat_streams(&self, chat: ChatId) -> Result<(), StreamError> {
        let gone: Vec<Entry> = {
            let mut s = self.lock();
            let ids: Vec<StreamId> = s
                .streams
                .iter()
                .filter(|(_, e)| e.meta.chat_id == Some(chat))
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| s.streams.remove(id)).collect()
        };
        for entry in gone {
            entry.log.delete();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use uuid::Uuid;

    use super::*;
    use crate::id::UserId;
    use crate::memory::ManualClock;

    fn meta(n: u128) -> StreamMeta {
        StreamMeta {
            id: StreamId::from_uuid(Uuid::from_u128(n)),
            owner: UserId::from_uuid(Uuid::from_u128(1)),
            chat_id: None,
            status: StreamStatus::Open,
            created_at: Timestamp::from_millis(1),
        }
    }

    #[test]
    fn closed_streams_expire_after_the_retention_and_leave_memory() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let hub = MemoryStreamHub::new(clock.clone());
        block_on(async {
            let (a, b) = (meta(1), meta(2));
            hub.create(&a).await.unwrap();
            hub.create(&b).await.unwrap();
            hub.append(a.id, &["1".to_owned()]).await.unwrap();
            hub.close(a.id).await.unwrap();
            clock.advance(LOG_RETENTION - Duration::from_millis(1));
            assert!(hub.meta(a.id).await.unwrap().is_some());
            assert_eq!(hub.purge_expired(), 0);
            clock.advance(Duration::from_millis(1));
            // Expired: gone for every method, even before the purge runs.
            assert_eq!(hub.meta(a.id).await.unwrap(), None);
            assert!(matches!(hub.follow(a.id, None).await, Err(StreamError::NotFound)));
            // Open streams never expire.
            assert!(hub.meta(b.id).await.unwrap().is_some());
            hub.close(b.id).await.unwrap();
            clock.advance(LOG_RETENTION);
            assert_eq!(hub.purge_expired(), 1);
            assert!(hub.lock().streams.is_empty());
        });
    }

    #[test]
    fn create_sweeps_expired_streams_by_itself() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let hub = MemoryStreamHub::new(clock.clone());
        block_on(async {
            for n in 0..10 {
                hub.create(&meta(n)).await.unwrap();
                hub.close(meta(n).id).await.unwrap();
            }
            clock.advance(LOG_RETENTION + SWEEP_EVERY);
            hub.create(&meta(99)).await.unwrap();
            assert_eq!(hub.lock().streams.len(), 1);
        });
    }

    #[test]
    fn the_retention_is_configurable_and_an_expired_id_can_be_reused() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(0)));
        let hub = MemoryStreamHub::new(clock.clone()).with_retention(Duration::from_secs(5));
        block_on(async {
            let a = meta(1);
            hub.create(&a).await.unwrap();
            hub.close(a.id).await.unwrap();
            assert!(matches!(hub.create(&a).await, Err(StreamError::Conflict)));
            clock.advance(Duration::from_secs(5));
            hub.create(&a).await.unwrap();
            assert_eq!(hub.meta(a.id).await.unwrap().unwrap().status, StreamStatus::Open);
        });
    }
}
