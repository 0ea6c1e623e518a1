//! Chats: ownership, visibility, titles and listing.

mod model;
mod port;
mod service;

pub use model::{Chat, ChatListQuery, ChatTitle, SearchText, Visibility};
pub use port::ChatStore;
pub use service::{ChatError, ChatPatch, ChatService, NewChat};
