//! A TTL key-value cache in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::duration_millis;
use crate::ports::{CacheError, Clock, KvCache};
use crate::sync::lock;
use crate::time::Timestamp;

/// A TTL key-value cache in memory, timed by a [`Clock`].
pub struct MemoryCache {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, (Vec<u8>, Timestamp)>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Drops every expired entry; call it now and then to bound memory.
    pub fn purge_expired(&self) {
        let now = self.clock.now();
        lock(&self.entries).retain(|_, (_, expires)| *expires > now);
    }
}

#[async_trait]
impl KvCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let now = self.clock.now();
        let mut entries = lock(&self.entries);
        match entries.get(key) {
            Some((v, expires)) if *expires > now => Ok(Some(v.clone())),
            Some(_) => {
                entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let expires = self.clock.now().plus_millis(duration_millis(ttl));
        lock(&self.entries).insert(key.to_owned(), (value.to_vec(), expires));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        lock(&self.entries).remove(key);
        Ok(())
    }
}
