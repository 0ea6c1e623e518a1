use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;

/// Who said a message of the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRole {
    /// Instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

impl ModelRole {
    /// The OpenAI-style name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of the context sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMessage {
    /// Its author.
    pub role: ModelRole,
    /// Its text.
    pub text: String,
}

/// A streaming completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRequest {
    /// The model id (from the catalog).
    pub model: String,
    /// The whole context, oldest first.
    pub messages: Vec<ModelMessage>,
}

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
}

/// What a model stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelEvent {
    /// The next piece of the answer's text.
    TextDelta(String),
    /// Token usage so far. It may come more than once (some providers report input tokens at
    /// the start and the total at the end); the last report wins.
    Usage(Usage),
}

/// The answer as it arrives. It ends when the model is done; an `Err` item ends it early.
pub type ModelStream = Pin<Box<dyn Stream<Item = Result<ModelEvent, LlmError>> + Send>>;

/// Why a model could not answer (all map to `upstream_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The provider answered with an error status.
    #[error("the model provider answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The provider's message, shortened.
        message: String,
    },
    /// The provider could not be reached, or stopped answering.
    #[error("the model provider is unreachable: {0}")]
    Unavailable(String),
    /// The provider sent something that is not a valid stream chunk.
    #[error("the model provider sent a malformed response: {0}")]
    Malformed(String),
    /// No adapter serves this model id.
    #[error("no adapter serves model {0}")]
    UnknownModel(String),
    /// The model failed mid-answer (the echo model does this on request).
    #[error("{0}")]
    Failed(String),
}

/// A streaming chat-completion model.
#[async_trait]
pub trait LanguageModel: Send + Sync + 'static {
    /// Starts a completion. Connection and status errors come back here; errors after the
    /// first byte come as an `Err` item of the stream, which then ends.
    ///
    /// # Errors
    /// `LlmError::Status`, `Unavailable` or `UnknownModel` when the completion cannot start.
    async fn stream(&self, request: CompletionRequest) -> Result<ModelStream, LlmError>;
}

/// Waits; the runtime's timer (tokio's, or the Workers' scheduler).
#[async_trait]
pub trait Sleeper: Send + Sync + 'static {
    /// Returns after `d`.
    async fn sleep(&self, d: Duration);
}

/// Dispatches each request to the adapter that serves its model id.
#[derive(Default, Clone)]
pub struct ModelRouter {
    routes: HashMap<String, Arc<dyn LanguageModel>>,
}

impl ModelRouter {
    /// No models yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `model` with `adapter`.
    pub fn with(mut self, model: impl Into<String>, adapter: Arc<dyn LanguageModel>) -> Self {
        self.routes.insert(model.into(), adapter);
        self
    }
}

#[async_trait]
impl LanguageModel for ModelRouter {
    async fn stream(&self, request: CompletionRequest) -> Result<ModelStream, LlmError> {
        match self.routes.get(&request.model) {
            Some(adapter) => adapter.stream(request).await,
            None => Err(LlmError::UnknownModel(request.model)),
        }
    }
}
