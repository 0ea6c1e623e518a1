use std::sync::Arc;

use async_trait::async_trait;

use super::port::{EventStream, StreamError, StreamHub, StreamId, StreamMeta, StreamStatus};
use crate::chats::{ChatError, ChatService};
use crate::generations::GenerationError;
use crate::id::{ChatId, UserId};
use crate::limits::{Limit, LimitExceeded, LimitPolicy};
use crate::ports::{Clock, Rng};
use crate::store::StoreError;

/// The errors of the stream use cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamUseError {
    /// No such stream, or not the caller's.
    #[error("stream {0} not found")]
    NotFound(StreamId),
    /// The stream is closed, or written by a running generation.
    #[error("{0}")]
    Conflict(&'static str),
    /// The chat named is not the caller's.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The hub failed.
    #[error(transparent)]
    Hub(StreamError),
    /// The generations port failed.
    #[error(transparent)]
    Generation(GenerationError),
    /// The write would take the user past one of their caps; nothing was written.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// The user store failed (looking up the caller's caps).
    #[error(transparent)]
    Store(StoreError),
}

/// Tells whether a stream is being written by a running generation.
#[async_trait]
pub trait GenerationProbe: Send + Sync + 'static {
    /// Whether a generation of `chat` is appending to `stream` right now, wherever it runs.
    ///
    /// # Errors
    /// When the generations backend fails.
    async fn is_generating(&self, chat: ChatId, stream: StreamId) -> Result<bool, GenerationError>;
}

/// Client-owned streams: create, follow, append, close. Only the owner may touch a stream.
pub struct StreamService {
    hub: Arc<dyn StreamHub>,
    chats: Arc<ChatService>,
    generations: Arc<dyn GenerationProbe>,
    limits: Arc<LimitPolicy>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
}

impl StreamService {
    /// The service over its ports, holding each user to the caps of `limits`.
    pub fn new(
        hub: Arc<dyn StreamHub>,
        chats: Arc<ChatService>,
        generations: Arc<dyn GenerationProbe>,
        limits: Arc<LimitPolicy>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
    ) -> Self {
        Self {
            hub,
            chats,
            generations,
            limits,
            clock,
            rng,
        }
    }

    /// Opens a new stream, optionally tied to one of the caller's chats.
    ///
    /// # Errors
    /// `Chat` when the chat is not the caller's; `Limit` when the caller has as many open
    /// streams as they may.
    pub async fn create(&self, owner: UserId, chat_id: Option<ChatId>) -> Result<StreamMeta, StreamUseError> {
        if let Some(chat) = chat_id {
            self.chats.owned(owner, chat).await?;
        }
        let caps = self.limits.of(owner).await.map_err(StreamUseError::Store)?;
        let usage = self.hub.usage(owner, None).await.map_err(StreamUseError::Hub)?;
        caps.check(Limit::OpenStreams, usage.open_streams.saturating_add(1))?;
        let meta = StreamMeta {
            id: StreamId::generate(&*self.clock, &*self.rng),
            owner,
            chat_id,
            status: StreamStatus::Open,
            created_at: self.clock.now(),
        };
        self.hub.create(&meta).await.map_err(StreamUseError::Hub)?;
        Ok(meta)
    }

    /// The caller's stream.
    ///
    /// # Errors
    /// `NotFound` for missing streams and for other users' streams alike.
    pub async fn get(&self, owner: UserId, id: StreamId) -> Result<StreamMeta, StreamUseError> {
        match self.hub.meta(id).await.map_err(StreamUseError::Hub)? {
            Some(meta) if meta.owner == owner => Ok(meta),
            _ => Err(StreamUseError::NotFound(id)),
        }
    }

    /// Events after `after`, then live ones until the stream closes.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn follow(&self, owner: UserId, id: StreamId, after: Option<u64>) -> Result<EventStream, StreamUseError> {
        self.get(owner, id).await?;
        self.hub.follow(id, after).await.map_err(|e| self.hub_error(id, e))
    }

    /// Appends one JSON event.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` when the stream is closed or belongs to a running generation;
    /// `Limit` when the event would take the stream or the caller's streams past a cap.
    pub async fn append(&self, owner: UserId, id: StreamId, data: &str) -> Result<u64, StreamUseError> {
        let meta = self.get(owner, id).await?;
        if self.is_generating(&meta).await? {
            return Err(StreamUseError::Conflict(
                "this stream is written by a running generation",
            ));
        }
        if meta.status == StreamStatus::Closed {
            return Err(StreamUseError::Conflict("the stream is closed"));
        }
        let caps = self.limits.of(owner).await.map_err(StreamUseError::Store)?;
        let usage = self.hub.usage(owner, Some(id)).await.map_err(StreamUseError::Hub)?;
        let len = data.len() as u64;
        caps.check(Limit::StreamEvents, usage.stream_events.saturating_add(1))?;
        caps.check(Limit::StreamBytes, usage.stream_bytes.saturating_add(len))?;
        caps.check(Limit::UserStreamBytes, usage.bytes.saturating_add(len))?;
        self.hub
            .append(id, &[data.to_owned()])
            .await
            .map_err(|e| self.hub_error(id, e))
    }

    /// Closes the stream: followers get the end; the log stays readable until it expires.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` for a running generation's stream (stop the chat instead).
    pub async fn close(&self, owner: UserId, id: StreamId) -> Result<(), StreamUseError> {
        let meta = self.get(owner, id).await?;
        if self.is_generating(&meta).await? {
            return Err(StreamUseError::Conflict(
                "this stream is written by a running generation; stop the chat instead",
            ));
        }
        self.hub.close(id).await.map_err(|e| self.hub_error(id, e))
    }

    /// Whether a generation writes the stream: only a chat's streams can be a generation's.
    async fn is_generating(&self, meta: &StreamMeta) -> Result<bool, StreamUseError> {
        match meta.chat_id {
            Some(chat) => self
                .generations
                .is_generating(chat, meta.id)
                .await
                .map_err(StreamUseError::Generation),
            None => Ok(false),
        }
    }

    fn hub_error(&self, id: StreamId, e: StreamError) -> StreamUseError {
        match e {
            StreamError::NotFound => StreamUseError::NotFound(id),
            StreamError::Closed => StreamUseError::Conflict("the stream is closed"),
            other => StreamUseError::Hub(other),
        }
    }
}
