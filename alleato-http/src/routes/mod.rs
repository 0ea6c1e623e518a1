//! Handlers, one module per part of the API.

pub mod auth;
pub mod chats;
pub mod messages;
pub mod meta;
pub mod streams;

use alleato_core::ChatId;

use crate::error::ApiError;
use crate::extract::path_id;

/// The chat id of a path (or of a body field naming a chat); a malformed one names no chat.
pub(crate) fn chat_id(raw: &str) -> Result<ChatId, ApiError> {
    path_id(raw, &format!("chat {raw}"))
}
