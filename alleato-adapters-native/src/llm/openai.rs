//! A client of OpenAI-compatible chat-completion endpoints (OpenAI, OpenRouter, Ollama, vLLM,
//! llama.cpp's server…) over reqwest. What is sent and how the answer is read are the core's
//! ([`alleato_core::llm::openai`]), shared with the Worker's client; this is the transport.

use std::fmt;
use std::sync::Arc;

use alleato_core::llm::openai::{
    MAX_ERROR_BODY, MAX_JSON_BODY, completion_events, idle_limited, request_body, silent, within,
};
pub use alleato_core::llm::openai::{OpenAiConfig, OpenAiConfigError};
use alleato_core::llm::{CompletionRequest, LanguageModel, LlmError, ModelStream, Sleeper};
use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::TokioSleeper;

/// A language model served by an OpenAI-compatible `/chat/completions` endpoint, streamed over
/// server-sent events.
///
/// The request's model id is sent to the provider as is. One `OpenAiModel` serves any number of
/// model ids: register it in a [`ModelRouter`](alleato_core::llm::ModelRouter) under each.
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct OpenAiModel {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    config: OpenAiConfig,
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiModel")
            .field("endpoint", &self.endpoint.as_str())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OpenAiModel {
    /// A client of the provider described by `config`.
    ///
    /// # Errors
    /// [`OpenAiConfigError`] when the base URL is not an absolute http(s) URL, a header is invalid,
    /// or the HTTP client cannot be created.
    pub fn new(mut config: OpenAiConfig) -> Result<Self, OpenAiConfigError> {
        config.api_key = config.api_key.filter(|k| !k.is_empty());
        let endpoint = reqwest::Url::parse(&config.endpoint()?).map_err(|e| OpenAiConfigError::BaseUrl {
            url: config.base_url.clone(),
            reason: e.to_string(),
        })?;
        let mut headers = HeaderMap::new();
        for (name, value) in config.request_headers() {
            let invalid = |what: &str| {
                if name == "authorization" && config.api_key.is_some() {
                    OpenAiConfigError::Header("Authorization: the API key is not valid".to_owned())
                } else {
                    OpenAiConfigError::Header(format!("{name}: {what}"))
                }
            };
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("the name is not valid"))?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| invalid("the value is not valid"))?;
            value.set_sensitive(true);
            headers.append(header, value);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .default_headers(headers)
            .user_agent(concat!("alleato/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OpenAiConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            endpoint,
            config,
            sleeper: Arc::new(TokioSleeper),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The full URL requests are sent to: `<base_url>/chat/completions`.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// Reads at most `limit` bytes of the body, each piece within the idle timeout.
    async fn read_limited(&self, mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, LlmError> {
        let idle = self.config.idle_timeout;
        let mut body = Vec::new();
        loop {
            match within(self.sleeper.as_ref(), idle, response.chunk()).await {
                None => return Err(silent(idle)),
                Some(Err(e)) => return Err(LlmError::Unavailable(self.config.redact(&describe(&e)))),
                Some(Ok(None)) => return Ok(body),
                Some(Ok(Some(piece))) => {
                    body.extend_from_slice(&piece);
                    if body.len() >= limit {
                        body.truncate(limit);
                        return Ok(body);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl LanguageModel for OpenAiModel {
    async fn stream(&self, request: CompletionRequest) -> Result<ModelStream, LlmError> {
        let send = self
            .client
            .post(self.endpoint.clone())
            .body(request_body(&request))
            .send();
        let idle = self.config.idle_timeout;
        let response = match within(self.sleeper.as_ref(), idle, send).await {
            None => {
                return Err(LlmError::Unavailable(format!(
                    "no response within {}s",
                    idle.as_secs_f64()
                )));
            }
            Some(Err(e)) => return Err(LlmError::Unavailable(self.config.redact(&describe(&e)))),
            Some(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let body = self.read_limited(response, MAX_ERROR_BODY).await.unwrap_or_default();
            return Err(self
                .config
                .status_error(status.as_u16(), status.canonical_reason(), &body));
        }
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            let events = self
                .config
                .whole_answer(&self.read_limited(response, MAX_JSON_BODY).await?)?;
            return Ok(Box::pin(stream::iter(events.into_iter().map(Ok))));
        }
        let config = self.config.clone();
        let body = response
            .bytes_stream()
            .map(move |piece| piece.map_err(|e| LlmError::Unavailable(config.redact(&describe(&e)))));
        let body = idle_limited(body, self.sleeper.clone(), idle).boxed();
        Ok(completion_events(body).boxed())
    }
}

/// A reqwest error and its causes, without the URL.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut parts = vec![kind.to_owned()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_reqwest_cannot_parse_is_refused() {
        assert!(matches!(
            OpenAiModel::new(OpenAiConfig::new("http://exa mple.com/v1")),
            Err(OpenAiConfigError::BaseUrl { .. })
        ));
        let model = OpenAiModel::new(OpenAiConfig::new("http://127.0.0.1:9/v1/")).unwrap();
        assert_eq!(model.endpoint(), "http://127.0.0.1:9/v1/chat/completions");
    }
}
