#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod platform;
pub mod sqlite;

pub use platform::{BlockingHasher, OsRng, SystemClock};
pub use sqlite::{SqliteOptions, SqliteStore};
