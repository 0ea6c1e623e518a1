//! The [`Generations`] port on D1 and `ctx.wait_until`: the provisional Cloudflare runtime of
//! generations, until they move into Durable Objects.
//!
//! A claim is a row of `generation_claims` with a lease. The generation runs inside the sending
//! request's `waitUntil` (in workerd a client disconnect cancels the response stream, but not
//! what `waitUntil` holds) and polls its claim on its own timer: each poll renews the lease and
//! reads whether a stop was asked, from whichever isolate. Nothing is ever woken across request
//! contexts. A generation whose isolate died stops renewing: once its lease has run out, its chat
//! can be claimed again and a stop treats its answer as orphaned.

use std::sync::Arc;
use std::time::Duration;

use alleato_core::generations::{GenerationError, GenerationTask, Generations, StopSignal};
use alleato_core::id::{ChatId, StreamId};
use alleato_core::llm::Sleeper;
use alleato_core::ports::Clock;
use alleato_core::store::StoreError;
use async_trait::async_trait;
use serde_json::Value;
use worker::Context;

use super::{D1Store, Query, id};
use crate::llm::DelaySleeper;
use crate::send::js;

/// How long a claim lives without being renewed.
const LEASE: Duration = Duration::from_secs(30);
/// How often a running generation renews its claim and looks for a stop.
const POLL: Duration = Duration::from_millis(250);
/// How often a stop looks whether the generation has ended.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Generations claimed in D1 and run in the request's `waitUntil`. Build one per request: the
/// [`Context`] is the request's.
#[derive(Clone)]
pub struct D1Generations {
    store: D1Store,
    clock: Arc<dyn Clock>,
    ctx: Arc<Context>,
}

impl std::fmt::Debug for D1Generations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("D1Generations").finish_non_exhaustive()
    }
}

impl D1Generations {
    /// Generations on `store`, run within the request whose context `ctx` is.
    pub fn new(store: D1Store, clock: Arc<dyn Clock>, ctx: Arc<Context>) -> Self {
        Self { store, clock, ctx }
    }

    fn lease_end(&self) -> i64 {
        lease_end(&*self.clock)
    }

    /// The end of the stream's claim's lease, or `None` when it holds none.
    async fn lease(&self, chat: ChatId, stream: StreamId) -> Result<Option<i64>, GenerationError> {
        let row = self
            .store
            .row(Query::new(
                alleato_sql::GENERATION_LEASE,
                vec![id(chat.as_uuid()), id(stream.as_uuid())],
            ))
            .await
            .map_err(unavailable)?;
        Ok(row.and_then(|r| r.first().and_then(Value::as_i64)))
    }
}

fn lease_end(clock: &dyn Clock) -> i64 {
    clock.now().as_millis() + LEASE.as_millis() as i64
}

fn unavailable(e: StoreError) -> GenerationError {
    GenerationError::Unavailable(e.to_string())
}

/// Ready when a stop of the generation was asked, or when its claim is no longer its own (taken
/// over after its lease ran out while this isolate was stalled): either way it must end. Renews
/// the lease at every poll; a failed poll is retried at the next.
async fn stop_requested(store: D1Store, clock: Arc<dyn Clock>, chat: ChatId, stream: StreamId) {
    loop {
        DelaySleeper.sleep(POLL).await;
        let renew = Query::new(
            alleato_sql::RENEW_GENERATION,
            vec![id(chat.as_uuid()), id(stream.as_uuid()), lease_end(&*clock).into()],
        );
        match store.row(renew).await {
            Ok(Some(row)) if row.first().and_then(Value::as_i64) == Some(0) => {}
            Ok(_) => return,
            Err(_) => {}
        }
    }
}

#[async_trait]
impl Generations for D1Generations {
    async fn claim(&self, chat: ChatId, stream: StreamId) -> Result<(), GenerationError> {
        let now = self.clock.now().as_millis();
        let claimed = self
            .store
            .run(Query::new(
                alleato_sql::CLAIM_GENERATION,
                vec![
                    id(chat.as_uuid()),
                    id(stream.as_uuid()),
                    self.lease_end().into(),
                    now.into(),
                ],
            ))
            .await
            .map_err(unavailable)?;
        if claimed == 0 {
            Err(GenerationError::Busy)
        } else {
            Ok(())
        }
    }

    fn run(&self, chat: ChatId, stream: StreamId, task: GenerationTask) {
        let stop: StopSignal = Box::pin(js(stop_requested(self.store.clone(), self.clock.clone(), chat, stream)));
        self.ctx.wait_until(task(stop));
    }

    async fn release(&self, chat: ChatId, stream: StreamId) {
        // A claim that cannot be deleted now runs out with its lease.
        let _ = self
            .store
            .run(Query::new(
                alleato_sql::RELEASE_GENERATION,
                vec![id(chat.as_uuid()), id(stream.as_uuid())],
            ))
            .await;
    }

    async fn stop(&self, chat: ChatId, stream: StreamId) -> Result<bool, GenerationError> {
        let now = self.clock.now().as_millis();
        let asked = self
            .store
            .run(Query::new(
                alleato_sql::REQUEST_GENERATION_STOP,
                vec![id(chat.as_uuid()), id(stream.as_uuid()), now.into()],
            ))
            .await
            .map_err(unavailable)?;
        if asked == 0 {
            return Ok(false);
        }
        // The generation deletes its claim once its answer is saved; a claim whose lease runs
        // out first belonged to a generation that died meanwhile.
        loop {
            DelaySleeper.sleep(STOP_POLL).await;
            match self.lease(chat, stream).await? {
                None => return Ok(true),
                Some(until) if until <= self.clock.now().as_millis() => return Ok(false),
                Some(_) => {}
            }
        }
    }

    async fn is_running(&self, chat: ChatId, stream: StreamId) -> Result<bool, GenerationError> {
        let now = self.clock.now().as_millis();
        Ok(self.lease(chat, stream).await?.is_some_and(|until| until > now))
    }
}
