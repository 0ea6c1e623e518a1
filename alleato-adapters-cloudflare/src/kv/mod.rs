//! Workers KV: the response cache. KV is eventually consistent across locations and keeps an
//! entry at least 60 seconds, which suits cached answers (and nothing exact: sessions live in
//! D1, counters in a Durable Object).

mod cache;

pub use cache::WorkersKvCache;

/// The adapter name in errors.
const ADAPTER: &str = "workers-kv";
