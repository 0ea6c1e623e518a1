//! The `Sleeper` port on the Workers timer.

use std::time::Duration;

use alleato_core::llm::Sleeper;
use async_trait::async_trait;

use crate::send::js;

/// Waits on the runtime's timer (`setTimeout`, through `worker::Delay`).
///
/// The timer belongs to the request that awaits it, which is what workerd requires: nothing
/// here is woken by another request.
#[derive(Debug, Clone, Copy, Default)]
pub struct DelaySleeper;

#[async_trait]
impl Sleeper for DelaySleeper {
    async fn sleep(&self, d: Duration) {
        js(worker::Delay::from(d)).await;
    }
}
