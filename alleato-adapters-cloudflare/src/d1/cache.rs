//! The [`KvCache`] port on D1's `kv_cache` table: exact, unlike Workers KV, so sessions and
//! refresh tokens live here (a logout holds at once everywhere).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alleato_core::ports::{CacheError, Clock, KvCache};
use alleato_core::store::StoreError;
use alleato_sql as sql;
use async_trait::async_trait;

use super::model::Row;
use super::{ADAPTER, Arg, D1Store, Query};

/// A key-value cache in the `kv_cache` table (`migrations/0004_cache.sql`), with the SQL of
/// the native `SqliteCache`. Entries expire by the [`Clock`]: an expired entry reads as absent.
#[derive(Clone)]
pub struct D1Cache {
    store: D1Store,
    clock: Arc<dyn Clock>,
}

impl D1Cache {
    /// A cache on the store's database, timed by `clock`.
    pub fn new(store: &D1Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: store.clone(),
            clock,
        }
    }
}

impl fmt::Debug for D1Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("D1Cache").finish_non_exhaustive()
    }
}

#[async_trait]
impl KvCache for D1Cache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let now = self.clock.now().as_millis();
        let row = self
            .store
            .row(Query::new(sql::CACHE_GET, vec![key.into(), now.into()]))
            .await
            .map_err(cache_error)?;
        row.map(|r| Row(&r).blob(0, "kv_cache.value"))
            .transpose()
            .map_err(cache_error)
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at = self.clock.now().plus_millis(ttl).as_millis();
        let args = vec![key.into(), Arg::Blob(value.to_vec()), expires_at.into()];
        self.store
            .run(Query::new(sql::CACHE_PUT, args))
            .await
            .map(drop)
            .map_err(cache_error)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.store
            .run(Query::new(sql::CACHE_DELETE, vec![key.into()]))
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
