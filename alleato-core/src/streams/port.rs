use std::pin::Pin;

use async_trait::async_trait;
use futures_core::Stream;

use crate::id::{ChatId, UserId};
use crate::time::Timestamp;

pub use crate::id::StreamId;

/// Whether a stream still takes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// Appends are accepted; followers wait for more.
    Open,
    /// No more events; followers get the log and the end.
    Closed,
}

impl StreamStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// A stream's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMeta {
    /// Id.
    pub id: StreamId,
    /// Who may read, append to and close it.
    pub owner: UserId,
    /// The chat it belongs to, for generations.
    pub chat_id: Option<ChatId>,
    /// Open or closed.
    pub status: StreamStatus,
    /// When it was made.
    pub created_at: Timestamp,
}

/// One event of a stream's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// Its position: 0, 1, 2… without gaps.
    pub seq: u64,
    /// Its payload: one JSON text.
    pub data: String,
}

/// What a user's streams hold, for the per-user caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamUsage {
    /// The user's streams that are open.
    pub open_streams: u64,
    /// The bytes of the events of all the user's streams still stored (closed ones too).
    pub bytes: u64,
    /// The events of the one stream asked about (0 when none was).
    pub stream_events: u64,
    /// The bytes of the events of that stream (0 when none was).
    pub stream_bytes: u64,
}

/// Events as they come: first the log after the requested point, then live ones; it ends
/// when the stream is closed (or deleted).
pub type EventStream = Pin<Box<dyn Stream<Item = StreamEvent> + Send>>;

/// The error of the [`StreamHub`] port.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// No such stream (or its log has expired).
    #[error("stream not found")]
    NotFound,
    /// The stream is closed and takes no more events.
    #[error("stream is closed")]
    Closed,
    /// The id is taken.
    #[error("stream already exists")]
    Conflict,
    /// An append of no events: there is no sequence number to return.
    #[error("nothing to append")]
    EmptyBatch,
    /// The backend is unavailable for now.
    #[error("stream hub unavailable: {0}")]
    Unavailable(String),
    /// Any other failure of the backend.
    #[error("{adapter} stream hub failed: {source}")]
    Backend {
        /// Which adapter failed.
        adapter: &'static str,
        /// The adapter's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Append-only event logs with live followers.
///
/// Every event appended is durable once `append` returns, so a follower that reconnects (even
/// after a restart of the server) can replay it.
#[async_trait]
pub trait StreamHub: Send + Sync + 'static {
    /// Creates an open, empty stream.
    ///
    /// # Errors
    /// `StreamError::Conflict` when the id exists.
    async fn create(&self, meta: &StreamMeta) -> Result<(), StreamError>;

    /// The stream's metadata, or `None`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn meta(&self, id: StreamId) -> Result<Option<StreamMeta>, StreamError>;

    /// Appends a batch of events, in order, and returns the sequence number of the last one.
    /// The batch is durable as a whole (one commit where the backend commits) and takes
    /// consecutive sequence numbers: a concurrent append lands before or after it, never in
    /// it. Live followers receive the events once they are durable.
    ///
    /// # Errors
    /// `NotFound`; `Closed` when the stream is closed; `EmptyBatch` when `data` is empty.
    /// Nothing was appended then.
    async fn append(&self, id: StreamId, data: &[String]) -> Result<u64, StreamError>;

    /// The log as it is now: every event with a sequence number greater than `after` (all of
    /// them when `None`), without waiting for more. Reads an open stream's events so far and a
    /// closed stream's whole log alike.
    ///
    /// # Errors
    /// `NotFound`.
    async fn events(&self, id: StreamId, after: Option<u64>) -> Result<Vec<StreamEvent>, StreamError>;

    /// Closes the stream: followers receive the rest of the log and then the end. Closing a
    /// closed stream is not an error.
    ///
    /// # Errors
    /// `NotFound`.
    async fn close(&self, id: StreamId) -> Result<(), StreamError>;

    /// Every event with a sequence number greater than `after` (all of them when `None`), then
    /// live events until the stream closes.
    ///
    /// # Errors
    /// `NotFound`.
    async fn follow(&self, id: StreamId, after: Option<u64>) -> Result<EventStream, StreamError>;

    /// Deletes the stream and its log; followers get the end.
    ///
    /// # Errors
    /// `NotFound`.
    async fn delete(&self, id: StreamId) -> Result<(), StreamError>;

    /// What `owner`'s streams hold now, and what `stream` holds when given (a stream of
    /// another user's, or none, counts as empty). An event's bytes are the length of its data.
    ///
    /// # Errors
    /// Backend failures only.
    async fn usage(&self, owner: UserId, stream: Option<StreamId>) -> Result<StreamUsage, StreamError>;

    /// Deletes every stream of a chat (the chat is being deleted); their followers get the end.
    ///
    /// # Errors
    /// Backend failures only.
    async fn delete_chat_streams(&self, chat: ChatId) -> Result<(), StreamError>;
}

/// Conveniences built on [`StreamHub`], for every hub.
#[async_trait]
pub trait StreamHubExt: StreamHub {
    /// Appends one event and returns its sequence number.
    ///
    /// # Errors
    /// As [`StreamHub::append`].
    async fn append_one(&self, id: StreamId, data: &str) -> Result<u64, StreamError> {
        self.append(id, &[data.to_owned()]).await
    }
}

impl<T: StreamHub + ?Sized> StreamHubExt for T {}
