//! A [`KvCache`] in two layers: a fast front (in memory) over a durable back (a database), so
//! that reads are served from memory and entries survive a restart.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{CacheError, KvCache};

/// How long the front keeps a copy by default: see [`LayeredCache::with_front_ttl`].
pub const DEFAULT_FRONT_TTL: Duration = Duration::from_secs(60);

/// How many write trackers keys are spread over (a power of two).
const SLOTS: usize = 64;

/// A [`KvCache`] made of a fast front and a durable back, both [`KvCache`]s: the back is the
/// truth, the front a short-lived copy of part of it.
///
/// - `put` writes the back, then the front.
/// - `delete` deletes from the back, then from the front.
/// - `get` reads the front; on a miss it reads the back and, when it finds the key, copies it
///   into the front.
///
/// The front keeps a copy for at most the *front TTL* ([`DEFAULT_FRONT_TTL`], one minute, by
/// default), less when the entry's own TTL is shorter. The port's `get` does not tell how long
/// an entry has left, so a copy made on a miss may outlive the entry in the back by up to the
/// front TTL; and a `put` or `delete` cancelled between its two steps may leave the front stale
/// for as long. Keep the front TTL short next to the TTLs the cache is used with (sessions live
/// for days).
///
/// # Single process
///
/// The front is only kept consistent with the writes that go through this layer: every writer
/// of the back must use this `LayeredCache` (one per process, one process per back). A copy
/// made from a read that raced with a `put` or `delete` of the same key is dropped again, so a
/// `delete` (a logout) is not undone by a concurrent `get`. Another process writing the same
/// back would see its deletes ignored by this front for up to the front TTL.
pub struct LayeredCache {
    front: Arc<dyn KvCache>,
    back: Arc<dyn KvCache>,
    front_ttl: Duration,
    /// Writes started and finished, per slot of keys: a `get` copies what it read from the
    /// back into the front only when no write of its slot ran meanwhile.
    writes: [Writes; SLOTS],
}

#[derive(Default)]
struct Writes {
    started: AtomicU64,
    finished: AtomicU64,
}

/// A write in progress: counted as finished when dropped, even if it is cancelled or fails.
struct Writing<'a>(&'a Writes);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl LayeredCache {
    /// A cache reading `front` first and keeping `back` as the truth, with the default front
    /// TTL.
    pub fn new(front: Arc<dyn KvCache>, back: Arc<dyn KvCache>) -> Self {
        Self {
            front,
            back,
            front_ttl: DEFAULT_FRONT_TTL,
            writes: std::array::from_fn(|_| Writes::default()),
        }
    }

    /// How long the front keeps a copy at most (default one minute; at least a millisecond).
    /// Longer saves reads of the back; shorter bounds how long a stale copy can live.
    pub fn with_front_ttl(mut self, ttl: Duration) -> Self {
        self.front_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The front TTL.
    pub fn front_ttl(&self) -> Duration {
        self.front_ttl
    }

    fn slot(&self, key: &str) -> &Writes {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.writes[(h.finish() as usize) & (SLOTS - 1)]
    }

    fn begin_write(&self, key: &str) -> Writing<'_> {
        let slot = self.slot(key);
        slot.started.fetch_add(1, Ordering::SeqCst);
        Writing(slot)
    }
}

impl fmt::Debug for LayeredCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayeredCache")
            .field("front_ttl", &self.front_ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl KvCache for LayeredCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        if let Some(value) = self.front.get(key).await? {
            return Ok(Some(value));
        }
        let slot = self.slot(key);
        // `finished` first: if it then equals `started`, no write was running at that moment.
        let finished = slot.finished.load(Ordering::SeqCst);
        let started = slot.started.load(Ordering::SeqCst);
        let Some(value) = self.back.get(key).await? else {
            return Ok(None);
        };
        if started == finished {
            self.front.put(key, &value, self.front_ttl).await?;
            // A write that started since may have changed the back after it was read, and
            // written the front before this copy: drop the copy, the next read refills it.
            if slot.started.load(Ordering::SeqCst) != started {
                self.front.delete(key).await?;
            }
        }
        Ok(Some(value))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let _writing = self.begin_write(key);
        self.back.put(key, value, ttl).await?;
        self.front.put(key, value, ttl.min(self.front_ttl)).await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let _writing = self.begin_write(key);
        self.back.delete(key).await?;
        self.front.delete(key).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, OnceLock, Weak};

    use futures::executor::block_on;

    use super::*;
    use crate::memory::{ManualClock, MemoryCache};
    use crate::time::Timestamp;

    const HOUR: Duration = Duration::from_secs(3600);

    struct Layers {
        clock: Arc<ManualClock>,
        front: Arc<MemoryCache>,
        back: Arc<MemoryCache>,
        cache: LayeredCache,
    }

    fn layers() -> Layers {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let front = Arc::new(MemoryCache::new(clock.clone()));
        let back = Arc::new(MemoryCache::new(clock.clone()));
        let cache = LayeredCache::new(front.clone(), back.clone());
        Layers {
            clock,
            front,
            back,
            cache,
        }
    }

    #[test]
    fn keeps_the_cache_contract() {
        let l = layers();
        block_on(crate::testing::ports::cache_ttl_and_delete(
            &l.cache,
            &crate::testing::Capabilities::manual_clock(l.clock.clone()),
        ));
    }

    #[test]
    fn put_writes_both_layers_and_the_front_copy_is_short_lived() {
        let l = layers();
        block_on(async {
            l.cache.put("k", b"v", HOUR).await.unwrap();
            assert_eq!(l.back.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
            assert_eq!(l.front.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
            l.clock.advance(DEFAULT_FRONT_TTL + Duration::from_secs(1));
            assert_eq!(l.front.get("k").await.unwrap(), None);
            assert_eq!(l.cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        });
    }

    #[test]
    fn a_miss_in_front_reads_the_back_and_refills_the_front() {
        let l = layers();
        block_on(async {
            // As after a restart: the back has it, the (new) front does not.
            l.back.put("k", b"v", HOUR).await.unwrap();
            assert_eq!(l.cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
            assert_eq!(l.front.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
            // The refill lasts the front TTL, not the entry's remaining hour.
            l.clock.advance(Duration::from_secs(61));
            assert_eq!(l.front.get("k").await.unwrap(), None);
            assert_eq!(l.cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
            assert_eq!(l.cache.get("absent").await.unwrap(), None);
            assert_eq!(l.front.get("absent").await.unwrap(), None);
        });
    }

    #[test]
    fn delete_removes_both_layers() {
        let l = layers();
        block_on(async {
            l.cache.put("k", b"v", HOUR).await.unwrap();
            l.cache.delete("k").await.unwrap();
            assert_eq!(l.front.get("k").await.unwrap(), None);
            assert_eq!(l.back.get("k").await.unwrap(), None);
            assert_eq!(l.cache.get("k").await.unwrap(), None);
        });
    }

    #[test]
    fn the_front_ttl_is_configurable() {
        let l = layers();
        let cache = LayeredCache::new(l.front.clone(), l.back.clone()).with_front_ttl(Duration::from_secs(5));
        assert_eq!(cache.front_ttl(), Duration::from_secs(5));
        block_on(async {
            cache.put("k", b"v", HOUR).await.unwrap();
            l.clock.advance(Duration::from_secs(6));
            assert_eq!(l.front.get("k").await.unwrap(), None);
            assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        });
    }

    /// A back whose next `get` runs a `delete` through the layer after reading, as a logout
    /// racing a request would.
    struct RacingBack {
        inner: MemoryCache,
        layer: OnceLock<Weak<LayeredCache>>,
        armed: Mutex<bool>,
    }

    #[async_trait]
    impl KvCache for RacingBack {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
            let value = self.inner.get(key).await?;
            let race = std::mem::take(&mut *self.armed.lock().unwrap());
            if race && let Some(layer) = self.layer.get().and_then(Weak::upgrade) {
                layer.delete(key).await?;
            }
            Ok(value)
        }

        async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
            self.inner.put(key, value, ttl).await
        }

        async fn delete(&self, key: &str) -> Result<(), CacheError> {
            self.inner.delete(key).await
        }
    }

    #[test]
    fn a_delete_racing_a_refill_is_not_undone() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let front = Arc::new(MemoryCache::new(clock.clone()));
        let back = Arc::new(RacingBack {
            inner: MemoryCache::new(clock.clone()),
            layer: OnceLock::new(),
            armed: Mutex::new(false),
        });
        let cache = Arc::new(LayeredCache::new(front.clone(), back.clone()));
        back.layer.set(Arc::downgrade(&cache)).ok().unwrap();
        block_on(async {
            back.inner.put("k", b"v", HOUR).await.unwrap();
            *back.armed.lock().unwrap() = true;
            // The read saw the value before the delete: it may return it, but not keep it.
            assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
            assert_eq!(front.get("k").await.unwrap(), None);
            assert_eq!(cache.get("k").await.unwrap(), None);
        });
    }
}
