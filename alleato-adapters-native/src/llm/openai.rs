//! A client of OpenAI-compatible chat-completion endpoints: OpenAI, OpenRouter, Ollama, vLLM,
//! llama.cpp's server, and anything else that speaks `POST /chat/completions` with
//! `stream: true`.
//!
//! Providers differ in details that this module tolerates rather than special-cases: usage may
//! come in a final chunk with no choices, or not at all; chunks carry extra fields
//! (`reasoning_content`, `timings`, `system_fingerprint`…); the first chunk may hold only a role;
//! lines may end in CRLF and `data:` may lack its space; comments such as OpenRouter's
//! `: OPENROUTER PROCESSING` keep the connection alive.

use std::fmt;
use std::time::Duration;

use alleato_core::llm::{CompletionRequest, LanguageModel, LlmError, ModelEvent, ModelStream, Usage};
use async_trait::async_trait;
use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// The longest provider message kept in an error, in characters.
const MAX_MESSAGE_CHARS: usize = 300;
/// How much of an error body is read to find the provider's message.
const MAX_ERROR_BODY: usize = 16 * 1024;
/// How much of a non-streamed answer is read.
const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

/// Where and how to reach an OpenAI-compatible provider.
///
/// Build it with [`OpenAiConfig::new`] and the `with_*` setters. Its `Debug` output hides the API
/// key and the values of extra headers.
#[derive(Clone)]
#[non_exhaustive]
pub struct OpenAiConfig {
    /// The API root, before `/chat/completions`: `https://api.openai.com/v1`,
    /// `https://openrouter.ai/api/v1`, `http://localhost:11434/v1` (Ollama),
    /// `http://localhost:8000/v1` (vLLM), `http://localhost:8080/v1` (llama.cpp). A trailing slash
    /// is ignored.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>` when set; local servers usually need none. An empty
    /// key counts as none.
    pub api_key: Option<String>,
    /// How long establishing a connection (TCP and TLS) may take. Default 10 s.
    pub connect_timeout: Duration,
    /// How long the provider may stay silent, both before the response headers and between two
    /// pieces of the body, before the completion fails as unavailable. Keep-alive comments count
    /// as activity. Default 60 s.
    pub idle_timeout: Duration,
    /// Extra headers sent with every request, e.g. OpenRouter's `HTTP-Referer` and `X-Title`.
    pub headers: Vec<(String, String)>,
}

impl OpenAiConfig {
    /// The default connect timeout.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default idle timeout.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

    /// A provider at `base_url` (e.g. `https://api.openai.com/v1`), with no key and the default
    /// timeouts.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            headers: Vec::new(),
        }
    }

    /// Sets the API key; `None` or an empty key sends no `Authorization` header.
    pub fn with_api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key.filter(|k| !k.is_empty());
        self
    }

    /// Sets the connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the idle timeout.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Adds a header sent with every request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("headers", &headers)
            .finish()
    }
}

/// Why an [`OpenAiModel`] could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenAiConfigError {
    /// The base URL is not an absolute `http` or `https` URL.
    #[error("invalid model provider URL {url:?}: {reason}")]
    BaseUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API key or an extra header cannot be sent as an HTTP header.
    #[error("invalid model provider header {0}")]
    Header(String),
    /// The HTTP client could not be created.
    #[error("cannot create the HTTP client: {0}")]
    Client(String),
}

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
        let endpoint = endpoint(&config.base_url)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| OpenAiConfigError::Header(format!("name {name:?}")))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| OpenAiConfigError::Header(format!("{name}: the value is not valid")))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        if let Some(key) = &config.api_key {
            HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| OpenAiConfigError::Header("Authorization: the API key is not valid".to_owned()))?;
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

    /// Hides the API key, should a provider echo it back.
    fn redact(&self, text: &str) -> String {
        match &self.config.api_key {
            Some(key) => text.replace(key.as_str(), "<redacted>"),
            None => text.to_owned(),
        }
    }

    async fn error_status(&self, response: reqwest::Response) -> LlmError {
        let status = response.status();
        let body = read_limited(response, MAX_ERROR_BODY, self.config.idle_timeout)
            .await
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        let message = provider_message(&body)
            .or_else(|| status.canonical_reason().map(str::to_owned))
            .unwrap_or_else(|| "no message".to_owned());
        LlmError::Status {
            status: status.as_u16(),
            message: shorten(&self.redact(&message)),
        }
    }

    /// A provider that ignored `stream: true` and answered with one JSON completion.
    async fn whole_answer(&self, response: reqwest::Response) -> Result<ModelStream, LlmError> {
        let body = read_limited(response, MAX_JSON_BODY, self.config.idle_timeout).await?;
        let answer: Completion =
            serde_json::from_slice(&body).map_err(|e| LlmError::Malformed(format!("invalid completion: {e}")))?;
        if let Some(message) = answer.error_message() {
            return Err(LlmError::Failed(shorten(&self.redact(&message))));
        }
        let mut events = Vec::new();
        if let Some(text) = answer
            .choices
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|c| c.message?.content)
            .filter(|t| !t.is_empty())
        {
            events.push(Ok(ModelEvent::TextDelta(text)));
        }
        if let Some(usage) = answer.usage {
            events.push(Ok(ModelEvent::Usage(usage.into())));
        }
        Ok(Box::pin(stream::iter(events)))
    }
}

#[async_trait]
impl LanguageModel for OpenAiModel {
    async fn stream(&self, request: CompletionRequest) -> Result<ModelStream, LlmError> {
        let body = RequestBody {
            model: &request.model,
            messages: request
                .messages
                .iter()
                .map(|m| RequestMessage {
                    role: m.role.as_str(),
                    content: &m.text,
                })
                .collect(),
            stream: true,
            stream_options: StreamOptions { include_usage: true },
        };
        let mut builder = self
            .client
            .post(self.endpoint.clone())
            .header(ACCEPT, "text/event-stream")
            .json(&body);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let idle = self.config.idle_timeout;
        let response = match tokio::time::timeout(idle, builder.send()).await {
            Err(_) => return Err(LlmError::Unavailable(format!("no response within {}", seconds(idle)))),
            Ok(Err(e)) => return Err(LlmError::Unavailable(self.redact(&describe(&e)))),
            Ok(Ok(response)) => response,
        };
        if !response.status().is_success() {
            return Err(self.error_status(response).await);
        }
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            return self.whole_answer(response).await;
        }
        let events = with_idle_timeout(response.bytes_stream(), idle).eventsource().boxed();
        Ok(Box::pin(chunks(events)))
    }
}

/// `<base_url>/chat/completions`, whether or not the base URL ends with a slash.
fn endpoint(base_url: &str) -> Result<reqwest::Url, OpenAiConfigError> {
    let invalid = |reason: String| OpenAiConfigError::BaseUrl {
        url: base_url.to_owned(),
        reason,
    };
    let url = reqwest::Url::parse(&format!("{}/chat/completions", base_url.trim().trim_end_matches('/')))
        .map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must have no query or fragment".to_owned()));
    }
    Ok(url)
}

#[derive(Serialize)]
struct RequestBody<'a> {
    model: &'a str,
    messages: Vec<RequestMessage<'a>>,
    stream: bool,
    stream_options: StreamOptions,
}

#[derive(Serialize)]
struct RequestMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// One `chat.completion.chunk`. Only the fields read are declared; the rest are ignored.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// OpenRouter and vLLM report a failure after the headers as a chunk with an `error`.
    #[serde(default)]
    error: Option<serde_json::Value>,
    /// Older vLLM: `{"object": "error", "message": …}`.
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    message: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Self {
            input_tokens: u.prompt_tokens.unwrap_or(0),
            output_tokens: u.completion_tokens.unwrap_or(0),
        }
    }
}

/// A whole `chat.completion`, for providers that do not stream.
#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Option<Vec<CompletionChoice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl Completion {
    fn error_message(&self) -> Option<String> {
        self.error
            .as_ref()
            .filter(|e| !e.is_null())
            .map(|e| value_message(e).unwrap_or_else(|| e.to_string()))
    }
}

#[derive(Deserialize)]
struct CompletionChoice {
    #[serde(default)]
    message: Option<Delta>,
}

impl Chunk {
    /// The failure this chunk reports, if it reports one.
    fn error_message(&self) -> Option<String> {
        if let Some(error) = self.error.as_ref().filter(|e| !e.is_null()) {
            return Some(value_message(error).unwrap_or_else(|| error.to_string()));
        }
        if self.object.as_deref() == Some("error") {
            return Some(
                self.message
                    .as_ref()
                    .and_then(value_message)
                    .unwrap_or_else(|| "unknown error".to_owned()),
            );
        }
        None
    }
}

/// The human message in a provider's error value: `{"message": …}`, `{"error": {"message": …}}`,
/// `{"error": "…"}` (Ollama), `{"detail": …}`, or a bare string.
fn value_message(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Object(map) => ["error", "message", "detail"]
            .iter()
            .find_map(|k| map.get(*k).and_then(value_message)),
        Value::Array(items) => items.iter().find_map(value_message),
        _ => None,
    }
}

/// The message of an error response body: from its JSON when it has one, else its text.
fn provider_message(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(value) => value_message(&value).or_else(|| Some(body.to_owned())),
        Err(_) => Some(body.to_owned()),
    }
}

/// One line, at most [`MAX_MESSAGE_CHARS`] characters.
fn shorten(message: &str) -> String {
    let flat = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX_MESSAGE_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
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

/// Reads at most `limit` bytes of the body, each piece within `idle`.
async fn read_limited(mut response: reqwest::Response, limit: usize, idle: Duration) -> Result<Vec<u8>, LlmError> {
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => return Err(LlmError::Unavailable(format!("no data for {}", seconds(idle)))),
            Ok(Err(e)) => return Err(LlmError::Unavailable(describe(&e))),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(piece))) => {
                body.extend_from_slice(&piece);
                if body.len() >= limit {
                    body.truncate(limit);
                    return Ok(body);
                }
            }
        }
    }
}

/// Why the body stopped.
#[derive(Debug)]
enum Transport {
    Http(reqwest::Error),
    Idle(Duration),
}

/// The body's bytes, failing after `idle` without any. When the body ends right after a complete
/// line, a blank line is added so that a last event whose blank line was left off still counts;
/// a body cut in the middle of a line is left as it is, and its partial event is dropped.
fn with_idle_timeout(
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, Transport>> + Send + 'static {
    struct State<S> {
        body: std::pin::Pin<Box<S>>,
        ended_line: bool,
        over: bool,
    }
    let state = State {
        body: Box::pin(body),
        ended_line: false,
        over: false,
    };
    stream::unfold(state, move |mut st| async move {
        if st.over {
            return None;
        }
        loop {
            return match tokio::time::timeout(idle, st.body.next()).await {
                Err(_) => {
                    st.over = true;
                    Some((Err(Transport::Idle(idle)), st))
                }
                Ok(Some(Err(e))) => {
                    st.over = true;
                    Some((Err(Transport::Http(e)), st))
                }
                Ok(Some(Ok(piece))) if piece.is_empty() => continue,
                Ok(Some(Ok(piece))) => {
                    st.ended_line = matches!(piece.last(), Some(b'\n' | b'\r'));
                    Some((Ok(piece), st))
                }
                Ok(None) => {
                    st.over = true;
                    st.ended_line.then(|| (Ok(Bytes::from_static(b"\n")), st))
                }
            };
        }
    })
}

/// Where a completion's stream of chunks stands.
struct ChunkState {
    events: BoxStream<'static, Result<Event, EventStreamError<Transport>>>,
    /// The last usage reported, sent once at the end: some providers repeat it, cumulatively.
    usage: Option<Usage>,
    /// A choice finished: the answer is whole even if `[DONE]` never comes.
    finished: bool,
    /// Any event came.
    started: bool,
    over: bool,
}

impl ChunkState {
    /// Ends the stream with `item` (or with nothing).
    fn end(mut self, item: Option<Result<ModelEvent, LlmError>>) -> Option<(Result<ModelEvent, LlmError>, Self)> {
        self.over = true;
        item.map(|item| (item, self))
    }

    /// Ends the stream normally, with the usage if any came.
    fn finish(mut self) -> Option<(Result<ModelEvent, LlmError>, Self)> {
        let usage = self.usage.take().map(|u| Ok(ModelEvent::Usage(u)));
        self.end(usage)
    }
}

/// The model events of a chat-completion event stream.
fn chunks(
    events: BoxStream<'static, Result<Event, EventStreamError<Transport>>>,
) -> impl Stream<Item = Result<ModelEvent, LlmError>> + Send + 'static {
    let state = ChunkState {
        events,
        usage: None,
        finished: false,
        started: false,
        over: false,
    };
    stream::unfold(state, |mut st| async move {
        if st.over {
            return None;
        }
        loop {
            let event = match st.events.next().await {
                None if st.finished => return st.finish(),
                None if st.started => {
                    return st.end(Some(Err(LlmError::Unavailable("stream ended early".to_owned()))));
                }
                None => {
                    return st.end(Some(Err(LlmError::Unavailable(
                        "stream ended before any data".to_owned(),
                    ))));
                }
                Some(Err(EventStreamError::Transport(Transport::Idle(idle)))) => {
                    let message = format!("no data for {}", seconds(idle));
                    return st.end(Some(Err(LlmError::Unavailable(message))));
                }
                Some(Err(EventStreamError::Transport(Transport::Http(e)))) => {
                    return st.end(Some(Err(LlmError::Unavailable(describe(&e)))));
                }
                Some(Err(EventStreamError::Utf8(_))) => {
                    return st.end(Some(Err(LlmError::Malformed(
                        "the stream is not valid UTF-8".to_owned(),
                    ))));
                }
                Some(Err(EventStreamError::Parser(e))) => {
                    return st.end(Some(Err(LlmError::Malformed(shorten(&format!(
                        "invalid event stream: {e}"
                    ))))));
                }
                Some(Ok(event)) => event,
            };
            st.started = true;
            let data = event.data.trim();
            if event.event == "error" {
                let message = provider_message(data).unwrap_or_else(|| "unknown error".to_owned());
                return st.end(Some(Err(LlmError::Failed(shorten(&message)))));
            }
            if data == "[DONE]" {
                return st.finish();
            }
            if data.is_empty() || event.event != "message" {
                continue;
            }
            let chunk: Chunk = match serde_json::from_str(data) {
                Ok(chunk) => chunk,
                Err(e) => return st.end(Some(Err(LlmError::Malformed(format!("invalid chunk: {e}"))))),
            };
            if let Some(message) = chunk.error_message() {
                return st.end(Some(Err(LlmError::Failed(shorten(&message)))));
            }
            if let Some(usage) = chunk.usage {
                st.usage = Some(usage.into());
            }
            let Some(choice) = chunk.choices.and_then(|c| c.into_iter().next()) else {
                continue;
            };
            if choice.finish_reason.is_some() {
                st.finished = true;
            }
            match choice.delta.and_then(|d| d.content) {
                Some(text) if !text.is_empty() => return Some((Ok(ModelEvent::TextDelta(text)), st)),
                _ => continue,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_ignores_a_trailing_slash() {
        for base in [
            "http://localhost:11434/v1",
            "http://localhost:11434/v1/",
            " https://api.openai.com/v1// ",
        ] {
            assert!(
                endpoint(base).unwrap().as_str().ends_with("/v1/chat/completions"),
                "{base}"
            );
        }
        assert!(endpoint("localhost:11434/v1").is_err());
        assert!(endpoint("ftp://example.com/v1").is_err());
        assert!(endpoint("not a url").is_err());
    }

    #[test]
    fn provider_messages_are_found_in_the_usual_shapes() {
        let cases = [
            (
                r#"{"error":{"message":"Invalid key","type":"invalid_request_error"}}"#,
                "Invalid key",
            ),
            (r#"{"error":"model 'x' not found"}"#, "model 'x' not found"),
            (r#"{"object":"error","message":"bad model","code":404}"#, "bad model"),
            (r#"{"detail":"Not Found"}"#, "Not Found"),
            ("upstream connect error", "upstream connect error"),
        ];
        for (body, message) in cases {
            assert_eq!(provider_message(body).as_deref(), Some(message), "{body}");
        }
        assert_eq!(provider_message("  "), None);
    }

    #[test]
    fn long_messages_are_shortened_to_one_line() {
        let long = "word\n".repeat(200);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), MAX_MESSAGE_CHARS);
        assert!(short.ends_with('…') && !short.contains('\n'));
    }

    #[test]
    fn debug_hides_the_key_and_header_values() {
        let config = OpenAiConfig::new("https://api.openai.com/v1")
            .with_api_key(Some("sk-secret".to_owned()))
            .with_header("X-Title", "secret-title");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("sk-secret") && !shown.contains("secret-title"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>") && shown.contains("X-Title"), "{shown}");
    }
}
