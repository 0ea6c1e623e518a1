#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod auth;
pub mod chats;
pub mod id;
pub mod memory;
pub mod models;
pub mod page;
pub mod ports;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod validation;

pub use id::{ChatId, SessionId, UserId};
pub use time::Timestamp;
