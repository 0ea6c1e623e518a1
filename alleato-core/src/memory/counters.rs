//! Exact fixed-window counters in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::duration_millis;
use crate::ports::{CacheError, Clock, CounterValue, Counters};
use crate::sync::lock;

/// Exact fixed-window counters in memory, timed by a [`Clock`].
pub struct MemoryCounters {
    clock: Arc<dyn Clock>,
    counters: Mutex<HashMap<String, CounterValue>>,
}

impl MemoryCounters {
    /// No counters yet.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// Drops every counter whose window has passed.
    pub fn purge_expired(&self) {
        let now = self.clock.now();
        lock(&self.counters).retain(|_, c| c.resets_at > now);
    }
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn increment(&self, key: &str, by: u64, window: Duration) -> Result<CounterValue, CacheError> {
        let now = self.clock.now();
        let mut counters = lock(&self.counters);
        let c = counters.entry(key.to_owned()).or_insert(CounterValue {
            total: 0,
            resets_at: now,
        });
        if c.resets_at <= now {
            *c = CounterValue {
                total: 0,
                resets_at: now.plus_millis(duration_millis(window)),
            };
        }
        c.total = c.total.saturating_add(by);
        Ok(*c)
    }

    async fn get(&self, key: &str) -> Result<CounterValue, CacheError> {
        let now = self.clock.now();
        Ok(match lock(&self.counters).get(key) {
            Some(c) if c.resets_at > now => *c,
            _ => CounterValue {
                total: 0,
                resets_at: now,
            },
        })
    }
}
