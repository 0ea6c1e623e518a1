//! Handlers, one module per part of the API.

pub mod auth;
pub mod chats;
pub mod meta;
pub mod messages;
pub mod streams;
