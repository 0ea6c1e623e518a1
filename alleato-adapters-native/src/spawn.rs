//! Generations on the tokio runtime.

use alleato_core::generations::Task;
use alleato_core::memory::MemoryGenerations;

/// Generations of this process, each spawned on the current tokio runtime, detached from the
/// request that started it: a client going away does not stop its answer.
pub fn tokio_generations() -> MemoryGenerations {
    MemoryGenerations::new(spawn)
}

/// Spawns `task` on the current tokio runtime and returns at once.
pub fn spawn(task: Task) {
    tokio::spawn(task);
}
