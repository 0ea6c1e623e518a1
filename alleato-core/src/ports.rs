//! Cross-cutting ports: the clock, randomness, a TTL key-value cache and exact counters.
//!
//! Context-specific ports (users, chats…) live in their context's `port.rs`.

use std::time::Duration;

use async_trait::async_trait;

use crate::time::Timestamp;

/// The current time. Adapters read the platform clock; tests use a fixed or manual one.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the epoch.
    fn now(&self) -> Timestamp;
}

/// A cryptographically secure random source (ids, salts, refresh tokens).
pub trait Rng: Send + Sync + 'static {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]);
}

/// The error of the [`KvCache`] and [`Counters`] ports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The backend could not be reached or refused the request for now.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// Any other failure of the backend.
    #[error("{adapter} cache failed: {source}")]
    Backend {
        /// Which adapter failed.
        adapter: &'static str,
        /// The adapter's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A key-value cache whose entries expire.
///
/// Sessions and refresh tokens live here. Values are opaque bytes; keys are namespaced by the
/// caller (`session:…`). The cache may be eventually consistent across locations (Cloudflare
/// KV), but a `put` followed by a `get` in the same location sees the write.
#[async_trait]
pub trait KvCache: Send + Sync + 'static {
    /// The value stored under `key`, or `None` when absent or expired.
    ///
    /// # Errors
    /// `CacheError::Unavailable` or `Backend` when the backend fails.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;

    /// Stores `value` under `key` for `ttl`, replacing any earlier value.
    ///
    /// # Errors
    /// `CacheError::Unavailable` or `Backend` when the backend fails.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;

    /// Removes `key`. Removing an absent key is not an error.
    ///
    /// # Errors
    /// `CacheError::Unavailable` or `Backend` when the backend fails.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
}

/// Exact, atomic counters in fixed windows: rate limits and quotas.
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Adds `by` to the counter `key` and returns the new total. A counter that does not exist,
    /// or whose window has passed, starts from zero with a window of `window` from now; the
    /// window is not extended by later increments. Two concurrent increments never both see
    /// the same total.
    ///
    /// # Errors
    /// `CacheError::Unavailable` or `Backend` when the backend fails.
    async fn increment(&self, key: &str, by: u64, window: Duration) -> Result<CounterValue, CacheError>;

    /// The current total of `key` (0 when absent or expired), without changing it.
    ///
    /// # Errors
    /// `CacheError::Unavailable` or `Backend` when the backend fails.
    async fn get(&self, key: &str) -> Result<CounterValue, CacheError>;
}

/// A counter's total and the end of its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterValue {
    /// The total in the current window.
    pub total: u64,
    /// When the current window ends (the counter then reads 0 again).
    pub resets_at: Timestamp,
}
