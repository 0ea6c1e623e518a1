//! Streams: append-only event logs with live followers and replay from any sequence number.

mod port;

pub use port::{EventStream, StreamError, StreamEvent, StreamHub, StreamId, StreamMeta, StreamStatus};
