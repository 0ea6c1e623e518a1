//! Language models: an OpenAI-compatible chat-completions client over reqwest, and the tokio
//! timer that the core's built-in echo model waits on.

mod openai;
mod sleeper;

pub use openai::{OpenAiConfig, OpenAiConfigError, OpenAiModel};
pub use sleeper::TokioSleeper;
