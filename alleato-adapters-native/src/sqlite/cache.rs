//! The [`KvCache`] port on SQLite: sessions and cached responses that survive a restart.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alleato_core::ports::{CacheError, Clock, KvCache};
use alleato_core::store::StoreError;
use async_trait::async_trait;
use rusqlite::params;

use super::store::{corrupt, map_error, query_one};
use alleato_sql as sql;

use super::{ADAPTER, SqliteStore};

/// How many expired entries one purge statement deletes at most.
const PURGE_CHUNK: i64 = 512;

/// A key-value cache in the `kv_cache` table of the [`SqliteStore`]'s database
/// (`migrations/0004_cache.sql`), sharing its connections: reads on a reader, writes in the
/// writer's batches.
///
/// Entries expire by the [`Clock`] given at construction: an entry whose time has passed reads
/// as absent, and [`purge_expired`](Self::purge_expired), called now and then, deletes it.
/// Every `put` and `delete` is committed before it returns, and a later `get` (on any
/// connection) sees it. Cloning is cheap and shares the cache. Its methods need a tokio runtime.
#[derive(Clone)]
pub struct SqliteCache {
    store: SqliteStore,
    clock: Arc<dyn Clock>,
}

impl SqliteCache {
    /// A cache on the store's database, timed by `clock`.
    pub fn new(store: &SqliteStore, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: store.clone(),
            clock,
        }
    }

    /// Deletes every expired entry and returns how many went. Call it now and then (every
    /// minute or few): expired entries are never read, but they take room until then.
    ///
    /// # Errors
    /// `Unavailable` or `Backend` when the database fails.
    pub async fn purge_expired(&self) -> Result<u64, CacheError> {
        let now = self.clock.now().as_millis();
        let mut purged = 0;
        loop {
            // Chunk by chunk, each its own job of the writer, so that other writes commit
            // between them.
            let gone = self
                .store
                .write(move |conn| {
                    conn.prepare_cached(sql::PURGE_EXPIRED_CACHE)
                        .and_then(|mut s| s.execute(params![now, PURGE_CHUNK]))
                        .map_err(map_error)
                })
                .await
                .map_err(cache_error)?;
            purged += gone as u64;
            if (gone as i64) < PURGE_CHUNK {
                break;
            }
        }
        if purged > 0 {
            tracing::debug!(purged, "purged expired cache entries");
        }
        Ok(purged)
    }
}

impl fmt::Debug for SqliteCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteCache")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl KvCache for SqliteCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = key.to_owned();
        let now = self.clock.now().as_millis();
        self.store
            .read(move |conn| {
                query_one(conn, sql::CACHE_GET, params![key, now], |row| {
                    let value = row.get_ref(0).map_err(map_error)?;
                    Ok(value.as_blob().map_err(|e| corrupt("kv_cache.value", e))?.to_vec())
                })
            })
            .await
            .map_err(cache_error)
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at = self.clock.now().plus_millis(ttl).as_millis();
        self.store
            .write(move |conn| {
                conn.prepare_cached(sql::CACHE_PUT)
                    .and_then(|mut s| s.execute(params![key, value, expires_at]))
                    .map_err(map_error)
            })
            .await
            .map(drop)
            .map_err(cache_error)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let key = key.to_owned();
        self.store
            .write(move |conn| {
                conn.prepare_cached(sql::CACHE_DELETE)
                    .and_then(|mut s| s.execute([key]))
                    .map_err(map_error)
            })
            .await
            .map(drop)
            .map_err(cache_error)
    }
}

fn cache_error(e: StoreError) -> CacheError {
    match e {
        StoreError::Unavailable(why) => CacheError::Unavailable(why),
        e => CacheError::Backend {
            adapter: ADAPTER,
            source: Box::new(e),
        },
    }
}
