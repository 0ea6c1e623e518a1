//! Background tasks on the tokio runtime.

use alleato_core::messages::Spawner;

/// Spawns generations on the current tokio runtime, detached from the request that started
/// them: a client going away does not stop its answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn(&self, task: alleato_core::messages::Task) {
        tokio::spawn(task);
    }
}
