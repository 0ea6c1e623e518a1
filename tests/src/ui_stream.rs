//! The AI SDK UI message stream that generations speak, what the built-in `echo` model answers,
//! and requests that send messages.

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::api::{Api, TestUser};
use crate::assertions::{assert_keys, assert_uuid};
use crate::sse::{OpenSse, SseEvent, SseStream};

/// The chunk types in the order a generation sends them (`error` ends a failed one instead of
/// `text-end`…`finish`).
const ORDER: [&str; 8] = [
    "start",
    "start-step",
    "text-start",
    "text-delta",
    "text-end",
    "finish-step",
    "message-metadata",
    "finish",
];

/// Asserts the headers of a UI message stream: `text/event-stream`,
/// `x-vercel-ai-ui-message-stream: v1`, `Cache-Control: no-cache`, `X-Accel-Buffering: no` and a
/// UUID in `X-Alleato-Stream-Id`. Returns the stream id.
#[track_caller]
pub fn assert_ui_stream_headers(stream: &SseStream) -> String {
    let content_type = stream.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/event-stream"),
        "Content-Type: {stream:?}"
    );
    assert_eq!(stream.header("x-vercel-ai-ui-message-stream"), Some("v1"), "{stream:?}");
    assert_eq!(stream.header("cache-control"), Some("no-cache"), "{stream:?}");
    assert_eq!(stream.header("x-accel-buffering"), Some("no"), "{stream:?}");
    let id = stream
        .header("x-alleato-stream-id")
        .unwrap_or_else(|| panic!("no X-Alleato-Stream-Id: {stream:?}"))
        .to_owned();
    assert_uuid(&json!(id), "X-Alleato-Stream-Id");
    id
}

/// Asserts that a chunk has exactly the fields of its type (older AI SDK clients reject unknown
/// fields).
#[track_caller]
pub fn assert_chunk_shape(chunk: &Value) {
    let kind = chunk["type"]
        .as_str()
        .unwrap_or_else(|| panic!("a chunk without a string `type`: {chunk}"));
    match kind {
        "start" => {
            assert_keys(chunk, &["type", "messageId"], "the start chunk");
            assert_uuid(&chunk["messageId"], "start.messageId");
        }
        "start-step" | "finish-step" | "finish" => assert_keys(chunk, &["type"], kind),
        "text-start" | "text-end" => {
            assert_keys(chunk, &["type", "id"], kind);
            assert!(chunk["id"].is_string(), "{kind}.id is not a string: {chunk}");
        }
        "text-delta" => {
            assert_keys(chunk, &["type", "id", "delta"], kind);
            assert!(chunk["id"].is_string(), "text-delta.id: {chunk}");
            assert!(chunk["delta"].is_string(), "text-delta.delta: {chunk}");
        }
        "message-metadata" => {
            assert_keys(chunk, &["type", "messageMetadata"], kind);
            let metadata = &chunk["messageMetadata"];
            assert_keys(metadata, &["model", "usage"], "messageMetadata");
            assert!(metadata["model"].is_string(), "messageMetadata.model: {chunk}");
            assert_keys(
                &metadata["usage"],
                &["inputTokens", "outputTokens"],
                "messageMetadata.usage",
            );
            assert!(metadata["usage"]["inputTokens"].is_u64(), "usage.inputTokens: {chunk}");
            assert!(
                metadata["usage"]["outputTokens"].is_u64(),
                "usage.outputTokens: {chunk}"
            );
        }
        "error" => {
            assert_keys(chunk, &["type", "errorText"], kind);
            assert!(chunk["errorText"].is_string(), "error.errorText: {chunk}");
        }
        other => panic!("an unknown chunk type {other:?}: {chunk}"),
    }
}

/// What a UI message stream said.
#[derive(Clone, Debug, Default)]
pub struct UiAnswer {
    /// The sequence number of the first event.
    pub first_seq: u64,
    /// Every chunk, in order (the `[DONE]` marker excluded).
    pub chunks: Vec<Value>,
    /// The chunk types, in order.
    pub types: Vec<String>,
    /// `start.messageId`, when the start was part of the events.
    pub message_id: Option<String>,
    /// The text deltas, in order.
    pub deltas: Vec<String>,
    /// `messageMetadata`, when sent.
    pub metadata: Option<Value>,
    /// `errorText`, when the stream failed.
    pub error: Option<String>,
}

impl UiAnswer {
    /// The deltas joined.
    pub fn text(&self) -> String {
        self.deltas.concat()
    }

    /// `messageMetadata.usage.inputTokens`.
    ///
    /// # Panics
    /// When there was no metadata.
    #[track_caller]
    pub fn input_tokens(&self) -> u64 {
        self.usage("inputTokens")
    }

    /// `messageMetadata.usage.outputTokens`.
    ///
    /// # Panics
    /// When there was no metadata.
    #[track_caller]
    pub fn output_tokens(&self) -> u64 {
        self.usage("outputTokens")
    }

    #[track_caller]
    fn usage(&self, key: &str) -> u64 {
        let metadata = self
            .metadata
            .as_ref()
            .unwrap_or_else(|| panic!("no message-metadata chunk: {self:?}"));
        metadata["usage"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("no usage.{key}: {metadata}"))
    }
}

/// Reads the events of a UI message stream, from any point on: every event but the last carries
/// `id: <seq>`, consecutive from the first, and JSON data of a known chunk shape, in the order of
/// a generation; the last event is `data: [DONE]` without an id. Returns what they said.
#[track_caller]
pub fn read_ui_answer(events: &[SseEvent]) -> UiAnswer {
    let (last, chunks) = events.split_last().unwrap_or_else(|| panic!("no events at all"));
    assert!(
        last.is_done() && last.id.is_none(),
        "the stream does not end with `data: [DONE]` (without an id): {events:#?}"
    );
    let mut answer = UiAnswer {
        first_seq: chunks.first().map_or(0, SseEvent::seq),
        ..UiAnswer::default()
    };
    let mut rank: Option<usize> = None;
    for (i, event) in chunks.iter().enumerate() {
        assert!(!event.is_done(), "`[DONE]` before the end: {events:#?}");
        assert_eq!(
            event.seq(),
            answer.first_seq + i as u64,
            "event ids are not consecutive: {events:#?}"
        );
        assert_eq!(event.event, None, "an `event:` field: {event:?}");
        let chunk = event.json();
        assert_chunk_shape(&chunk);
        let kind = chunk["type"].as_str().unwrap().to_owned();
        assert!(answer.error.is_none(), "a chunk after the error chunk: {events:#?}");
        if kind == "error" {
            answer.error = Some(chunk["errorText"].as_str().unwrap().to_owned());
        } else {
            let position = ORDER.iter().position(|k| *k == kind).unwrap();
            assert!(
                rank.is_none_or(|r| position > r || (position == r && kind == "text-delta")),
                "chunk {kind:?} out of order: {events:#?}"
            );
            rank = Some(position);
        }
        match kind.as_str() {
            "start" => answer.message_id = Some(chunk["messageId"].as_str().unwrap().to_owned()),
            "text-delta" => answer.deltas.push(chunk["delta"].as_str().unwrap().to_owned()),
            "message-metadata" => answer.metadata = Some(chunk["messageMetadata"].clone()),
            _ => {}
        }
        answer.types.push(kind);
        answer.chunks.push(chunk);
    }
    answer
}

/// Asserts a whole generation that finished, from `id: 0`: exactly `start`, `start-step`,
/// `text-start`, one or more `text-delta`, `text-end`, `finish-step`, `message-metadata`,
/// `finish`, then `[DONE]`; the text part's id is the same throughout.
#[track_caller]
pub fn assert_finished_answer(events: &[SseEvent]) -> UiAnswer {
    let answer = read_ui_answer(events);
    assert_eq!(answer.first_seq, 0, "the stream does not start at id 0: {events:#?}");
    let n = answer.deltas.len();
    assert!(n >= 1, "no text-delta: {events:#?}");
    let mut expected = vec!["start", "start-step", "text-start"];
    expected.extend(std::iter::repeat_n("text-delta", n));
    expected.extend(["text-end", "finish-step", "message-metadata", "finish"]);
    assert_eq!(answer.types, expected, "{events:#?}");
    let part_ids: Vec<&Value> = answer
        .chunks
        .iter()
        .filter(|c| c["type"].as_str().unwrap().starts_with("text-"))
        .map(|c| &c["id"])
        .collect();
    assert!(
        part_ids.iter().all(|id| *id == part_ids[0]),
        "the text chunks name different parts: {events:#?}"
    );
    answer
}

/// The deltas the echo model sends for a user message: `Echo: ` then every word with the
/// whitespace that follows it.
pub fn echo_deltas(user_text: &str) -> Vec<String> {
    let answer = format!("Echo: {user_text}");
    let mut deltas: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_space = false;
    for c in answer.chars() {
        if !c.is_whitespace() && in_space {
            deltas.push(std::mem::take(&mut current));
            in_space = false;
        }
        if c.is_whitespace() {
            in_space = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        deltas.push(current);
    }
    deltas
}

/// How many words the echo model counts in `text`.
pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// `{message: {role: "user", parts: [{type: "text", text}]}}`.
pub fn text_message(text: &str) -> Value {
    json!({"message": {"role": "user", "parts": [{"type": "text", "text": text}]}})
}

impl Api {
    /// `POST /api/v1/chats/{chat}/messages` as `user` with `body`, not sent yet.
    pub fn send_request(&self, user: &TestUser, chat: &str, body: &Value) -> RequestBuilder {
        self.post(&format!("/api/v1/chats/{chat}/messages"))
            .bearer_auth(&user.access)
            .json(body)
    }

    /// Sends `text` as a new user message and reads the whole answer; asserts a well-formed
    /// finished stream.
    pub async fn send_text(&self, user: &TestUser, chat: &str, text: &str) -> UiAnswer {
        let stream = self.send_request(user, chat, &text_message(text)).sse().await;
        let events = stream.all().await;
        assert_finished_answer(&events)
    }

    /// Sends `text` as the first message of a new chat of `user` and reads the whole answer;
    /// asserts the UI stream's headers, that `X-Cache` is `cache` (`HIT` or `MISS`), and a
    /// well-formed finished stream. Returns the chat's id and the answer.
    pub async fn send_in_new_chat(&self, user: &TestUser, text: &str, cache: &str) -> (String, UiAnswer) {
        let chat = self.new_chat_id(user).await;
        let stream = self.send_request(user, &chat, &text_message(text)).sse().await;
        assert_ui_stream_headers(&stream);
        assert_eq!(stream.header("x-cache"), Some(cache), "{stream:?}");
        let answer = assert_finished_answer(&stream.all().await);
        (chat, answer)
    }

    /// Creates a chat for `user` and returns its id.
    pub async fn new_chat_id(&self, user: &TestUser) -> String {
        let chat = self.create_chat(user, json!({})).await;
        chat["id"].as_str().expect("chat.id is a string").to_owned()
    }

    /// `GET /api/v1/chats/{chat}/messages` as `user` (all of them when there are at most 100).
    pub async fn messages(&self, user: &TestUser, chat: &str) -> Vec<Value> {
        use crate::api::Fetch;
        let body = self
            .get(&format!("/api/v1/chats/{chat}/messages"))
            .query(&[("limit", "100")])
            .bearer_auth(&user.access)
            .fetch()
            .await
            .expect(200);
        body["messages"].as_array().expect("`messages` is an array").clone()
    }
}

/// The text of a message's text parts, joined.
#[track_caller]
pub fn message_text(message: &Value) -> String {
    message["parts"]
        .as_array()
        .unwrap_or_else(|| panic!("`parts` is not an array: {message}"))
        .iter()
        .filter(|p| p["type"] == "text")
        .map(|p| p["text"].as_str().unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_splits_after_the_whitespace_of_each_word() {
        assert_eq!(
            echo_deltas("hello  there\nworld"),
            ["Echo: ", "hello  ", "there\n", "world"]
        );
        assert_eq!(echo_deltas("one"), ["Echo: ", "one"]);
        assert_eq!(echo_deltas("a b "), ["Echo: ", "a ", "b "]);
    }
}
