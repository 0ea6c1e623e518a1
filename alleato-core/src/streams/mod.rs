//! Streams: append-only event logs with live followers and replay from any sequence number.

mod port;
mod service;

pub use port::{
    EventStream, StreamError, StreamEvent, StreamHub, StreamId, StreamMeta, StreamStatus,
};
pub use service::{GenerationProbe, StreamService, StreamUseError};
