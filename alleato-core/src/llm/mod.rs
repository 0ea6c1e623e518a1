//! The language-model port: a streaming chat completion.

mod echo;
pub mod openai;
mod port;

pub use echo::{ECHO_FAIL_TRIGGER, EchoModel};
pub use port::{
    CompletionRequest, LanguageModel, LlmError, ModelEvent, ModelMessage, ModelRole, ModelRouter, ModelStream, Sleeper,
    Usage,
};
