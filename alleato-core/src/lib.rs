#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod auth;
pub mod cache;
pub mod chats;
pub mod id;
mod join;
pub mod llm;
pub mod memory;
pub mod messages;
pub mod models;
pub mod page;
pub mod ports;
pub mod signal;
pub mod store;
pub mod streams;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(any(test, feature = "testing"))]
pub mod testing_messages;
#[cfg(any(test, feature = "testing"))]
pub mod testing_streams;
pub mod time;
pub mod validation;

pub use id::{ChatId, MessageId, SessionId, StreamId, UserId};
pub use time::Timestamp;
