//! OpenAI-compatible chat completions over the Workers `fetch`. What is sent and how the answer
//! is read are the core's ([`alleato_core::llm::openai`]), shared with the native client; this
//! is the transport.

use std::sync::Arc;

use alleato_core::llm::openai::{
    MAX_ERROR_BODY, MAX_JSON_BODY, OpenAiConfig, OpenAiConfigError, completion_events, idle_limited, request_body,
    silent, within,
};
use alleato_core::llm::{CompletionRequest, LanguageModel, LlmError, ModelStream, Sleeper};
use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use worker::{AbortController, Fetch, Headers, Method, Request, RequestInit};

use super::DelaySleeper;
use crate::send::{js, js_stream};

/// A language model served by an OpenAI-compatible `/chat/completions` endpoint, reached with
/// the Workers `fetch` and streamed over server-sent events.
pub struct FetchOpenAiModel {
    endpoint: String,
    config: OpenAiConfig,
    sleeper: Arc<dyn Sleeper>,
}

impl FetchOpenAiModel {
    /// A client of the provider described by `config`.
    ///
    /// # Errors
    /// [`OpenAiConfigError`] when the base URL is not an absolute http(s) URL or a header cannot
    /// be sent.
    pub fn new(config: OpenAiConfig) -> Result<Self, OpenAiConfigError> {
        let endpoint = config.endpoint()?;
        worker::Url::parse(&endpoint).map_err(|e| OpenAiConfigError::BaseUrl {
            url: config.base_url.clone(),
            reason: e.to_string(),
        })?;
        headers(&config)?;
        Ok(Self {
            endpoint,
            config,
            sleeper: Arc::new(DelaySleeper),
        })
    }

    /// Sends the request and waits for the response's head, within the idle timeout. The
    /// controller aborts the request when dropped.
    async fn send(&self, request: &CompletionRequest) -> Result<(worker::Response, Aborter), LlmError> {
        let headers = headers(&self.config).map_err(|e| LlmError::Unavailable(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(js_sys::Uint8Array::from(request_body(request).as_slice()).into()));
        let fetch_request =
            Request::new_with_init(&self.endpoint, &init).map_err(|e| LlmError::Unavailable(e.to_string()))?;
        let aborter = Aborter(Some(AbortController::default()));
        let signal = aborter.0.as_ref().map(AbortController::signal).expect("just made");
        let idle = self.config.idle_timeout;
        let response = within(
            self.sleeper.as_ref(),
            idle,
            Fetch::Request(fetch_request).send_with_signal(&signal),
        )
        .await;
        match response {
            None => Err(LlmError::Unavailable(format!(
                "no response within {}s",
                idle.as_secs_f64()
            ))),
            Some(Err(e)) => Err(LlmError::Unavailable(self.config.redact(&e.to_string()))),
            Some(Ok(response)) => Ok((response, aborter)),
        }
    }

    /// Reads at most `limit` bytes of the body, each piece within the idle timeout.
    async fn read_limited(&self, response: &mut worker::Response, limit: usize) -> Result<Vec<u8>, LlmError> {
        let idle = self.config.idle_timeout;
        let mut pieces = response.stream().map_err(|e| LlmError::Unavailable(e.to_string()))?;
        let mut body = Vec::new();
        loop {
            match within(self.sleeper.as_ref(), idle, pieces.next()).await {
                None => return Err(silent(idle)),
                Some(None) => return Ok(body),
                Some(Some(Err(e))) => return Err(LlmError::Unavailable(self.config.redact(&e.to_string()))),
                Some(Some(Ok(piece))) => {
                    body.extend_from_slice(&piece);
                    if body.len() >= limit {
                        body.truncate(limit);
                        return Ok(body);
                    }
                }
            }
        }
    }

    async fn complete(&self, request: CompletionRequest) -> Result<ModelStream, LlmError> {
        let (mut response, aborter) = self.send(&request).await?;
        let status = response.status_code();
        if !(200..300).contains(&status) {
            let body = self
                .read_limited(&mut response, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            return Err(self.config.status_error(status, reason(status), &body));
        }
        let is_json = response
            .headers()
            .get("content-type")
            .ok()
            .flatten()
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            let events = self
                .config
                .whole_answer(&self.read_limited(&mut response, MAX_JSON_BODY).await?)?;
            return Ok(Box::pin(stream::iter(events.into_iter().map(Ok))));
        }
        let config = self.config.clone();
        let pieces = response
            .stream()
            .map_err(|e| LlmError::Unavailable(e.to_string()))?
            .map(move |piece| piece.map_err(|e| LlmError::Unavailable(config.redact(&e.to_string()))));
        let pieces = Box::pin(idle_limited(pieces, self.sleeper.clone(), self.config.idle_timeout));
        // The request lives as long as its events are read, and is aborted when they are dropped
        // (a stopped generation stops the provider's too).
        let events = completion_events(pieces).map(move |event| {
            let _request = &aborter;
            event
        });
        Ok(Box::pin(js_stream(events)))
    }
}

#[async_trait]
impl LanguageModel for FetchOpenAiModel {
    async fn stream(&self, request: CompletionRequest) -> Result<ModelStream, LlmError> {
        js(self.complete(request)).await
    }
}

/// Aborts the provider's request when dropped.
struct Aborter(Option<AbortController>);

impl Drop for Aborter {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}

/// The request's headers, as the Workers `Headers`.
fn headers(config: &OpenAiConfig) -> Result<Headers, OpenAiConfigError> {
    let headers = Headers::new();
    for (name, value) in config.request_headers() {
        headers.set(&name, &value).map_err(|_| {
            if name == "authorization" {
                OpenAiConfigError::Header("Authorization: the API key is not valid".to_owned())
            } else {
                OpenAiConfigError::Header(format!("{name}: the name or value is not valid"))
            }
        })?;
    }
    headers
        .set("user-agent", concat!("alleato/", env!("CARGO_PKG_VERSION")))
        .map_err(|_| OpenAiConfigError::Header("user-agent".to_owned()))?;
    Ok(headers)
}

/// The reason phrase of the statuses providers answer with, for errors without a message.
fn reason(status: u16) -> Option<&'static str> {
    http::StatusCode::from_u16(status).ok()?.canonical_reason()
}
