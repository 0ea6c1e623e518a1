#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod llm;
pub mod platform;
pub mod sqlite;

pub use llm::TokioSleeper;
pub use platform::{BlockingHasher, OsRng, SystemClock};
pub use sqlite::{SqliteOptions, SqliteStore};
