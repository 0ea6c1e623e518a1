//! Generations beyond the response: `ctx.wait_until`.

use std::sync::Arc;

use alleato_core::messages::{Spawner, Task};
use worker::Context;

/// Runs a task with the request's `waitUntil`, so it continues when the client goes away (in
/// workerd a client disconnect cancels the response stream, and with it anything driven only
/// by the response body). The `Context` belongs to one request: build one spawner per request.
#[derive(Debug, Clone)]
pub struct WaitUntilSpawner {
    ctx: Arc<Context>,
}

impl WaitUntilSpawner {
    /// The spawner of the request whose context this is.
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }
}

impl Spawner for WaitUntilSpawner {
    fn spawn(&self, task: Task) {
        self.ctx.wait_until(task);
    }
}
