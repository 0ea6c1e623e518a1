//! The JSON of the chat-completions API: the request sent, the chunks and completions read,
//! and the shapes providers report errors in.

use serde::{Deserialize, Serialize};

use super::super::port::{CompletionRequest, Usage};

/// The longest provider message kept in an error, in characters.
pub const MAX_MESSAGE_CHARS: usize = 300;

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

/// The JSON body of a streamed `POST /chat/completions` for `request`, asking for usage.
pub fn request_body(request: &CompletionRequest) -> Vec<u8> {
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
    serde_json::to_vec(&body).expect("a request body is plain strings and booleans")
}

/// One `chat.completion.chunk`. Only the fields read are declared; the rest are ignored.
#[derive(Deserialize)]
pub(crate) struct Chunk {
    #[serde(default)]
    pub choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
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
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub delta: Option<Delta>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Delta {
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct WireUsage {
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
pub(crate) struct Completion {
    #[serde(default)]
    pub choices: Option<Vec<CompletionChoice>>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(crate) struct CompletionChoice {
    #[serde(default)]
    pub message: Option<Delta>,
}

impl Completion {
    pub fn error_message(&self) -> Option<String> {
        self.error
            .as_ref()
            .filter(|e| !e.is_null())
            .map(|e| value_message(e).unwrap_or_else(|| e.to_string()))
    }
}

impl Chunk {
    /// The failure this chunk reports, if it reports one.
    pub fn error_message(&self) -> Option<String> {
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
pub fn provider_message(body: &str) -> Option<String> {
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
pub fn shorten(message: &str) -> String {
    let flat = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX_MESSAGE_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
