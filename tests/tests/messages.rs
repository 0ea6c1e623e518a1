//! Messages and generations: sending (three body shapes and the drop-in endpoint), the UI message
//! stream, history, edit, delete, votes, regenerate, the response cache, resume and stop, export,
//! usage and quotas, and recovery after a crash.
//!
//! The built-in `echo` model answers `Echo: <the last user message>`, one word (with the
//! whitespace after it) per `text-delta`. The shared server runs it with a small delay per word;
//! tests that need a generation still running when they act start a server of their own with
//! [`SLOW_ECHO`], so that a 100-word answer takes two seconds whatever the shared default is.

use std::time::Duration;

use alleato_contract_tests::sse::{OpenSse, SseEvent, SseStream};
use alleato_contract_tests::ui_stream::{
    UiAnswer, assert_finished_answer, assert_ui_stream_headers, echo_deltas, message_text, read_ui_answer,
    text_message, words,
};
use alleato_contract_tests::{
    Api, Capability, Fetch, PASSWORD, Resp, TestUser, assert_keys, assert_problem, assert_timestamp, assert_uuid,
    assert_validation_failed,
};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use uuid::Uuid;

/// A per-word delay that keeps a generation running long enough to act on it.
const SLOW_ECHO: (&str, &str) = ("ALLEATO_ECHO_DELAY_MS", "20");

/// An echo model without delay, for tests that only need many messages quickly.
const FAST_ECHO: (&str, &str) = ("ALLEATO_ECHO_DELAY_MS", "0");

/// `prefix` and a unique word, so that no two tests (nor two runs) send the same text and the
/// response cache never answers where a test expects a generation.
fn unique(prefix: &str) -> String {
    format!("{prefix} {}", Uuid::new_v4().simple())
}

/// A unique text of `n` words (plus one unique word), for long generations.
fn long_text(n: usize) -> String {
    let words: Vec<String> = (1..=n).map(|i| format!("w{i}")).collect();
    unique(&words.join(" "))
}

fn chat_path(chat: &str) -> String {
    format!("/api/v1/chats/{chat}")
}

/// A UIMessage as the AI SDK sends it.
fn ui_message(id: &str, role: &str, text: &str) -> Value {
    json!({"id": id, "role": role, "parts": [{"type": "text", "text": text}]})
}

/// Reads events until `n` text deltas have arrived; returns the events read.
async fn read_deltas(stream: &mut SseStream, n: usize) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut deltas = 0;
    while deltas < n {
        let event = stream
            .next_event()
            .await
            .unwrap_or_else(|| panic!("the stream ended before {n} deltas: {stream:?}"));
        if !event.is_done() && event.json()["type"] == "text-delta" {
            deltas += 1;
        }
        events.push(event);
    }
    events
}

/// `GET /api/v1/chats/{chat}/stream` as `user` with `after` as `Last-Event-ID`.
async fn resume(api: &Api, user: &TestUser, path: &str, last_event_id: Option<&str>) -> Result<SseStream, Resp> {
    let mut request = api.get(path).bearer_auth(&user.access);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.try_sse().await
}

async fn get_chat(api: &Api, user: &TestUser, chat: &str) -> Value {
    api.get(&chat_path(chat))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200)
}

/// Asserts the message shape `{id, chatId, role, parts, status, model?, usage?, createdAt}`.
#[track_caller]
fn assert_message(message: &Value, chat: &str) {
    let object = message
        .as_object()
        .unwrap_or_else(|| panic!("a message is not an object: {message}"));
    let required = ["id", "chatId", "role", "parts", "status", "createdAt"];
    let optional = ["model", "usage"];
    for key in required {
        assert!(object.contains_key(key), "a message without `{key}`: {message}");
    }
    for key in object.keys() {
        assert!(
            required.contains(&key.as_str()) || optional.contains(&key.as_str()),
            "a message with an undocumented field `{key}`: {message}"
        );
    }
    assert_uuid(&message["id"], "message.id");
    assert_eq!(message["chatId"], chat, "message.chatId: {message}");
    assert!(
        ["user", "assistant", "system"].contains(&message["role"].as_str().unwrap_or_default()),
        "message.role: {message}"
    );
    assert!(message["parts"].is_array(), "message.parts: {message}");
    assert!(
        ["complete", "streaming", "stopped", "error"].contains(&message["status"].as_str().unwrap_or_default()),
        "message.status: {message}"
    );
    if let Some(model) = object.get("model") {
        assert!(model.is_string(), "message.model: {message}");
    }
    if let Some(usage) = object.get("usage") {
        assert_keys(usage, &["inputTokens", "outputTokens"], "message.usage");
        assert!(
            usage["inputTokens"].is_u64() && usage["outputTokens"].is_u64(),
            "{message}"
        );
    }
    assert_timestamp(&message["createdAt"], "message.createdAt");
}

fn ids(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

// --- sending: the stream ---

#[tokio::test]
async fn send_streams_the_echo_answer_as_a_ui_message_stream() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = unique("Hello  there,\nhow are you?");
    let stream = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    assert_ui_stream_headers(&stream);
    assert_eq!(stream.header("x-cache"), Some("MISS"), "{stream:?}");
    let events = stream.all().await;
    let answer = assert_finished_answer(&events);
    assert_eq!(answer.deltas, echo_deltas(&text), "{events:#?}");
    assert_eq!(answer.text(), format!("Echo: {text}"));
    let model = get_chat(&api, &user, &chat).await["chat"]["model"].clone();
    assert_eq!(answer.metadata.as_ref().unwrap()["model"], model, "{events:#?}");
    assert_eq!(answer.input_tokens(), words(&text), "{events:#?}");
    assert_eq!(answer.output_tokens(), answer.deltas.len() as u64, "{events:#?}");
}

#[tokio::test]
async fn the_start_chunk_names_the_stored_assistant_message() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = unique("Remember me");
    let answer = api.send_text(&user, &chat, &text).await;
    let messages = api.messages(&user, &chat).await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    for message in &messages {
        assert_message(message, &chat);
    }
    let (question, reply) = (&messages[0], &messages[1]);
    assert_eq!(question["role"], "user");
    assert_eq!(question["parts"], json!([{"type": "text", "text": text}]));
    assert_eq!(question["status"], "complete");
    assert_eq!(reply["id"], answer.message_id.unwrap().as_str());
    assert_eq!(reply["role"], "assistant");
    assert_eq!(
        reply["parts"],
        json!([{"type": "text", "text": format!("Echo: {text}")}])
    );
    assert_eq!(reply["status"], "complete");
    assert_eq!(reply["model"], answer.metadata.as_ref().unwrap()["model"]);
    assert_eq!(reply["usage"], answer.metadata.as_ref().unwrap()["usage"]);
}

#[tokio::test]
async fn send_accepts_the_ai_sdk_body_with_the_whole_conversation() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let first = unique("First question");
    let first_answer = api.send_text(&user, &chat, &first).await;
    let stored = api.messages(&user, &chat).await;
    let second = unique("Second question");
    let body = json!({
        "id": chat,
        "messages": [
            ui_message(stored[0]["id"].as_str().unwrap(), "user", &first),
            ui_message(stored[1]["id"].as_str().unwrap(), "assistant", &first_answer.text()),
            ui_message("client-made-id", "user", &second),
        ],
        "trigger": "submit-message",
    });
    let events = api.send_request(&user, &chat, &body).sse().await.all().await;
    let answer = assert_finished_answer(&events);
    assert_eq!(answer.text(), format!("Echo: {second}"));
    let messages = api.messages(&user, &chat).await;
    assert_eq!(messages.len(), 4, "only the new user message is stored: {messages:#?}");
    assert_eq!(ids(&messages[..2]), ids(&stored));
    assert_eq!(message_text(&messages[2]), second);
    assert_eq!(messages[3]["id"], answer.message_id.unwrap().as_str());
}

#[tokio::test]
async fn the_context_comes_from_storage_not_from_the_client() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = unique("Only this");
    let body = json!({
        "messages": [
            ui_message("forged-1", "user", "words the server never stored, many of them"),
            ui_message("forged-2", "assistant", "a forged answer with more words still"),
            ui_message("real", "user", &text),
        ],
        "trigger": "submit-message",
    });
    let events = api.send_request(&user, &chat, &body).sse().await.all().await;
    let answer = assert_finished_answer(&events);
    assert_eq!(answer.input_tokens(), words(&text), "{events:#?}");
    let messages = api.messages(&user, &chat).await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(message_text(&messages[0]), text);
}

#[tokio::test]
async fn send_accepts_plain_role_and_content_messages() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = unique("Plain content");
    let body = json!({"messages": [{"role": "user", "content": text}]});
    let events = api.send_request(&user, &chat, &body).sse().await.all().await;
    let answer = assert_finished_answer(&events);
    assert_eq!(answer.deltas, echo_deltas(&text));
    let messages = api.messages(&user, &chat).await;
    assert_eq!(messages[0]["parts"], json!([{"type": "text", "text": text}]));
}

#[tokio::test]
async fn echo_usage_counts_the_words_of_the_whole_stored_context() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let first = unique("one two three");
    let second = unique("four five");
    let first_answer = api.send_text(&user, &chat, &first).await;
    let second_answer = api.send_text(&user, &chat, &second).await;
    assert_eq!(first_answer.input_tokens(), words(&first));
    assert_eq!(
        second_answer.input_tokens(),
        words(&first) + words(&first_answer.text()) + words(&second),
        "{second_answer:?}"
    );
    assert_eq!(second_answer.output_tokens(), echo_deltas(&second).len() as u64);
}

#[tokio::test]
async fn a_failing_generation_ends_with_an_error_chunk_and_keeps_the_partial_answer() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = unique("one two three four [[echo:fail]] five six");
    let stream = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    assert_ui_stream_headers(&stream);
    let events = stream.all().await;
    let answer = read_ui_answer(&events);
    assert_eq!(answer.first_seq, 0);
    assert_eq!(answer.types[..3], ["start", "start-step", "text-start"], "{events:#?}");
    assert_eq!(answer.types.last().map(String::as_str), Some("error"), "{events:#?}");
    assert!(
        !answer.error.as_deref().unwrap_or_default().is_empty(),
        "an empty errorText: {events:#?}"
    );
    let full = echo_deltas(&text);
    assert!(
        !answer.deltas.is_empty() && answer.deltas.len() < full.len(),
        "the failure is not half-way: {events:#?}"
    );
    assert_eq!(answer.deltas, full[..answer.deltas.len()], "{events:#?}");
    let messages = api.messages(&user, &chat).await;
    let reply = messages.last().unwrap();
    assert_message(reply, &chat);
    assert_eq!(reply["id"], answer.message_id.as_deref().unwrap());
    assert_eq!(reply["status"], "error", "{reply}");
    assert_eq!(message_text(reply), answer.text(), "{reply}");
}

#[tokio::test]
async fn send_uses_an_allowed_model_given_in_the_body() {
    let api = Api::shared();
    let user = api.register().await;
    for model in api.models().await {
        let model = model["id"].as_str().unwrap().to_owned();
        if model != "echo" {
            // Only the built-in model answers without a provider.
            continue;
        }
        let chat = api.new_chat_id(&user).await;
        let mut body = text_message(&unique("Which model?"));
        body["model"] = json!(model);
        let events = api.send_request(&user, &chat, &body).sse().await.all().await;
        let answer = assert_finished_answer(&events);
        assert_eq!(answer.metadata.as_ref().unwrap()["model"], model.as_str());
        let messages = api.messages(&user, &chat).await;
        assert_eq!(messages[1]["model"], model.as_str());
    }
}

#[tokio::test]
async fn send_with_a_model_outside_the_allow_list_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for model in [json!("no-such-model"), json!(""), json!(42)] {
        let mut body = text_message("Hello");
        body["model"] = model;
        let resp = api.send_request(&user, &chat, &body).fetch().await;
        assert_validation_failed(&resp, "model");
    }
    assert!(api.messages(&user, &chat).await.is_empty());
}

// --- sending: failures before the stream ---

#[tokio::test]
async fn send_requires_authentication() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let resp = api
        .post(&format!("/api/v1/chats/{chat}/messages"))
        .json(&text_message("Hello"))
        .fetch()
        .await;
    assert_problem(&resp, 401, "unauthorized");
}

#[tokio::test]
async fn send_to_another_users_chat_is_not_found() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.new_chat_id(&alice).await;
    let resp = api.send_request(&bob, &chat, &text_message("Intrusion")).fetch().await;
    assert_problem(&resp, 404, "not_found");
    assert!(api.messages(&alice, &chat).await.is_empty());
}

#[tokio::test]
async fn send_to_another_users_public_chat_is_forbidden() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.create_chat(&alice, json!({"visibility": "public"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = api.send_request(&bob, &chat, &text_message("Intrusion")).fetch().await;
    // Readable, so its existence is no secret: writing to it is forbidden, as for the chat itself.
    assert_problem(&resp, 403, "forbidden");
    assert!(api.messages(&alice, &chat).await.is_empty());
}

#[tokio::test]
async fn changing_a_message_of_another_users_public_chat_is_forbidden() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.create_chat(&alice, json!({"visibility": "public"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = api.send_text(&alice, &chat, &unique("Public question")).await;
    let messages = api.messages(&alice, &chat).await;
    let question = messages[0]["id"].as_str().unwrap().to_owned();
    let reply = answer.message_id.unwrap();
    // The messages are readable by anyone, so refusing to change them is 403, as for the chat.
    let vote = api
        .post(&format!("/api/v1/messages/{reply}/vote"))
        .bearer_auth(&bob.access)
        .json(&json!({"type": "down"}))
        .fetch()
        .await;
    assert_problem(&vote, 403, "forbidden");
    let edit = api
        .patch(&format!("/api/v1/messages/{question}"))
        .bearer_auth(&bob.access)
        .json(&json!({"content": "rewritten"}))
        .fetch()
        .await;
    assert_problem(&edit, 403, "forbidden");
    let delete = api
        .delete(&format!("/api/v1/messages/{reply}"))
        .bearer_auth(&bob.access)
        .fetch()
        .await;
    assert_problem(&delete, 403, "forbidden");
    assert_eq!(api.messages(&alice, &chat).await.len(), 2, "nothing changed");
}

#[tokio::test]
async fn send_to_a_chat_id_that_is_not_a_uuid_is_not_found() {
    let api = Api::shared();
    let user = api.register().await;
    for id in ["not-a-uuid", "123"] {
        let resp = api.send_request(&user, id, &text_message("Hello")).fetch().await;
        assert_problem(&resp, 404, "not_found");
    }
}

#[tokio::test]
async fn send_rejects_empty_text() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for body in [
        text_message(""),
        json!({"messages": [{"role": "user", "content": ""}]}),
        json!({"messages": [ui_message("m", "user", "")], "trigger": "submit-message"}),
    ] {
        let resp = api.send_request(&user, &chat, &body).fetch().await;
        assert_problem(&resp, 422, "validation_failed");
    }
    assert!(api.messages(&user, &chat).await.is_empty());
}

#[tokio::test]
async fn text_parts_take_up_to_32000_characters() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    // Characters, not bytes: 32,000 two-byte characters fit.
    let longest = "é".repeat(32_000);
    let answer = api.send_text(&user, &chat, &longest).await;
    assert_eq!(answer.text(), format!("Echo: {longest}"));
    let resp = api
        .send_request(&user, &chat, &text_message(&"é".repeat(32_001)))
        .fetch()
        .await;
    assert_problem(&resp, 422, "validation_failed");
    assert_eq!(api.messages(&user, &chat).await.len(), 2);
}

#[tokio::test]
async fn send_rejects_a_message_without_parts() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for body in [
        json!({"message": {"role": "user", "parts": []}}),
        json!({"message": {"role": "user"}}),
        json!({"messages": []}),
        json!({}),
    ] {
        let resp = api.send_request(&user, &chat, &body).fetch().await;
        assert_problem(&resp, 422, "validation_failed");
    }
    assert!(api.messages(&user, &chat).await.is_empty());
}

#[tokio::test]
async fn send_rejects_an_unknown_part_type() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for part in [
        json!({"type": "reasoning", "text": "hmm"}),
        json!({"type": "tool-call", "toolName": "x"}),
        json!({"text": "no type"}),
    ] {
        let body = json!({"message": {"role": "user", "parts": [{"type": "text", "text": "Hi"}, part]}});
        let resp = api.send_request(&user, &chat, &body).fetch().await;
        assert_problem(&resp, 422, "validation_failed");
    }
    assert!(api.messages(&user, &chat).await.is_empty());
}

#[tokio::test]
async fn send_rejects_a_message_from_the_assistant() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for body in [
        json!({"message": ui_message("m", "assistant", "I said so")}),
        json!({"messages": [{"role": "assistant", "content": "I said so"}]}),
        json!({"messages": [ui_message("m", "assistant", "I said so")], "trigger": "submit-message"}),
    ] {
        let resp = api.send_request(&user, &chat, &body).fetch().await;
        assert_problem(&resp, 422, "validation_failed");
    }
    assert!(api.messages(&user, &chat).await.is_empty());
}

#[tokio::test]
async fn send_with_malformed_json_is_a_bad_request() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let resp = api
        .post(&format!("/api/v1/chats/{chat}/messages"))
        .bearer_auth(&user.access)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"message": {"role": "user", "parts": [{"type": "text", "te"#)
        .fetch()
        .await;
    assert_problem(&resp, 400, "bad_request");
}

#[tokio::test]
async fn send_with_a_non_json_content_type_is_unsupported() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let resp = api
        .post(&format!("/api/v1/chats/{chat}/messages"))
        .bearer_auth(&user.access)
        .header(CONTENT_TYPE, "text/plain")
        .body(text_message("Hello").to_string())
        .fetch()
        .await;
    assert_problem(&resp, 415, "unsupported_media_type");
}

#[tokio::test]
async fn send_with_a_body_over_1_mib_is_too_large() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let body = text_message(&"a".repeat(1024 * 1024 + 1)).to_string();
    let resp = api
        .post(&format!("/api/v1/chats/{chat}/messages"))
        .bearer_auth(&user.access)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .fetch()
        .await;
    assert_problem(&resp, 413, "payload_too_large");
}

#[tokio::test]
async fn send_with_an_unknown_trigger_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for trigger in [json!("resubmit"), json!(""), json!(1)] {
        let body = json!({"messages": [ui_message("m", "user", "Hello")], "trigger": trigger});
        let resp = api.send_request(&user, &chat, &body).fetch().await;
        assert_validation_failed(&resp, "trigger");
    }
    assert!(api.messages(&user, &chat).await.is_empty());
}

#[tokio::test]
async fn a_second_send_while_a_generation_runs_is_a_conflict() {
    let api = Api::shared();
    let Some(server) = api.own_server("a_second_send_while_a_generation_runs_is_a_conflict", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let mut running = api
        .send_request(&user, &chat, &text_message(&long_text(60)))
        .sse()
        .await;
    read_deltas(&mut running, 1).await;
    let resp = api.send_request(&user, &chat, &text_message("Me too")).fetch().await;
    assert_problem(&resp, 409, "conflict");
    assert_finished_answer(&running.all().await);
    // Once it has finished, the chat takes messages again.
    api.send_text(&user, &chat, &unique("Now")).await;
    assert_eq!(api.messages(&user, &chat).await.len(), 4);
}

#[tokio::test]
async fn guests_over_the_daily_quota_are_refused_with_quota_exceeded() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "guests_over_the_daily_quota_are_refused_with_quota_exceeded",
        &[("ALLEATO_GUEST_DAILY_MESSAGES", "2"), FAST_ECHO],
    ) else {
        return;
    };
    let api = server.api();
    let guest = api.guest().await;
    let chat = api.new_chat_id(&guest).await;
    for _ in 0..2 {
        api.send_text(&guest, &chat, &unique("Allowed")).await;
    }
    let resp = api
        .send_request(&guest, &chat, &text_message("One too many"))
        .fetch()
        .await;
    assert_quota_exceeded(&resp);
    assert_eq!(api.messages(&guest, &chat).await.len(), 4);
    // Another guest has a quota of its own.
    let other = api.guest().await;
    let other_chat = api.new_chat_id(&other).await;
    api.send_text(&other, &other_chat, &unique("Mine")).await;
}

#[tokio::test]
async fn regular_users_over_the_daily_quota_are_refused_with_quota_exceeded() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "regular_users_over_the_daily_quota_are_refused_with_quota_exceeded",
        &[("ALLEATO_REGULAR_DAILY_MESSAGES", "3"), FAST_ECHO],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for _ in 0..3 {
        api.send_text(&user, &chat, &unique("Allowed")).await;
    }
    // The quota counts the user's sends in every chat.
    let other_chat = api.new_chat_id(&user).await;
    let resp = api
        .send_request(&user, &other_chat, &text_message("One too many"))
        .fetch()
        .await;
    assert_quota_exceeded(&resp);
    assert!(api.messages(&user, &other_chat).await.is_empty());
}

#[tokio::test]
async fn sends_refused_over_the_quota_do_not_count_as_messages() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "sends_refused_over_the_quota_do_not_count_as_messages",
        &[("ALLEATO_REGULAR_DAILY_MESSAGES", "1"), FAST_ECHO],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let answer = api.send_text(&user, &chat, &unique("Allowed")).await;
    for _ in 0..3 {
        let resp = api.send_request(&user, &chat, &text_message("Refused")).fetch().await;
        assert_quota_exceeded(&resp);
    }
    let me = api.me(&user.access).await.expect(200);
    assert_eq!(
        me["usage"],
        json!({
            "messages": 1,
            "messageLimit": 1,
            "inputTokens": answer.input_tokens(),
            "outputTokens": answer.output_tokens(),
        })
    );
}

#[track_caller]
fn assert_quota_exceeded(resp: &Resp) {
    assert_problem(resp, 429, "quota_exceeded");
    let retry_after: u64 = resp
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in seconds: {resp:?}"));
    // The quota is per UTC day: it resets at the next midnight UTC.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let to_midnight = 86_400 - now % 86_400;
    assert!(
        retry_after.abs_diff(to_midnight) <= 5,
        "Retry-After is not the time to midnight UTC ({to_midnight} s): {resp:?}"
    );
}

#[tokio::test]
async fn rejected_sends_do_not_count_as_messages() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for body in [
        text_message(""),
        json!({"messages": []}),
        json!({"message": ui_message("m", "assistant", "x")}),
    ] {
        let resp = api.send_request(&user, &chat, &body).fetch().await;
        assert_problem(&resp, 422, "validation_failed");
    }
    let me = api.me(&user.access).await.expect(200);
    assert_eq!(me["usage"]["messages"], 0, "{me}");
}

// --- titles and search ---

#[tokio::test]
async fn the_first_message_titles_a_new_chat_from_its_first_line() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    assert_eq!(get_chat(&api, &user, &chat).await["chat"]["title"], "New chat");
    let first_line = unique("Plan a trip to Rome");
    api.send_text(&user, &chat, &format!("{first_line}\nwith the children\nin May"))
        .await;
    assert_eq!(get_chat(&api, &user, &chat).await["chat"]["title"], first_line.as_str());
    // Later messages leave it alone.
    api.send_text(&user, &chat, &unique("Something else")).await;
    assert_eq!(get_chat(&api, &user, &chat).await["chat"]["title"], first_line.as_str());
}

#[tokio::test]
async fn a_chat_with_a_title_of_its_own_keeps_it() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Chosen title").await;
    let chat = chat["id"].as_str().unwrap();
    api.send_text(&user, chat, &unique("A question")).await;
    assert_eq!(get_chat(&api, &user, chat).await["chat"]["title"], "Chosen title");
}

#[tokio::test]
async fn a_long_first_line_still_makes_a_valid_title() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = unique(&"word ".repeat(100));
    api.send_text(&user, &chat, &text).await;
    let title = get_chat(&api, &user, &chat).await["chat"]["title"]
        .as_str()
        .unwrap()
        .to_owned();
    let length = title.chars().count();
    assert!((1..=200).contains(&length), "title of {length} characters: {title:?}");
    assert!(text.starts_with(title.trim_end_matches(['…', '.'])), "{title:?}");
}

#[tokio::test]
async fn chat_search_finds_chats_by_message_text() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Groceries").await;
    let chat = chat["id"].as_str().unwrap();
    let needle = format!("needle{}", Uuid::new_v4().simple());
    api.send_text(&user, chat, &format!("Remember the {needle} please"))
        .await;
    api.create_chat_titled(&user, "Unrelated").await;
    let found = api.list_chats(&user, &[("q", &needle)]).await.expect(200);
    let found: Vec<&str> = found["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(found, [chat]);
    // Nobody else's search sees it.
    let other = api.register().await;
    let theirs = api.list_chats(&other, &[("q", &needle)]).await.expect(200);
    assert_eq!(theirs["chats"], json!([]));
}

// --- history ---

#[tokio::test]
async fn message_history_pages_go_back_in_time_and_cover_every_message_once() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for i in 0..4 {
        api.send_text(&user, &chat, &unique(&format!("Message {i}"))).await;
    }
    let all = api.messages(&user, &chat).await;
    assert_eq!(all.len(), 8);
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = api
            .get(&format!("/api/v1/chats/{chat}/messages"))
            .bearer_auth(&user.access)
            .query(&[("limit", "3")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let page = request.fetch().await.expect(200);
        assert_keys(&page, &["messages", "nextCursor"], "a page of messages");
        pages.push(page["messages"].as_array().unwrap().clone());
        match &page["nextCursor"] {
            Value::Null => break,
            Value::String(next) => cursor = Some(next.clone()),
            other => panic!("nextCursor: {other}"),
        }
        assert!(pages.len() < 10, "paging does not end");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 2], "{pages:#?}");
    // The first page holds the newest messages; each page is oldest first.
    let chronological: Vec<Value> = pages.into_iter().rev().flatten().collect();
    assert_eq!(ids(&chronological), ids(&all));
}

#[tokio::test]
async fn message_history_rejects_a_bad_limit_or_cursor() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let path = format!("/api/v1/chats/{chat}/messages");
    for limit in ["0", "101", "abc"] {
        let resp = api
            .get(&path)
            .bearer_auth(&user.access)
            .query(&[("limit", limit)])
            .fetch()
            .await;
        assert_validation_failed(&resp, "limit");
    }
    let resp = api
        .get(&path)
        .bearer_auth(&user.access)
        .query(&[("cursor", "garbage")])
        .fetch()
        .await;
    assert_validation_failed(&resp, "cursor");
}

#[tokio::test]
async fn a_public_chats_messages_are_readable_by_anyone() {
    let api = Api::shared();
    let owner = api.register().await;
    let chat = api.create_chat(&owner, json!({"visibility": "public"})).await;
    let chat = chat["id"].as_str().unwrap();
    api.send_text(&owner, chat, &unique("For everyone")).await;
    let expected = api.messages(&owner, chat).await;
    let path = format!("/api/v1/chats/{chat}/messages");
    let other = api.register().await;
    let theirs = api.get(&path).bearer_auth(&other.access).fetch().await.expect(200);
    assert_eq!(theirs["messages"], json!(expected));
    let anonymous = api.get(&path).fetch().await.expect(200);
    assert_eq!(anonymous["messages"], json!(expected));
    let chat_body = api.get(&chat_path(chat)).fetch().await.expect(200);
    assert_eq!(chat_body["messages"], json!(expected));
}

#[tokio::test]
async fn a_private_chats_messages_are_not_found_for_others() {
    let api = Api::shared();
    let owner = api.register().await;
    let chat = api.new_chat_id(&owner).await;
    api.send_text(&owner, &chat, &unique("Secret")).await;
    let path = format!("/api/v1/chats/{chat}/messages");
    let other = api.register().await;
    assert_problem(
        &api.get(&path).bearer_auth(&other.access).fetch().await,
        404,
        "not_found",
    );
    assert_problem(&api.get(&path).fetch().await, 404, "not_found");
}

#[tokio::test]
async fn get_chat_returns_the_latest_100_messages_oldest_first_and_a_cursor() {
    let api = Api::shared();
    // 102 messages: quick only without the per-word delay.
    let Some(server) = api.own_server(
        "get_chat_returns_the_latest_100_messages_oldest_first_and_a_cursor",
        &[FAST_ECHO],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for i in 0..51 {
        api.send_text(&user, &chat, &format!("m{i}")).await;
    }
    let mut all: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = api
            .get(&format!("/api/v1/chats/{chat}/messages"))
            .bearer_auth(&user.access)
            .query(&[("limit", "100")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let page = request.fetch().await.expect(200);
        let mut messages = page["messages"].as_array().unwrap().clone();
        messages.extend(all);
        all = messages;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(all.len(), 102);
    let body = get_chat(&api, &user, &chat).await;
    assert_keys(&body, &["chat", "messages", "messagesCursor"], "GET /chats/:id");
    let latest = body["messages"].as_array().unwrap();
    assert_eq!(ids(latest), ids(&all[2..]), "the latest 100, oldest first");
    assert_eq!(message_text(&latest[0]), "m1");
    let cursor = body["messagesCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no messagesCursor with older messages left: {}", body["messagesCursor"]));
    let older = api
        .get(&format!("/api/v1/chats/{chat}/messages"))
        .bearer_auth(&user.access)
        .query(&[("cursor", cursor)])
        .fetch()
        .await
        .expect(200);
    assert_eq!(ids(older["messages"].as_array().unwrap()), ids(&all[..2]));
    assert_eq!(older["nextCursor"], Value::Null);
}

// --- edit, delete, votes ---

#[tokio::test]
async fn editing_a_user_message_removes_the_later_messages() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    api.send_text(&user, &chat, &unique("First")).await;
    api.send_text(&user, &chat, &unique("Second")).await;
    let before = api.messages(&user, &chat).await;
    let first = before[0]["id"].as_str().unwrap();
    let body = api
        .patch(&format!("/api/v1/messages/{first}"))
        .bearer_auth(&user.access)
        .json(&json!({"parts": [{"type": "text", "text": "First, edited"}]}))
        .fetch()
        .await
        .expect(200);
    assert_keys(&body, &["message", "removed"], "the edit response");
    assert_eq!(body["removed"], 3);
    let message = &body["message"];
    assert_message(message, &chat);
    assert_eq!(message["id"], first);
    assert_eq!(message["role"], "user");
    assert_eq!(message["parts"], json!([{"type": "text", "text": "First, edited"}]));
    let after = api.messages(&user, &chat).await;
    assert_eq!(after, std::slice::from_ref(message));
}

#[tokio::test]
async fn editing_with_content_replaces_the_text() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    api.send_text(&user, &chat, &unique("First")).await;
    api.send_text(&user, &chat, &unique("Second")).await;
    let before = api.messages(&user, &chat).await;
    let second = before[2]["id"].as_str().unwrap();
    let body = api
        .patch(&format!("/api/v1/messages/{second}"))
        .bearer_auth(&user.access)
        .json(&json!({"content": "Second, edited"}))
        .fetch()
        .await
        .expect(200);
    assert_eq!(body["removed"], 1);
    assert_eq!(
        body["message"]["parts"],
        json!([{"type": "text", "text": "Second, edited"}])
    );
    let after = api.messages(&user, &chat).await;
    assert_eq!(ids(&after), ids(&before[..3]));
    assert_eq!(message_text(&after[2]), "Second, edited");
}

#[tokio::test]
async fn an_edit_is_validated_like_a_message() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = unique("Keep me");
    api.send_text(&user, &chat, &text).await;
    let id = api.messages(&user, &chat).await[0]["id"].as_str().unwrap().to_owned();
    for body in [
        json!({"content": ""}),
        json!({"parts": []}),
        json!({"parts": [{"type": "reasoning", "text": "x"}]}),
        json!({"content": "x".repeat(32_001)}),
        json!({}),
    ] {
        let resp = api
            .patch(&format!("/api/v1/messages/{id}"))
            .bearer_auth(&user.access)
            .json(&body)
            .fetch()
            .await;
        assert_problem(&resp, 422, "validation_failed");
    }
    let after = api.messages(&user, &chat).await;
    assert_eq!(after.len(), 2);
    assert_eq!(message_text(&after[0]), text);
}

#[tokio::test]
async fn editing_an_assistant_message_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let answer = api.send_text(&user, &chat, &unique("Question")).await;
    let id = answer.message_id.clone().unwrap();
    let resp = api
        .patch(&format!("/api/v1/messages/{id}"))
        .bearer_auth(&user.access)
        .json(&json!({"content": "Better answer"}))
        .fetch()
        .await;
    assert_problem(&resp, 422, "validation_failed");
    assert_eq!(message_text(&api.messages(&user, &chat).await[1]), answer.text());
}

#[tokio::test]
async fn editing_another_users_message_is_not_found() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    // A private chat: its messages are unseen by others (a public chat's are 403, tested above).
    let chat = api.create_chat(&alice, json!({"visibility": "private"})).await;
    let chat = chat["id"].as_str().unwrap();
    let text = unique("Mine");
    api.send_text(&alice, chat, &text).await;
    let id = api.messages(&alice, chat).await[0]["id"].as_str().unwrap().to_owned();
    let resp = api
        .patch(&format!("/api/v1/messages/{id}"))
        .bearer_auth(&bob.access)
        .json(&json!({"content": "Theirs"}))
        .fetch()
        .await;
    assert_problem(&resp, 404, "not_found");
    let after = api.messages(&alice, chat).await;
    assert_eq!(after.len(), 2);
    assert_eq!(message_text(&after[0]), text);
}

#[tokio::test]
async fn deleting_a_message_removes_it() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let answer = api.send_text(&user, &chat, &unique("Question")).await;
    let id = answer.message_id.unwrap();
    let path = format!("/api/v1/messages/{id}");
    let body = api.delete(&path).bearer_auth(&user.access).fetch().await.expect(200);
    assert_eq!(body, json!({"success": true}));
    let after = api.messages(&user, &chat).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["role"], "user");
    assert_problem(
        &api.delete(&path).bearer_auth(&user.access).fetch().await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn deleting_another_users_message_is_not_found() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.new_chat_id(&alice).await;
    let answer = api.send_text(&alice, &chat, &unique("Mine")).await;
    let path = format!("/api/v1/messages/{}", answer.message_id.unwrap());
    assert_problem(
        &api.delete(&path).bearer_auth(&bob.access).fetch().await,
        404,
        "not_found",
    );
    assert_problem(&api.delete(&path).fetch().await, 401, "unauthorized");
    assert_eq!(api.messages(&alice, &chat).await.len(), 2);
}

#[tokio::test]
async fn voting_on_an_answer_records_the_vote() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let answer = api.send_text(&user, &chat, &unique("Question")).await;
    let id = answer.message_id.unwrap();
    let body = api
        .post(&format!("/api/v1/messages/{id}/vote"))
        .bearer_auth(&user.access)
        .json(&json!({"type": "up"}))
        .fetch()
        .await
        .expect(200);
    assert_keys(&body, &["vote"], "the vote response");
    let vote = &body["vote"];
    assert_keys(vote, &["chatId", "messageId", "type", "updatedAt"], "vote");
    assert_eq!(vote["chatId"], chat.as_str());
    assert_eq!(vote["messageId"], id.as_str());
    assert_eq!(vote["type"], "up");
    assert_timestamp(&vote["updatedAt"], "vote.updatedAt");
    let votes = api
        .get(&format!("/api/v1/chats/{chat}/votes"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    assert_eq!(votes, json!({"votes": [vote]}));
}

#[tokio::test]
async fn a_second_vote_replaces_the_first() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let answer = api.send_text(&user, &chat, &unique("Question")).await;
    let path = format!("/api/v1/messages/{}/vote", answer.message_id.unwrap());
    for kind in ["up", "down"] {
        let body = api
            .post(&path)
            .bearer_auth(&user.access)
            .json(&json!({"type": kind}))
            .fetch()
            .await
            .expect(200);
        assert_eq!(body["vote"]["type"], kind);
    }
    let votes = api
        .get(&format!("/api/v1/chats/{chat}/votes"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    let votes = votes["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 1, "{votes:?}");
    assert_eq!(votes[0]["type"], "down");
}

#[tokio::test]
async fn voting_on_a_user_message_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    api.send_text(&user, &chat, &unique("Question")).await;
    let question = api.messages(&user, &chat).await[0]["id"].as_str().unwrap().to_owned();
    let resp = api
        .post(&format!("/api/v1/messages/{question}/vote"))
        .bearer_auth(&user.access)
        .json(&json!({"type": "up"}))
        .fetch()
        .await;
    assert_problem(&resp, 422, "validation_failed");
}

#[tokio::test]
async fn a_vote_of_an_unknown_type_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let answer = api.send_text(&user, &chat, &unique("Question")).await;
    let path = format!("/api/v1/messages/{}/vote", answer.message_id.unwrap());
    for body in [json!({"type": "sideways"}), json!({"type": "UP"}), json!({})] {
        let resp = api.post(&path).bearer_auth(&user.access).json(&body).fetch().await;
        assert_problem(&resp, 422, "validation_failed");
    }
    let votes = api
        .get(&format!("/api/v1/chats/{chat}/votes"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    assert_eq!(votes, json!({"votes": []}));
}

#[tokio::test]
async fn a_vote_body_that_is_not_an_object_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let answer = api.send_text(&user, &chat, &unique("Question")).await;
    let path = format!("/api/v1/messages/{}/vote", answer.message_id.unwrap());
    // `["down"]` has no `type` field: it must not be read as `{"type": "down"}`.
    for body in [json!(["down"]), json!("down")] {
        let resp = api.post(&path).bearer_auth(&user.access).json(&body).fetch().await;
        assert_problem(&resp, 422, "validation_failed");
    }
    let votes = api
        .get(&format!("/api/v1/chats/{chat}/votes"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    assert_eq!(votes, json!({"votes": []}));
}

#[tokio::test]
async fn votes_on_another_users_chat_are_not_found() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.new_chat_id(&alice).await;
    let answer = api.send_text(&alice, &chat, &unique("Question")).await;
    let resp = api
        .post(&format!("/api/v1/messages/{}/vote", answer.message_id.unwrap()))
        .bearer_auth(&bob.access)
        .json(&json!({"type": "down"}))
        .fetch()
        .await;
    assert_problem(&resp, 404, "not_found");
    let resp = api
        .get(&format!("/api/v1/chats/{chat}/votes"))
        .bearer_auth(&bob.access)
        .fetch()
        .await;
    assert_problem(&resp, 404, "not_found");
}

// --- regenerate and the response cache ---

/// `{messages, trigger: "regenerate-message", messageId}` for the chat's stored conversation.
async fn regenerate_body(api: &Api, user: &TestUser, chat: &str) -> Value {
    let stored = api.messages(user, chat).await;
    let messages: Vec<Value> = stored
        .iter()
        .map(|m| json!({"id": m["id"], "role": m["role"], "parts": m["parts"]}))
        .collect();
    let last = stored.last().expect("a message to regenerate");
    json!({"id": chat, "messages": messages, "trigger": "regenerate-message", "messageId": last["id"]})
}

#[tokio::test]
async fn regenerate_replaces_the_last_answer() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = unique("Try again");
    let first = api.send_text(&user, &chat, &text).await;
    let before = api.messages(&user, &chat).await;
    let body = regenerate_body(&api, &user, &chat).await;
    let stream = api.send_request(&user, &chat, &body).sse().await;
    assert_ui_stream_headers(&stream);
    let answer = assert_finished_answer(&stream.all().await);
    assert_eq!(answer.text(), format!("Echo: {text}"));
    assert_ne!(answer.message_id, first.message_id, "a new answer has a new id");
    // The replaced answer is not part of the context.
    assert_eq!(answer.input_tokens(), words(&text));
    let after = api.messages(&user, &chat).await;
    assert_eq!(after.len(), 2, "{after:#?}");
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1]["id"], answer.message_id.unwrap().as_str());
    assert_eq!(after[1]["status"], "complete");
    assert_eq!(message_text(&after[1]), format!("Echo: {text}"));
}

/// The chunks of an answer apart from the start's `messageId`, which names each chat's own copy.
fn without_message_id(answer: &UiAnswer) -> Vec<Value> {
    let mut chunks = answer.chunks.clone();
    chunks[0]["messageId"] = Value::Null;
    chunks
}

#[tokio::test]
async fn an_identical_first_message_is_answered_from_the_cache() {
    let api = Api::shared();
    let user = api.register().await;
    let text = unique("Cache me");
    let (_, first) = api.send_in_new_chat(&user, &text, "MISS").await;
    let (second_chat, second) = api.send_in_new_chat(&user, &text, "HIT").await;
    assert_eq!(without_message_id(&second), without_message_id(&first));
    assert_ne!(second.message_id, first.message_id);
    let stored = api.messages(&user, &second_chat).await;
    assert_eq!(stored.len(), 2, "{stored:#?}");
    assert_eq!(stored[1]["id"], second.message_id.unwrap().as_str());
    assert_eq!(stored[1]["status"], "complete");
    assert_eq!(message_text(&stored[1]), format!("Echo: {text}"));
}

#[tokio::test]
async fn regenerate_is_never_answered_from_the_cache() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    api.send_text(&user, &chat, &unique("Cached once")).await;
    let body = regenerate_body(&api, &user, &chat).await;
    let stream = api.send_request(&user, &chat, &body).sse().await;
    assert_eq!(stream.header("x-cache"), Some("MISS"), "{stream:?}");
    assert_finished_answer(&stream.all().await);
}

#[tokio::test]
async fn a_cache_ttl_of_zero_turns_the_cache_off() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "a_cache_ttl_of_zero_turns_the_cache_off",
        &[("ALLEATO_RESPONSE_CACHE_TTL_SECS", "0"), FAST_ECHO],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let text = unique("Never cached");
    for _ in 0..2 {
        api.send_in_new_chat(&user, &text, "MISS").await;
    }
}

// --- the generation belongs to the server: resume and stop ---

#[tokio::test]
async fn a_generation_goes_on_when_the_client_goes_away() {
    let api = Api::shared();
    let Some(server) = api.own_server("a_generation_goes_on_when_the_client_goes_away", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = long_text(100);
    let mut first = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    let stream_id = assert_ui_stream_headers(&first);
    read_deltas(&mut first, 3).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let resumed = resume(&api, &user, &format!("/api/v1/chats/{chat}/stream"), None)
        .await
        .unwrap_or_else(|resp| panic!("nothing to resume: {resp:?}"));
    assert_eq!(assert_ui_stream_headers(&resumed), stream_id);
    let answer = assert_finished_answer(&resumed.all().await);
    assert_eq!(answer.deltas, echo_deltas(&text));
    let reply = api.messages(&user, &chat).await.pop().unwrap();
    assert_eq!(reply["id"], answer.message_id.unwrap().as_str());
    assert_eq!(reply["status"], "complete", "{reply}");
    assert_eq!(message_text(&reply), format!("Echo: {text}"));
}

#[tokio::test]
async fn resuming_with_last_event_id_starts_after_it() {
    let api = Api::shared();
    let Some(server) = api.own_server("resuming_with_last_event_id_starts_after_it", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let mut original = api
        .send_request(&user, &chat, &text_message(&long_text(40)))
        .sse()
        .await;
    read_deltas(&mut original, 1).await;
    let resumed = resume(&api, &user, &format!("/api/v1/chats/{chat}/stream"), Some("5"))
        .await
        .unwrap_or_else(|resp| panic!("nothing to resume: {resp:?}"));
    assert_ui_stream_headers(&resumed);
    let resumed = resumed.all().await;
    let original = original.all().await;
    assert_finished_answer(&original);
    assert_eq!(resumed[0].id.as_deref(), Some("6"), "{resumed:#?}");
    assert_eq!(resumed, original[6..]);
}

#[tokio::test]
async fn resuming_with_an_after_query_starts_after_it() {
    let api = Api::shared();
    let Some(server) = api.own_server("resuming_with_an_after_query_starts_after_it", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let mut original = api
        .send_request(&user, &chat, &text_message(&long_text(40)))
        .sse()
        .await;
    read_deltas(&mut original, 1).await;
    let resumed = resume(&api, &user, &format!("/api/v1/chats/{chat}/stream?after=5"), None)
        .await
        .unwrap_or_else(|resp| panic!("nothing to resume: {resp:?}"));
    let resumed = resumed.all().await;
    let original = original.all().await;
    assert_eq!(resumed[0].id.as_deref(), Some("6"), "{resumed:#?}");
    assert_eq!(resumed, original[6..]);
}

#[tokio::test]
async fn resume_is_no_content_when_nothing_runs() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let path = format!("/api/v1/chats/{chat}/stream");
    let idle = api.get(&path).bearer_auth(&user.access).fetch().await;
    assert_eq!(idle.status, 204, "{idle:?}");
    assert!(idle.body.is_empty(), "{idle:?}");
    api.send_text(&user, &chat, &unique("Done quickly")).await;
    let finished = api.get(&path).bearer_auth(&user.access).fetch().await;
    assert_eq!(finished.status, 204, "{finished:?}");
}

#[tokio::test]
async fn resume_and_stop_of_another_users_chat_are_not_found() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.new_chat_id(&alice).await;
    for path in [
        format!("/api/v1/chats/{chat}/stream"),
        format!("/api/v1/chat/{chat}/stream"),
    ] {
        assert_problem(&api.get(&path).bearer_auth(&bob.access).fetch().await, 404, "not_found");
        assert_problem(&api.get(&path).fetch().await, 401, "unauthorized");
    }
    let stop = format!("/api/v1/chats/{chat}/stop");
    assert_problem(
        &api.post(&stop).bearer_auth(&bob.access).fetch().await,
        404,
        "not_found",
    );
    assert_problem(&api.post(&stop).fetch().await, 401, "unauthorized");
}

#[tokio::test]
async fn an_answer_still_streaming_shows_its_text_so_far() {
    let api = Api::shared();
    let Some(server) = api.own_server("an_answer_still_streaming_shows_its_text_so_far", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = long_text(60);
    let mut stream = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    let seen = read_deltas(&mut stream, 5).await;
    let message_id = seen[0].json()["messageId"].clone();
    let reply = api.messages(&user, &chat).await.pop().unwrap();
    assert_message(&reply, &chat);
    assert_eq!(reply["id"], message_id);
    assert_eq!(reply["status"], "streaming", "{reply}");
    let so_far = message_text(&reply);
    let full = format!("Echo: {text}");
    assert!(
        so_far.len() < full.len() && full.starts_with(&so_far),
        "not a part of the answer: {so_far:?}"
    );
    assert_finished_answer(&stream.all().await);
    let reply = api.messages(&user, &chat).await.pop().unwrap();
    assert_eq!(reply["status"], "complete");
    assert_eq!(message_text(&reply), full);
}

#[tokio::test]
async fn editing_while_a_generation_runs_is_a_conflict() {
    let api = Api::shared();
    let Some(server) = api.own_server("editing_while_a_generation_runs_is_a_conflict", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = long_text(60);
    let mut stream = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    read_deltas(&mut stream, 1).await;
    let question = api.messages(&user, &chat).await[0]["id"].as_str().unwrap().to_owned();
    let resp = api
        .patch(&format!("/api/v1/messages/{question}"))
        .bearer_auth(&user.access)
        .json(&json!({"content": "Changed my mind"}))
        .fetch()
        .await;
    assert_problem(&resp, 409, "conflict");
    assert_finished_answer(&stream.all().await);
    let messages = api.messages(&user, &chat).await;
    assert_eq!(message_text(&messages[0]), text);
    assert_eq!(messages.len(), 2);
}

#[tokio::test]
async fn stopping_a_generation_keeps_the_partial_answer() {
    let api = Api::shared();
    let Some(server) = api.own_server("stopping_a_generation_keeps_the_partial_answer", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = long_text(100);
    let mut original = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    read_deltas(&mut original, 3).await;
    let mut follower = resume(&api, &user, &format!("/api/v1/chats/{chat}/stream"), None)
        .await
        .unwrap_or_else(|resp| panic!("nothing to resume: {resp:?}"));
    read_deltas(&mut follower, 1).await;
    let stopped = api
        .post(&format!("/api/v1/chats/{chat}/stop"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    assert_eq!(stopped, json!({"success": true}));
    let original = read_ui_answer(&original.all().await);
    let follower = read_ui_answer(&follower.all().await);
    for answer in [&original, &follower] {
        assert_eq!(answer.types.last().map(String::as_str), Some("finish"), "{answer:?}");
        assert_eq!(answer.error, None);
    }
    assert_eq!(follower.chunks, original.chunks, "both readers saw the same stream");
    let full = echo_deltas(&text);
    assert!(
        original.deltas.len() < full.len(),
        "the stop stopped nothing: {original:?}"
    );
    assert_eq!(original.deltas, full[..original.deltas.len()]);
    let reply = api.messages(&user, &chat).await.pop().unwrap();
    assert_message(&reply, &chat);
    assert_eq!(reply["id"], original.message_id.as_deref().unwrap());
    assert_eq!(reply["status"], "stopped", "{reply}");
    let kept = message_text(&reply);
    assert!(
        !kept.is_empty() && kept.len() < format!("Echo: {text}").len(),
        "{reply}"
    );
    assert_eq!(kept, original.text(), "the stored text is what was streamed");
    let after = api
        .get(&format!("/api/v1/chats/{chat}/stream"))
        .bearer_auth(&user.access)
        .fetch()
        .await;
    assert_eq!(after.status, 204, "{after:?}");
}

#[tokio::test]
async fn a_stopped_answer_reports_the_tokens_it_used() {
    let api = Api::shared();
    let Some(server) = api.own_server("a_stopped_answer_reports_the_tokens_it_used", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = long_text(100);
    let mut stream = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    read_deltas(&mut stream, 3).await;
    api.post(&format!("/api/v1/chats/{chat}/stop"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    let answer = read_ui_answer(&stream.all().await);
    if answer.metadata.is_some() {
        assert_eq!(answer.input_tokens(), words(&text), "{answer:?}");
        assert_eq!(answer.output_tokens(), answer.deltas.len() as u64, "{answer:?}");
    }
    let me = api.me(&user.access).await.expect(200);
    assert_eq!(me["usage"]["inputTokens"], words(&text), "{me}");
    assert_eq!(me["usage"]["outputTokens"], answer.deltas.len(), "{me}");
}

// --- the drop-in endpoint for the AI SDK ---

#[tokio::test]
async fn the_drop_in_endpoint_creates_the_chat_on_first_use() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = Uuid::new_v4().to_string();
    let text = unique("Hello from useChat");
    let body = json!({"id": chat, "messages": [ui_message("u1", "user", &text)], "trigger": "submit-message"});
    let stream = api
        .post("/api/v1/chat")
        .bearer_auth(&user.access)
        .json(&body)
        .sse()
        .await;
    assert_ui_stream_headers(&stream);
    assert!(stream.header("x-cache").is_some(), "{stream:?}");
    let first = assert_finished_answer(&stream.all().await);
    assert_eq!(first.deltas, echo_deltas(&text));
    let stored = get_chat(&api, &user, &chat).await;
    assert_eq!(stored["chat"]["id"], chat.as_str());
    assert_eq!(stored["chat"]["userId"], user.id.as_str());
    assert_eq!(stored["messages"].as_array().unwrap().len(), 2);
    // The same id again continues the same chat.
    let next = unique("And again");
    let body = json!({
        "id": chat,
        "messages": [
            ui_message("u1", "user", &text),
            ui_message(first.message_id.as_deref().unwrap(), "assistant", &first.text()),
            ui_message("u2", "user", &next),
        ],
        "trigger": "submit-message",
    });
    let events = api
        .post("/api/v1/chat")
        .bearer_auth(&user.access)
        .json(&body)
        .sse()
        .await
        .all()
        .await;
    assert_eq!(assert_finished_answer(&events).text(), format!("Echo: {next}"));
    assert_eq!(api.messages(&user, &chat).await.len(), 4);
    let listed = api.list_chats(&user, &[]).await.expect(200);
    assert_eq!(listed["chats"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
async fn the_drop_in_endpoint_refuses_another_users_chat_id() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.new_chat_id(&alice).await;
    let body = json!({"id": chat, "messages": [ui_message("u1", "user", "Mine now")], "trigger": "submit-message"});
    let resp = api
        .post("/api/v1/chat")
        .bearer_auth(&bob.access)
        .json(&body)
        .fetch()
        .await;
    assert_problem(&resp, 404, "not_found");
    assert!(api.messages(&alice, &chat).await.is_empty());
    assert_eq!(api.list_chats(&bob, &[]).await.expect(200)["chats"], json!([]));
}

#[tokio::test]
async fn the_drop_in_endpoint_refuses_an_id_that_is_not_a_uuid() {
    let api = Api::shared();
    let user = api.register().await;
    for id in [json!("not-a-uuid"), json!(""), json!(7)] {
        let body = json!({"id": id, "messages": [ui_message("u1", "user", "Hello")], "trigger": "submit-message"});
        let resp = api
            .post("/api/v1/chat")
            .bearer_auth(&user.access)
            .json(&body)
            .fetch()
            .await;
        assert_validation_failed(&resp, "id");
    }
    assert_eq!(api.list_chats(&user, &[]).await.expect(200)["chats"], json!([]));
}

#[tokio::test]
async fn the_drop_in_endpoint_requires_authentication() {
    let api = Api::shared();
    let body = json!({"id": Uuid::new_v4(), "messages": [ui_message("u1", "user", "Hi")], "trigger": "submit-message"});
    let resp = api.post("/api/v1/chat").json(&body).fetch().await;
    assert_problem(&resp, 401, "unauthorized");
}

#[tokio::test]
async fn the_drop_in_resume_url_behaves_like_the_chat_stream() {
    let api = Api::shared();
    let Some(server) = api.own_server("the_drop_in_resume_url_behaves_like_the_chat_stream", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = Uuid::new_v4().to_string();
    let path = format!("/api/v1/chat/{chat}/stream");
    let body = json!({"id": chat, "messages": [ui_message("u1", "user", &long_text(40))], "trigger": "submit-message"});
    let mut original = api
        .post("/api/v1/chat")
        .bearer_auth(&user.access)
        .json(&body)
        .sse()
        .await;
    let stream_id = assert_ui_stream_headers(&original);
    read_deltas(&mut original, 1).await;
    let from_start = resume(&api, &user, &path, None)
        .await
        .unwrap_or_else(|resp| panic!("nothing to resume: {resp:?}"));
    assert_eq!(assert_ui_stream_headers(&from_start), stream_id);
    let after_three = resume(&api, &user, &path, Some("3"))
        .await
        .unwrap_or_else(|resp| panic!("nothing to resume: {resp:?}"));
    let original = original.all().await;
    assert_finished_answer(&original);
    assert_eq!(from_start.all().await, original);
    assert_eq!(after_three.all().await, original[4..]);
    let idle = api.get(&path).bearer_auth(&user.access).fetch().await;
    assert_eq!(idle.status, 204, "{idle:?}");
}

// --- export ---

#[tokio::test]
async fn export_is_json_by_default_as_an_attachment() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Export me").await;
    let chat = chat["id"].as_str().unwrap();
    api.send_text(&user, chat, &unique("Question one")).await;
    let expected = get_chat(&api, &user, chat).await;
    for query in [&[][..], &[("format", "json")][..]] {
        let resp = api
            .get(&format!("/api/v1/chats/{chat}/export"))
            .bearer_auth(&user.access)
            .query(query)
            .fetch()
            .await;
        assert_eq!(resp.status, 200, "{resp:?}");
        assert!(
            resp.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{resp:?}"
        );
        assert_eq!(
            resp.header("content-disposition"),
            Some(format!("attachment; filename=\"chat-{chat}.json\"").as_str()),
            "{resp:?}"
        );
        let body = resp.json();
        assert_keys(&body, &["chat", "messages"], "the JSON export");
        assert_eq!(body["chat"], expected["chat"]);
        assert_eq!(body["messages"], expected["messages"]);
    }
}

#[tokio::test]
async fn export_as_markdown_holds_the_title_and_every_message() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Markdown title").await;
    let chat = chat["id"].as_str().unwrap();
    let first = unique("First *question*");
    let second = unique("Second question");
    api.send_text(&user, chat, &first).await;
    api.send_text(&user, chat, &second).await;
    let resp = api
        .get(&format!("/api/v1/chats/{chat}/export"))
        .bearer_auth(&user.access)
        .query(&[("format", "markdown")])
        .fetch()
        .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(
        resp.header("content-type")
            .unwrap_or_default()
            .starts_with("text/markdown"),
        "{resp:?}"
    );
    assert_eq!(
        resp.header("content-disposition"),
        Some(format!("attachment; filename=\"chat-{chat}.md\"").as_str()),
        "{resp:?}"
    );
    let markdown = resp.text();
    assert!(markdown.contains("Markdown title"), "{markdown}");
    for text in [
        first.clone(),
        format!("Echo: {first}"),
        second.clone(),
        format!("Echo: {second}"),
    ] {
        assert!(markdown.contains(&text), "{text:?} is missing from:\n{markdown}");
    }
}

#[tokio::test]
async fn export_with_an_unknown_format_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    for format in ["pdf", "", "JSONX"] {
        let resp = api
            .get(&format!("/api/v1/chats/{chat}/export"))
            .bearer_auth(&user.access)
            .query(&[("format", format)])
            .fetch()
            .await;
        assert_validation_failed(&resp, "format");
    }
}

#[tokio::test]
async fn a_public_chat_can_be_exported_without_a_token() {
    let api = Api::shared();
    let owner = api.register().await;
    let chat = api
        .create_chat(&owner, json!({"title": "Open book", "visibility": "public"}))
        .await;
    let chat = chat["id"].as_str().unwrap();
    let text = unique("Public words");
    api.send_text(&owner, chat, &text).await;
    let resp = api.get(&format!("/api/v1/chats/{chat}/export")).fetch().await;
    let body = resp.expect(200);
    assert_eq!(body["chat"]["title"], "Open book");
    assert_eq!(message_text(&body["messages"][0]), text);
    let markdown = api
        .get(&format!("/api/v1/chats/{chat}/export?format=markdown"))
        .fetch()
        .await;
    assert_eq!(markdown.status, 200, "{markdown:?}");
    assert!(markdown.text().contains(&text), "{markdown:?}");
}

#[tokio::test]
async fn a_private_chat_cannot_be_exported_by_others() {
    let api = Api::shared();
    let owner = api.register().await;
    let other = api.register().await;
    let chat = api.new_chat_id(&owner).await;
    api.send_text(&owner, &chat, &unique("Private words")).await;
    let path = format!("/api/v1/chats/{chat}/export");
    assert_problem(
        &api.get(&path).bearer_auth(&other.access).fetch().await,
        404,
        "not_found",
    );
    assert_problem(&api.get(&path).fetch().await, 404, "not_found");
}

// --- usage ---

#[tokio::test]
async fn me_reports_todays_messages_and_tokens() {
    let api = Api::shared();
    let user = api.register().await;
    let me = api.me(&user.access).await.expect(200);
    assert_keys(
        &me["usage"],
        &["messages", "messageLimit", "inputTokens", "outputTokens"],
        "usage",
    );
    assert_eq!(
        me["usage"],
        json!({"messages": 0, "messageLimit": 200, "inputTokens": 0, "outputTokens": 0})
    );
    let chat = api.new_chat_id(&user).await;
    let one = api.send_text(&user, &chat, &unique("First")).await;
    let two = api.send_text(&user, &chat, &unique("Second")).await;
    let me = api.me(&user.access).await.expect(200);
    assert_eq!(
        me["usage"],
        json!({
            "messages": 2,
            "messageLimit": 200,
            "inputTokens": one.input_tokens() + two.input_tokens(),
            "outputTokens": one.output_tokens() + two.output_tokens(),
        })
    );
    let guest = api.guest().await;
    let me = api.me(&guest.access).await.expect(200);
    assert_eq!(me["usage"]["messageLimit"], 20, "{me}");
}

// --- crash recovery ---

#[tokio::test]
async fn an_answer_cut_off_by_a_crash_is_kept_as_an_error_after_a_restart() {
    let api = Api::shared();
    if !api.supports(
        Capability::RestartRecovery,
        "an_answer_cut_off_by_a_crash_is_kept_as_an_error_after_a_restart",
    ) {
        return;
    }
    let data = tempfile::Builder::new()
        .prefix("alleato-crash-")
        .tempdir()
        .expect("a temporary data directory");
    let data_dir = data.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let env = [SLOW_ECHO, ("ALLEATO_DATA_DIR", data_dir.as_str())];
    let test = "an_answer_cut_off_by_a_crash_is_kept_as_an_error_after_a_restart";
    let Some(server) = api.own_server(test, &env) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = long_text(100);
    let mut stream = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    let seen = read_deltas(&mut stream, 10).await;
    let streamed: String = seen
        .iter()
        .map(SseEvent::json)
        .filter(|c| c["type"] == "text-delta")
        .map(|c| c["delta"].as_str().unwrap().to_owned())
        .collect();
    server.crash();
    drop(stream);

    let Some(server) = api.own_server(test, &env) else {
        return;
    };
    let api = server.api();
    let user = api.login(&user.email, PASSWORD).await;
    let reply = api.messages(&user, &chat).await.pop().unwrap();
    assert_message(&reply, &chat);
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["status"], "error", "{reply}");
    let kept = message_text(&reply);
    let full = format!("Echo: {text}");
    assert!(
        kept.starts_with(&streamed) && full.starts_with(&kept) && kept.len() < full.len(),
        "kept {kept:?} after streaming {streamed:?}"
    );
    let resumed = api
        .get(&format!("/api/v1/chats/{chat}/stream"))
        .bearer_auth(&user.access)
        .fetch()
        .await;
    assert_eq!(resumed.status, 204, "{resumed:?}");
}

#[tokio::test]
async fn a_generations_stream_cut_off_by_a_crash_ends_after_a_restart() {
    let api = Api::shared();
    if !api.supports(
        Capability::RestartRecovery,
        "a_generations_stream_cut_off_by_a_crash_ends_after_a_restart",
    ) {
        return;
    }
    let data = tempfile::Builder::new()
        .prefix("alleato-crash-")
        .tempdir()
        .expect("a temporary data directory");
    let data_dir = data.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let env = [SLOW_ECHO, ("ALLEATO_DATA_DIR", data_dir.as_str())];
    let test = "a_generations_stream_cut_off_by_a_crash_ends_after_a_restart";
    let Some(server) = api.own_server(test, &env) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let mut stream = api
        .send_request(&user, &chat, &text_message(&long_text(100)))
        .sse()
        .await;
    let stream_id = assert_ui_stream_headers(&stream);
    let seen = read_deltas(&mut stream, 5).await;
    server.crash();
    drop(stream);

    let Some(server) = api.own_server(test, &env) else {
        return;
    };
    let api = server.api();
    let user = api.login(&user.email, PASSWORD).await;
    let replay = api
        .get(&format!("/api/v1/streams/{stream_id}"))
        .bearer_auth(&user.access)
        .sse()
        .await;
    // A deadline of its own: an interrupted log that is never closed keeps its followers forever.
    let events = tokio::time::timeout(Duration::from_secs(3), replay.all())
        .await
        .unwrap_or_else(|_| panic!("the stream of the interrupted generation did not end within 3 s"));
    let answer = read_ui_answer(&events);
    assert_eq!(
        events[..seen.len()],
        seen[..],
        "the replay starts with what was streamed"
    );
    assert_eq!(
        answer.types.last().map(String::as_str),
        Some("error"),
        "the interrupted generation's stream should end with an error chunk: {events:#?}"
    );
}

// --- races ---

#[tokio::test]
async fn concurrent_sends_to_one_chat_start_one_generation() {
    let api = Api::shared();
    let Some(server) = api.own_server("concurrent_sends_to_one_chat_start_one_generation", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let sends = (0..6).map(|_| {
        let body = text_message(&long_text(20));
        api.send_request(&user, &chat, &body).try_sse()
    });
    let results = futures_util::future::join_all(sends).await;
    let mut streams = Vec::new();
    let mut refused = Vec::new();
    for result in results {
        match result {
            Ok(stream) => streams.push(stream),
            Err(resp) => refused.push(resp),
        }
    }
    let started = streams.len();
    for stream in streams {
        assert_finished_answer(&stream.all().await);
    }
    let stored = api.messages(&user, &chat).await.len();
    assert_eq!(
        started, 1,
        "{started} generations ran at once in one chat ({stored} messages stored); refusals: {refused:?}"
    );
    for resp in &refused {
        assert_problem(resp, 409, "conflict");
    }
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn concurrent_sends_cannot_exceed_the_daily_quota() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "concurrent_sends_cannot_exceed_the_daily_quota",
        &[("ALLEATO_REGULAR_DAILY_MESSAGES", "2"), FAST_ECHO],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let mut chats = Vec::new();
    for _ in 0..8 {
        chats.push(api.new_chat_id(&user).await);
    }
    let sends = chats.iter().map(|chat| {
        let body = text_message(&unique("At once"));
        api.send_request(&user, chat, &body).fetch()
    });
    let results = futures_util::future::join_all(sends).await;
    let accepted = results.iter().filter(|r| r.status == 200).count();
    for resp in results.iter().filter(|r| r.status != 200) {
        assert_problem(resp, 429, "quota_exceeded");
    }
    assert_eq!(accepted, 2, "{results:#?}");
}

#[tokio::test]
async fn a_message_can_be_sent_right_after_a_stop() {
    let api = Api::shared();
    let Some(server) = api.own_server("a_message_can_be_sent_right_after_a_stop", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let mut first = api
        .send_request(&user, &chat, &text_message(&long_text(60)))
        .sse()
        .await;
    read_deltas(&mut first, 2).await;
    api.post(&format!("/api/v1/chats/{chat}/stop"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    let next = unique("Next question");
    let second = api
        .send_request(&user, &chat, &text_message(&next))
        .try_sse()
        .await
        .unwrap_or_else(|resp| panic!("the chat is still busy after the stop answered: {resp:?}"));
    assert_eq!(
        assert_finished_answer(&second.all().await).text(),
        format!("Echo: {next}")
    );
    let statuses: Vec<Value> = api
        .messages(&user, &chat)
        .await
        .iter()
        .map(|m| m["status"].clone())
        .collect();
    assert_eq!(statuses, ["complete", "stopped", "complete", "complete"]);
}

#[tokio::test]
async fn the_drop_in_endpoint_gives_a_new_chat_id_to_one_user_only() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    for _ in 0..5 {
        let chat = Uuid::new_v4().to_string();
        let sends = [&alice, &bob].map(|user| {
            let body = json!({"id": chat, "messages": [ui_message("u", "user", &unique("Mine"))], "trigger": "submit-message"});
            api.post("/api/v1/chat").bearer_auth(&user.access).json(&body).fetch()
        });
        let [a, b] = futures_util::future::join_all(sends).await.try_into().unwrap();
        let statuses = [a.status.as_u16(), b.status.as_u16()];
        assert!(statuses == [200, 404] || statuses == [404, 200], "{a:?}\n{b:?}");
        let (winner, loser) = if a.status == 200 { (&alice, &b) } else { (&bob, &a) };
        assert_problem(loser, 404, "not_found");
        let stored = get_chat(&api, winner, &chat).await;
        assert_eq!(stored["chat"]["userId"], winner.id.as_str());
        assert_eq!(stored["messages"].as_array().unwrap().len(), 2, "{stored}");
    }
}

#[tokio::test]
async fn votes_go_with_the_messages_they_were_on() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let first = api.send_text(&user, &chat, &unique("First")).await;
    let second = api.send_text(&user, &chat, &unique("Second")).await;
    for answer in [&first, &second] {
        api.post(&format!(
            "/api/v1/messages/{}/vote",
            answer.message_id.as_deref().unwrap()
        ))
        .bearer_auth(&user.access)
        .json(&json!({"type": "up"}))
        .fetch()
        .await
        .expect(200);
    }
    let votes = |api: Api, user: TestUser, chat: String| async move {
        let body = api
            .get(&format!("/api/v1/chats/{chat}/votes"))
            .bearer_auth(&user.access)
            .fetch()
            .await
            .expect(200);
        let mut ids: Vec<String> = body["votes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["messageId"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    // Deleting the second answer takes its vote.
    api.delete(&format!("/api/v1/messages/{}", second.message_id.as_deref().unwrap()))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    assert_eq!(
        votes(api.clone(), user.clone(), chat.clone()).await,
        [first.message_id.clone().unwrap()]
    );
    // Editing the first question removes the first answer, and its vote.
    let question = api.messages(&user, &chat).await[0]["id"].as_str().unwrap().to_owned();
    api.patch(&format!("/api/v1/messages/{question}"))
        .bearer_auth(&user.access)
        .json(&json!({"content": "Edited"}))
        .fetch()
        .await
        .expect(200);
    assert_eq!(
        votes(api.clone(), user.clone(), chat.clone()).await,
        Vec::<String>::new()
    );
}
