use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::id::{ChatId, StreamId};

/// A boxed task: a generation's work, run beyond the request that started it.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Completes when a stop of the generation was asked, from anywhere (any request, any
/// process or isolate). It may never complete: a generation that nobody stops ends by itself.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A generation's work, given its stop signal when it starts.
pub type GenerationTask = Box<dyn FnOnce(StopSignal) -> Task + Send + 'static>;

/// The error of the [`Generations`] port.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerationError {
    /// Another generation holds the chat.
    #[error("a generation is already running in this chat")]
    Busy,
    /// The backend could not be reached or refused the request for now.
    #[error("generations unavailable: {0}")]
    Unavailable(String),
    /// Any other failure of the backend.
    #[error("{adapter} generations failed: {source}")]
    Backend {
        /// Which adapter failed.
        adapter: &'static str,
        /// The adapter's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where generations run: at most one per chat, each to its end whether or not a client still
/// follows it, each stoppable from any request.
///
/// A generation goes through `claim` → `run` → `release` (by its own task, at its end), or
/// `claim` → `release` when it never starts. Its stream id names it everywhere: every stream
/// id is claimed at most once. On one process the registry is a map and `run` spawns a task;
/// on Cloudflare it is the chat's Durable Object, and the generation runs inside it.
#[async_trait]
pub trait Generations: Send + Sync + 'static {
    /// Claims the chat's one generation for `stream`. From then until `release`, the
    /// generation counts as running (`is_running`, `stop`), even before `run`: a stop asked
    /// meanwhile is seen by the task as soon as it starts.
    ///
    /// # Errors
    /// `GenerationError::Busy` when another generation holds the chat (nothing changes then);
    /// `Unavailable` or `Backend` when the backend fails.
    async fn claim(&self, chat: ChatId, stream: StreamId) -> Result<(), GenerationError>;

    /// Runs a claimed generation to its end, beyond the request that started it: the client
    /// may go away. Returns at once. The task gets the generation's [`StopSignal`] and must
    /// call [`release`](Self::release) at its end. Running a `stream` that holds no claim is
    /// a caller's bug; adapters still run the task.
    fn run(&self, chat: ChatId, stream: StreamId, task: GenerationTask);

    /// Releases the claim: the generation ended (called by its task before it closes its
    /// stream, so that a client sending its next message on `[DONE]` is not refused as busy),
    /// or never started. From then on the generation is no longer running. Releasing a claim
    /// that `stream` does not hold changes nothing. Never fails: an adapter that cannot reach
    /// its backend lets the claim expire there.
    async fn release(&self, chat: ChatId, stream: StreamId);

    /// Asks the generation of `stream` to stop, wherever it runs, and waits until its task
    /// has ended (its answer saved). Returns `Ok(false)` at once when no generation of
    /// `stream` is running: then nothing writes its answer any more (it was orphaned by a
    /// crash), and the caller finishes it.
    ///
    /// # Errors
    /// `Unavailable` or `Backend` when the backend fails.
    async fn stop(&self, chat: ChatId, stream: StreamId) -> Result<bool, GenerationError>;

    /// Whether a generation of `stream` is running: claimed and not yet released.
    ///
    /// # Errors
    /// `Unavailable` or `Backend` when the backend fails.
    async fn is_running(&self, chat: ChatId, stream: StreamId) -> Result<bool, GenerationError>;
}
