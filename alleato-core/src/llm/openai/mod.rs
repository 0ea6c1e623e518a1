//! OpenAI-compatible chat completions, without the transport: the settings, the request, and the
//! decoding of the answer, shared by the native client (reqwest) and the Worker's (`fetch`).
//!
//! Providers differ in details that this module tolerates rather than special-cases: usage may
//! come in a final chunk with no choices, or not at all; chunks carry extra fields
//! (`reasoning_content`, `timings`, `system_fingerprint`…); the first chunk may hold only a role;
//! lines may end in CRLF and `data:` may lack its space; comments such as OpenRouter's
//! `: OPENROUTER PROCESSING` keep the connection alive; some ignore `stream: true` and answer
//! with one JSON completion.

mod decode;
mod sse;
mod wire;

use std::fmt;
use std::time::Duration;

pub use decode::{completion_events, idle_limited, silent, within};
pub use wire::{MAX_MESSAGE_CHARS, provider_message, request_body, shorten};

use super::port::LlmError;

/// How much of an error body is read to find the provider's message.
pub const MAX_ERROR_BODY: usize = 16 * 1024;
/// How much of a non-streamed answer is read.
pub const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

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
    /// How long establishing a connection (TCP and TLS) may take, where the transport lets it
    /// be set (natively; a Worker's `fetch` has its own). Default 10 s.
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

    /// `<base_url>/chat/completions`, whether or not the base URL ends with a slash.
    ///
    /// # Errors
    /// [`OpenAiConfigError::BaseUrl`] unless the base URL is an absolute `http` or `https` URL
    /// with a host and no query or fragment. Transports parse the result again with their own
    /// URL type.
    pub fn endpoint(&self) -> Result<String, OpenAiConfigError> {
        let base = self.base_url.trim().trim_end_matches('/');
        let invalid = |reason: &str| OpenAiConfigError::BaseUrl {
            url: self.base_url.clone(),
            reason: reason.to_owned(),
        };
        let Some((scheme, rest)) = base.split_once("://") else {
            return Err(invalid("the URL must be absolute, with an http or https scheme"));
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if rest.split('/').next().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host"));
        }
        if rest.contains(['?', '#']) {
            return Err(invalid("the URL must have no query or fragment"));
        }
        if rest.contains(char::is_whitespace) {
            return Err(invalid("the URL must not contain spaces"));
        }
        Ok(format!("{base}/chat/completions"))
    }

    /// The headers of every completion request, the API key's among them: JSON in, an event
    /// stream wanted back.
    pub fn request_headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "text/event-stream".to_owned()),
        ];
        if let Some(key) = self.api_key.as_deref().filter(|k| !k.is_empty()) {
            headers.push(("authorization".to_owned(), format!("Bearer {key}")));
        }
        headers.extend(self.headers.iter().cloned());
        headers
    }

    /// `text` with the API key hidden, should a provider echo it back.
    pub fn redact(&self, text: &str) -> String {
        match self.api_key.as_deref().filter(|k| !k.is_empty()) {
            Some(key) => text.replace(key, "<redacted>"),
            None => text.to_owned(),
        }
    }

    /// The events of a provider that ignored `stream: true` and answered with one JSON
    /// completion `body`, with the API key hidden from any failure it reports.
    ///
    /// # Errors
    /// [`LlmError::Malformed`] when the body is not a completion, [`LlmError::Failed`] when it
    /// reports an error.
    pub fn whole_answer(&self, body: &[u8]) -> Result<Vec<super::port::ModelEvent>, LlmError> {
        decode::whole_answer(body).map_err(|e| match e {
            LlmError::Failed(message) => LlmError::Failed(self.redact(&message)),
            other => other,
        })
    }

    /// The failure of a request the provider answered with an error `status`: the provider's
    /// message from the start of its `body`, else the status's `reason`, redacted and shortened.
    pub fn status_error(&self, status: u16, reason: Option<&str>, body: &[u8]) -> LlmError {
        let body = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]);
        let message = provider_message(&body)
            .or_else(|| reason.map(str::to_owned))
            .unwrap_or_else(|| "no message".to_owned());
        LlmError::Status {
            status,
            message: shorten(&self.redact(&message)),
        }
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

/// Why an OpenAI-compatible model could not be built from its configuration.
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
            let endpoint = OpenAiConfig::new(base).endpoint().unwrap();
            assert!(endpoint.ends_with("/v1/chat/completions"), "{base}");
        }
        for bad in [
            "localhost:11434/v1",
            "ftp://example.com/v1",
            "not a url",
            "http:///v1",
            "http://h/v1?x=1",
        ] {
            assert!(OpenAiConfig::new(bad).endpoint().is_err(), "{bad}");
        }
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

    #[test]
    fn status_errors_carry_the_provider_message_without_the_key() {
        let config = OpenAiConfig::new("http://h/v1").with_api_key(Some("sk-123".to_owned()));
        let error = config.status_error(401, Some("Unauthorized"), br#"{"error":{"message":"bad key sk-123"}}"#);
        assert_eq!(
            error,
            LlmError::Status {
                status: 401,
                message: "bad key <redacted>".to_owned()
            }
        );
        let error = config.status_error(502, Some("Bad Gateway"), b"");
        assert_eq!(
            error,
            LlmError::Status {
                status: 502,
                message: "Bad Gateway".to_owned()
            }
        );
    }
}
