//! The [`KvCache`] port on a Workers KV namespace.

use std::fmt;
use std::time::Duration;

use alleato_core::ports::{CacheError, KvCache};
use async_trait::async_trait;
use worker::KvStore;

use super::ADAPTER;
use crate::send::js;

/// KV refuses an expiration TTL under 60 seconds.
pub const MIN_TTL: Duration = Duration::from_secs(60);

/// A [`KvCache`] on Workers KV. TTLs under [`MIN_TTL`] are rounded up to it, and partial
/// seconds up to the next second: an entry may live a little longer than asked, never shorter.
#[derive(Clone)]
pub struct WorkersKvCache {
    kv: KvStore,
}

impl WorkersKvCache {
    /// The cache on a KV binding.
    pub fn new(kv: KvStore) -> Self {
        Self { kv }
    }
}

impl fmt::Debug for WorkersKvCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkersKvCache").finish_non_exhaustive()
    }
}

/// KV's failure as text: `KvError` may hold a `JsValue`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct KvFailure(String);

fn backend(e: &worker::kv::KvError) -> CacheError {
    CacheError::Backend {
        adapter: ADAPTER,
        source: Box::new(KvFailure(e.to_string())),
    }
}

/// The TTL KV is given, in whole seconds.
fn kv_ttl(ttl: Duration) -> u64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    secs.max(MIN_TTL.as_secs())
}

#[async_trait]
impl KvCache for WorkersKvCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let (kv, key) = (self.kv.clone(), key.to_owned());
        js(async move { kv.get(&key).bytes().await.map_err(|e| backend(&e)) }).await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let (kv, key, value) = (self.kv.clone(), key.to_owned(), value.to_vec());
        js(async move {
            kv.put_bytes(&key, &value)
                .map_err(|e| backend(&e))?
                .expiration_ttl(kv_ttl(ttl))
                .execute()
                .await
                .map_err(|e| backend(&e))
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let (kv, key) = (self.kv.clone(), key.to_owned());
        js(async move { kv.delete(&key).await.map_err(|e| backend(&e)) }).await
    }
}
