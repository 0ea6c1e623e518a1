//! The `Sleeper` port on tokio's timer.

use std::time::Duration;

use alleato_core::llm::Sleeper;
use async_trait::async_trait;

/// Waits with `tokio::time::sleep`; needs a tokio runtime with the timer enabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}
