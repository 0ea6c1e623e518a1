//! The [`Counters`] port on the counter Durable Object.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alleato_core::Timestamp;
use alleato_core::ports::{CacheError, Clock, CounterValue, Counters};
use async_trait::async_trait;
use wasm_bindgen::JsValue;
use worker::{Method, ObjectNamespace, Request, RequestInit};

use super::{ADAPTER, Counted, CounterRequest};
use crate::send::js;

/// Exact counters, one [`AlleatoCounter`](super::AlleatoCounter) object per key, timed by the
/// Worker's [`Clock`] (the object starts and ends windows at the times it is given).
#[derive(Clone)]
pub struct DurableCounters {
    namespace: ObjectNamespace,
    clock: Arc<dyn Clock>,
}

impl DurableCounters {
    /// Counters in the objects of this Durable Object namespace.
    pub fn new(namespace: ObjectNamespace, clock: Arc<dyn Clock>) -> Self {
        Self { namespace, clock }
    }

    async fn ask(&self, key: &str, asked: CounterRequest) -> Result<CounterValue, CacheError> {
        let body = serde_json::to_string(&asked).map_err(|e| failure(e.to_string()))?;
        let (namespace, key) = (self.namespace.clone(), key.to_owned());
        let counted: Counted = js(async move {
            let stub = namespace.get_by_name(&key).map_err(|e| failure(e.to_string()))?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
            // The URL only routes inside the object; it never leaves Cloudflare.
            let req = Request::new_with_init("https://counter.internal/", &init).map_err(|e| failure(e.to_string()))?;
            let mut res = stub
                .fetch_with_request(req)
                .await
                .map_err(|e| CacheError::Unavailable(e.to_string()))?;
            if res.status_code() != 200 {
                let text = res.text().await.unwrap_or_default();
                return Err(failure(format!("status {}: {text}", res.status_code())));
            }
            res.json::<Counted>().await.map_err(|e| failure(e.to_string()))
        })
        .await?;
        Ok(CounterValue {
            total: counted.total,
            resets_at: Timestamp::from_millis(counted.resets_at),
        })
    }
}

impl fmt::Debug for DurableCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableCounters").finish_non_exhaustive()
    }
}

/// A Durable Object failure as text (`worker::Error` may hold a `JsValue`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CounterFailure(String);

fn failure(why: String) -> CacheError {
    CacheError::Backend {
        adapter: ADAPTER,
        source: Box::new(CounterFailure(why)),
    }
}

#[async_trait]
impl Counters for DurableCounters {
    async fn increment(&self, key: &str, by: u64, window: Duration) -> Result<CounterValue, CacheError> {
        let asked = CounterRequest::Increment {
            key: key.to_owned(),
            by,
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            now: self.clock.now().as_millis(),
        };
        self.ask(key, asked).await
    }

    async fn get(&self, key: &str) -> Result<CounterValue, CacheError> {
        let asked = CounterRequest::Get {
            key: key.to_owned(),
            now: self.clock.now().as_millis(),
        };
        self.ask(key, asked).await
    }
}
