use async_trait::async_trait;

use super::model::{Chat, ChatListQuery};
use crate::id::{ChatId, UserId};
use crate::store::StoreError;

/// Durable storage of chats.
#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Stores a new chat.
    ///
    /// # Errors
    /// `StoreError::Conflict("chat")` when the id is taken, or was a deleted chat's: ids are
    /// never used twice, so that a link to a deleted chat never shows another.
    async fn insert_chat(&self, chat: &Chat) -> Result<(), StoreError>;

    /// The chat with this id, whoever owns it, or `None`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn chat(&self, id: ChatId) -> Result<Option<Chat>, StoreError>;

    /// Replaces the title, visibility, model and `updated_at` of an existing chat.
    ///
    /// # Errors
    /// `StoreError::NotFound` when the chat does not exist.
    async fn update_chat(&self, chat: &Chat) -> Result<(), StoreError>;

    /// Deletes a chat and everything that belongs to it, and retires its id: no chat is ever
    /// created with it again.
    ///
    /// # Errors
    /// `StoreError::NotFound` when the chat does not exist.
    async fn delete_chat(&self, id: ChatId) -> Result<(), StoreError>;

    /// Removes a chat that has no message yet, leaving its id free: undoes the creation of a
    /// chat for a first message that was refused.
    ///
    /// # Errors
    /// `StoreError::NotFound` when the chat does not exist or has messages (it is kept then).
    async fn discard_empty_chat(&self, id: ChatId) -> Result<(), StoreError>;

    /// How many chats `owner` has.
    ///
    /// # Errors
    /// Backend failures only.
    async fn count_chats(&self, owner: UserId) -> Result<u64, StoreError>;

    /// The owner's chats, newest `updated_at` first (ties: higher id first), after the cursor,
    /// at most `limit + 1` of them. With a search, only chats whose title or any message's
    /// text contains it ([`SearchText::matches`](super::SearchText::matches) semantics).
    ///
    /// # Errors
    /// Backend failures only.
    async fn list_chats(&self, query: &ChatListQuery) -> Result<Vec<Chat>, StoreError>;
}
