use async_trait::async_trait;

use super::model::{DailyUsage, Message, MessageListQuery, Role, Turn, Vote};
use crate::id::{ChatId, MessageId, UserId};
use crate::llm::Usage;
use crate::page::Cursor;
use crate::page::Limit;
use crate::store::StoreError;

/// Durable storage of messages and votes.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Stores a new message and moves its chat's `updated_at` up to the message's time.
    ///
    /// # Errors
    /// `StoreError::NotFound` when the chat does not exist; `Conflict("message")` when the id
    /// is taken.
    async fn insert_message(&self, message: &Message) -> Result<(), StoreError>;

    /// Makes a send's writes atomically: adds one message to the quota's count when it is below
    /// the limit, and only then deletes the answer `replaces`, stores the question and the answer,
    /// and moves the chat's `updated_at` up to them. Returns the new count, or `None` when the
    /// limit is reached and nothing changed.
    ///
    /// # Errors
    /// `StoreError::NotFound` when the chat (or the message to replace) does not exist;
    /// `Conflict("message")` when an id is taken. Nothing changed then, the count included.
    async fn insert_turn(&self, turn: &Turn<'_>) -> Result<Option<u64>, StoreError>;

    /// Replaces a message's parts, status, model and usage.
    ///
    /// # Errors
    /// `StoreError::NotFound` when it does not exist.
    async fn update_message(&self, message: &Message) -> Result<(), StoreError>;

    /// The message with this id, or `None`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError>;

    /// A chat's messages older than the cursor (all when `None`), newest first, at most
    /// `limit + 1` of them.
    ///
    /// # Errors
    /// Backend failures only.
    async fn list_messages(&self, query: &MessageListQuery) -> Result<Vec<Message>, StoreError>;

    /// The role and text of the chat's latest `limit` messages that have text and are not
    /// being generated, oldest first: a model's context. Reads only what the model needs.
    ///
    /// # Errors
    /// Backend failures only.
    async fn context(&self, chat_id: ChatId, limit: Limit) -> Result<Vec<(Role, String)>, StoreError>;

    /// Deletes one message (and its votes).
    ///
    /// # Errors
    /// `StoreError::NotFound` when it does not exist.
    async fn delete_message(&self, id: MessageId) -> Result<(), StoreError>;

    /// Deletes every message of the chat after the cursor position, returning how many.
    ///
    /// # Errors
    /// Backend failures only.
    async fn delete_messages_after(&self, chat_id: ChatId, after: Cursor) -> Result<u64, StoreError>;

    /// Every message still marked `streaming`, oldest first: after a restart, those whose
    /// generation died with the previous process.
    ///
    /// # Errors
    /// Backend failures only.
    async fn streaming_messages(&self) -> Result<Vec<Message>, StoreError>;

    /// Casts or changes the user's vote on a message.
    ///
    /// # Errors
    /// `StoreError::NotFound` when the message does not exist.
    async fn upsert_vote(&self, vote: &Vote) -> Result<(), StoreError>;

    /// The votes on a chat's messages, oldest message first.
    ///
    /// # Errors
    /// Backend failures only.
    async fn votes(&self, chat_id: ChatId) -> Result<Vec<Vote>, StoreError>;
}

/// Per-user, per-day usage counts, durable and atomic.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// Adds one message to the user's count for `day` (days since the epoch, UTC) when the
    /// count is below `limit`, and returns the new count; returns `None`, adding nothing, when
    /// the limit is reached. Atomic: concurrent calls never pass the limit together.
    ///
    /// # Errors
    /// Backend failures only.
    async fn count_message(&self, user: UserId, day: i64, limit: u64) -> Result<Option<u64>, StoreError>;

    /// Adds token usage to the user's totals for `day`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn add_tokens(&self, user: UserId, day: i64, usage: Usage) -> Result<(), StoreError>;

    /// The user's totals for `day` (zeros when nothing was recorded).
    ///
    /// # Errors
    /// Backend failures only.
    async fn daily_usage(&self, user: UserId, day: i64) -> Result<DailyUsage, StoreError>;
}
