#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod auth;
pub mod builder;
pub mod cache;
pub mod chats;
pub mod generations;
pub mod id;
mod join;
pub mod limits;
pub mod llm;
pub mod memory;
pub mod messages;
pub mod models;
pub mod page;
pub mod ports;
pub mod signal;
pub mod store;
pub mod streams;
mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod validation;

pub use id::{ChatId, MessageId, SessionId, StreamId, UserId};
pub use time::Timestamp;
