//! The errors of the message use cases.

use crate::chats::ChatError;
use crate::generations::GenerationError;
use crate::id::MessageId;
use crate::llm::LlmError;
use crate::ports::CacheError;
use crate::store::StoreError;
use crate::streams::StreamError;
use crate::validation::FieldError;

/// The errors of the message use cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Input fields failed validation.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The chat is missing or not the caller's to read.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The message is missing or not the caller's.
    #[error("message {0} not found")]
    MessageNotFound(MessageId),
    /// A generation is already running in this chat.
    #[error("a generation is already running in this chat")]
    Busy,
    /// The daily message quota is used up.
    #[error("daily message quota of {limit} reached")]
    QuotaExceeded {
        /// The quota.
        limit: u64,
        /// Seconds until it resets (midnight UTC).
        resets_in_secs: u64,
    },
    /// The model could not start answering.
    #[error(transparent)]
    Upstream(#[from] LlmError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stream hub failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The generations port failed.
    #[error(transparent)]
    Generation(GenerationError),
}

impl From<GenerationError> for MessageError {
    fn from(e: GenerationError) -> Self {
        match e {
            GenerationError::Busy => Self::Busy,
            other => Self::Generation(other),
        }
    }
}
