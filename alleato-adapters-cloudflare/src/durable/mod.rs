//! Durable Objects: exact, atomic rate-limit counters.
//!
//! KV is eventually consistent and takes one write per second per key, so counters live in a
//! SQLite-backed Durable Object, one per counter key: a Durable Object runs one event at a time
//! and its SQL calls are synchronous, so an increment is atomic without a lock.

mod counters;
// The macro generates wasm-bindgen glue (the class constructor and its methods) without docs.
#[allow(missing_docs)]
mod object;

pub use counters::DurableCounters;
pub use object::AlleatoCounter;

/// The adapter name in errors.
const ADAPTER: &str = "durable-object";

/// What the Worker asks a counter object (one JSON body per request).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum CounterRequest {
    /// Add `by`; a new window of `window_ms` starts when the last one has ended at `now`.
    Increment {
        key: String,
        by: u64,
        window_ms: u64,
        now: i64,
    },
    /// Read without changing.
    Get { key: String, now: i64 },
}

/// A counter object's answer.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Counted {
    total: u64,
    resets_at: i64,
}
