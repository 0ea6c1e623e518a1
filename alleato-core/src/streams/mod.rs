//! Streams: append-only event logs with live followers and replay from any sequence number.

mod log;
mod port;
mod service;

use std::time::Duration;

pub use log::EventLog;
pub use port::{
    EventStream, StreamError, StreamEvent, StreamHub, StreamHubExt, StreamId, StreamMeta, StreamStatus, StreamUsage,
};
pub use service::{GenerationProbe, StreamService, StreamUseError};

/// How long a closed stream's log stays readable: 24 hours.
pub const LOG_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
