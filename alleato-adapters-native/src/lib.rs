#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod access_log;
pub mod config;
pub mod llm;
pub mod platform;
pub mod serve;
pub mod spawn;
pub mod sqlite;

pub use llm::{OpenAiConfig, OpenAiConfigError, OpenAiModel, TokioSleeper};
pub use platform::{BlockingHasher, OsRng, SystemClock};
pub use sqlite::{SqliteCache, SqliteOptions, SqliteStore, SqliteStreamHub};
