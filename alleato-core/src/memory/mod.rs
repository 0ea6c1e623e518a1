//! In-memory adapters of every port: for unit tests, for embedding, and as the native server's
//! in-process cache and counters. Nothing here survives a restart.

use std::time::Duration;

mod cache;
mod clock;
mod counters;
mod generations;
mod hub;
mod sessions;
mod store;

pub use cache::MemoryCache;
pub use clock::{ManualClock, SeededRng};
pub use counters::MemoryCounters;
pub use generations::MemoryGenerations;
pub use hub::MemoryStreamHub;
pub use sessions::MemorySessions;
pub use store::MemoryStore;

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
