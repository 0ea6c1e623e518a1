//! Language models in a Worker: the OpenAI-compatible client over `fetch`, and the timer the
//! core's built-in echo model waits on.

mod openai;
mod sleeper;

pub use openai::FetchOpenAiModel;
pub use sleeper::DelaySleeper;
