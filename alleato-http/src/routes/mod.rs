//! Handlers, one module per part of the API.

pub mod auth;
pub mod chats;
pub mod messages;
pub mod meta;
pub mod streams;
