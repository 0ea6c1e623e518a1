//! Use-case tests of the main job, on the in-memory adapters.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::executor::block_on;

use super::*;
use crate::auth::{Argon2Hasher, Argon2Params, AuthConfig, AuthService, TokenCodec, TokenError};
use crate::chats::{ChatService, NewChat};
use crate::llm::{
    CompletionRequest, ECHO_FAIL_TRIGGER, EchoModel, LanguageModel, LlmError, ModelRouter, ModelStream, Sleeper,
};
use crate::memory::{
    ManualClock, MemoryCache, MemoryGenerations, MemorySessions, MemoryStore, MemoryStreamHub, SeededRng,
};
use crate::models::{ModelCatalog, ModelInfo};
use crate::streams::StreamHub;
use crate::time::Timestamp;
use crate::{ChatId, UserId};

/// A timer on a thread of its own: the generation's task is not blocked while it waits.
struct ThreadSleeper;

#[async_trait]
impl Sleeper for ThreadSleeper {
    async fn sleep(&self, d: Duration) {
        let done = crate::signal::Signal::new();
        let wake = done.clone();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            wake.set();
        });
        done.wait().await;
    }
}

struct NoTokens;

impl TokenCodec for NoTokens {
    fn encode(&self, _: &crate::auth::AccessClaims) -> Result<String, TokenError> {
        Ok("token".into())
    }
    fn decode(&self, _: &str) -> Result<crate::auth::AccessClaims, TokenError> {
        Err(TokenError::Invalid)
    }
}

/// A provider that refuses every completion before the first byte.
struct Down;

#[async_trait]
impl LanguageModel for Down {
    async fn stream(&self, _: CompletionRequest) -> Result<ModelStream, LlmError> {
        Err(LlmError::Status {
            status: 503,
            message: "overloaded".into(),
        })
    }
}

struct World {
    store: Arc<MemoryStore>,
    hub: Arc<MemoryStreamHub>,
    cache: Arc<MemoryCache>,
    chats: Arc<ChatService>,
    messages: MessageService,
    user: UserId,
}

fn world_with(delay_ms: u64, quotas: QuotaConfig, cache_ttl: Duration) -> World {
    let clock: Arc<ManualClock> = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    let rng = Arc::new(SeededRng::new(7));
    let store = Arc::new(MemoryStore::new());
    let hub = Arc::new(MemoryStreamHub::new(clock.clone()));
    let cache = Arc::new(MemoryCache::new(clock.clone()));
    let catalog = Arc::new(
        ModelCatalog::new(vec![
            ModelInfo {
                id: "echo".into(),
                name: "Echo".into(),
            },
            ModelInfo {
                id: "echo-2".into(),
                name: "Echo 2".into(),
            },
            ModelInfo {
                id: "down".into(),
                name: "Down".into(),
            },
        ])
        .unwrap(),
    );
    let echo: Arc<dyn LanguageModel> =
        Arc::new(EchoModel::new(Arc::new(ThreadSleeper), Duration::from_millis(delay_ms)));
    let model = Arc::new(
        ModelRouter::new()
            .with("echo", echo.clone())
            .with("echo-2", echo)
            .with("down", Arc::new(Down)),
    );
    let chats = Arc::new(ChatService::new(
        store.clone(),
        hub.clone(),
        catalog.clone(),
        Arc::new(crate::limits::LimitPolicy::new(
            store.clone(),
            crate::limits::Limits::default(),
        )),
        clock.clone(),
        rng.clone(),
    ));
    let messages = MessageService::new(
        MessagePorts {
            chats: chats.clone(),
            chat_store: store.clone(),
            messages: store.clone(),
            usage: store.clone(),
            users: store.clone(),
            hub: hub.clone(),
            model,
            cache: cache.clone(),
            // Every generation on a thread of its own.
            generations: Arc::new(MemoryGenerations::new(|task| {
                std::thread::spawn(move || block_on(task));
            })),
            catalog,
            clock: clock.clone(),
            rng: rng.clone(),
        },
        MessageConfig {
            context_messages: 100,
            response_cache_ttl: cache_ttl,
            response_cache_shared: false,
        },
        quotas,
    );
    let auth = AuthService::new(
        store.clone(),
        Arc::new(MemorySessions::new()),
        Arc::new(Argon2Hasher::new(Argon2Params::INSECURE_FAST, rng.clone())),
        Arc::new(NoTokens),
        clock,
        rng,
        AuthConfig::default(),
    );
    let user = block_on(auth.guest()).unwrap().user.id;
    World {
        store,
        hub,
        cache,
        chats,
        messages,
        user,
    }
}

fn world() -> World {
    world_with(0, QuotaConfig::default(), Duration::ZERO)
}

fn text(s: &str) -> SendInput {
    SendInput {
        trigger: Trigger::Submit,
        parts: vec![Part::Text { text: s.into() }],
        model: None,
    }
}

fn chunks(g: Generation) -> Vec<String> {
    block_on(g.events.map(|e| e.data).collect::<Vec<_>>())
}

fn new_chat(w: &World) -> ChatId {
    block_on(w.chats.create(w.user, NewChat::default())).unwrap().id
}

fn history(w: &World, chat: ChatId) -> Vec<Message> {
    block_on(w.messages.chat_with_messages(Some(w.user), chat))
        .unwrap()
        .1
        .items
}

#[test]
fn a_message_streams_the_protocol_and_is_stored_whole() {
    let w = world();
    let chat = new_chat(&w);
    let g = block_on(w.messages.send(w.user, chat, text("hi there"))).unwrap();
    let id = g.message_id.to_string();
    let got = chunks(g);
    assert_eq!(got[0], format!(r#"{{"type":"start","messageId":"{id}"}}"#));
    assert_eq!(got[1], r#"{"type":"start-step"}"#);
    assert_eq!(got[2], r#"{"type":"text-start","id":"0"}"#);
    assert_eq!(got[3], r#"{"type":"text-delta","id":"0","delta":"Echo: "}"#);
    assert_eq!(got.last().unwrap(), r#"{"type":"finish"}"#);
    let h = history(&w, chat);
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].text(), "hi there");
    assert_eq!(h[1].text(), "Echo: hi there");
    assert_eq!(h[1].status, MessageStatus::Complete);
    assert_eq!(h[1].usage.unwrap().output_tokens, 3);
    let chat = block_on(w.chats.get(Some(w.user), chat)).unwrap();
    assert_eq!(chat.title.as_str(), "hi there", "the first message names the chat");
}

#[test]
fn the_context_comes_from_storage() {
    let w = world();
    let chat = new_chat(&w);
    chunks(block_on(w.messages.send(w.user, chat, text("one two"))).unwrap());
    chunks(block_on(w.messages.send(w.user, chat, text("three"))).unwrap());
    let h = history(&w, chat);
    // Input tokens count the whole stored context: "one two" + "Echo: one two" + "three".
    assert_eq!(h[3].usage.unwrap().input_tokens, 2 + 3 + 1);
}

#[test]
fn an_upstream_failure_keeps_the_partial_answer_as_error() {
    let w = world();
    let chat = new_chat(&w);
    let g = block_on(
        w.messages
            .send(w.user, chat, text(&format!("a b c d {ECHO_FAIL_TRIGGER}"))),
    )
    .unwrap();
    let got = chunks(g);
    assert!(
        got.last().unwrap().starts_with(r#"{"type":"error","errorText":"#),
        "{got:?}"
    );
    let h = history(&w, chat);
    assert_eq!(h[1].status, MessageStatus::Error);
    assert_eq!(h[1].text(), "Echo: a b ");
}

#[test]
fn stop_keeps_what_was_generated() {
    let w = world_with(20, QuotaConfig::default(), Duration::ZERO);
    let chat = new_chat(&w);
    let words = "word ".repeat(200);
    let g = block_on(w.messages.send(w.user, chat, text(&words))).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    block_on(w.messages.stop(w.user, chat)).unwrap();
    let got = chunks(g);
    assert_eq!(got.last().unwrap(), r#"{"type":"finish"}"#);
    let h = history(&w, chat);
    assert_eq!(h[1].status, MessageStatus::Stopped);
    let kept = h[1].text();
    assert!(kept.starts_with("Echo: word") && kept.len() < words.len(), "{kept:?}");
    let usage = h[1].usage.expect("a stopped answer still reports its usage");
    assert_eq!(usage.input_tokens, 200, "what the model read");
    assert_eq!(
        usage.output_tokens,
        got.iter().filter(|c| c.contains("text-delta")).count() as u64
    );
    assert!(
        block_on(w.messages.resume(w.user, chat, None)).unwrap().is_none(),
        "nothing runs any more"
    );
}

#[test]
fn a_running_generation_can_be_resumed_and_blocks_a_second_send() {
    let w = world_with(10, QuotaConfig::default(), Duration::ZERO);
    let chat = new_chat(&w);
    let g = block_on(w.messages.send(w.user, chat, text(&"x ".repeat(30)))).unwrap();
    let busy = block_on(w.messages.send(w.user, chat, text("again")));
    assert!(matches!(busy, Err(MessageError::Busy)));
    std::thread::sleep(Duration::from_millis(60));
    let so_far = history(&w, chat)[1].clone();
    assert_eq!(so_far.status, MessageStatus::Streaming);
    assert!(
        so_far.text().starts_with("Echo: x"),
        "a reader sees the text so far: {:?}",
        so_far.text()
    );
    let (stream, events) = block_on(w.messages.resume(w.user, chat, Some(2)))
        .unwrap()
        .expect("running");
    assert_eq!(stream, g.stream_id);
    let resumed: Vec<_> = block_on(events.collect::<Vec<_>>());
    assert_eq!(resumed[0].seq, 3, "resumes after the given sequence number");
    let all = chunks(g);
    assert_eq!(resumed.len(), all.len() - 3);
}

#[test]
fn regenerate_replaces_the_last_answer() {
    let w = world();
    let chat = new_chat(&w);
    let first = block_on(w.messages.send(w.user, chat, text("again please"))).unwrap();
    let first_id = first.message_id;
    chunks(first);
    let input = SendInput {
        trigger: Trigger::Regenerate,
        parts: vec![],
        model: Some("echo-2".into()),
    };
    let second = block_on(w.messages.send(w.user, chat, input)).unwrap();
    let second_id = second.message_id;
    chunks(second);
    let h = history(&w, chat);
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].id, second_id);
    assert_ne!(second_id, first_id);
    assert_eq!(h[1].model.as_deref(), Some("echo-2"));
}

#[test]
fn the_daily_quota_is_enforced() {
    let w = world_with(
        0,
        QuotaConfig {
            guest_daily_messages: 2,
            regular_daily_messages: 5,
        },
        Duration::ZERO,
    );
    let chat = new_chat(&w);
    chunks(block_on(w.messages.send(w.user, chat, text("1"))).unwrap());
    chunks(block_on(w.messages.send(w.user, chat, text("2"))).unwrap());
    let third = block_on(w.messages.send(w.user, chat, text("3")));
    assert!(matches!(third, Err(MessageError::QuotaExceeded { limit: 2, .. })));
    let (usage, limit) = block_on(w.messages.usage_today(w.user)).unwrap();
    assert_eq!(limit, 2);
    assert!(usage.output_tokens > 0);
}

#[test]
fn the_response_cache_replays_identical_contexts() {
    let w = world_with(0, QuotaConfig::default(), Duration::from_secs(60));
    let a = new_chat(&w);
    let b = new_chat(&w);
    let miss = block_on(w.messages.send(w.user, a, text("same question"))).unwrap();
    assert!(!miss.cache_hit);
    let miss_chunks = chunks(miss);
    let hit = block_on(w.messages.send(w.user, b, text("same question"))).unwrap();
    assert!(hit.cache_hit);
    let hit_chunks = chunks(hit);
    assert_eq!(miss_chunks.len(), hit_chunks.len());
    assert_eq!(
        history(&w, b)[1].text(),
        "Echo: same question",
        "a hit is stored as a message too"
    );
    let regen = SendInput {
        trigger: Trigger::Regenerate,
        parts: vec![],
        model: None,
    };
    assert!(
        !block_on(w.messages.send(w.user, b, regen)).unwrap().cache_hit,
        "regenerate bypasses the cache"
    );
    drop(w.cache);
}

#[test]
fn interrupted_answers_are_recovered_as_errors_with_their_text() {
    let w = world();
    let chat = new_chat(&w);
    // What a crash leaves: an open stream with some text, and a message still streaming.
    let stream = crate::StreamId::from_uuid(uuid::Uuid::from_u128(77));
    block_on(w.hub.create(&crate::streams::StreamMeta {
        id: stream,
        owner: w.user,
        chat_id: Some(chat),
        status: crate::streams::StreamStatus::Open,
        created_at: Timestamp::from_millis(1),
    }))
    .unwrap();
    for delta in ["Echo: ", "half "] {
        let chunk = ui_stream::UiChunk::TextDelta {
            id: "0".into(),
            delta: delta.into(),
        };
        block_on(w.hub.append(stream, &[chunk.to_json()])).unwrap();
    }
    let orphan = Message {
        id: crate::MessageId::from_uuid(uuid::Uuid::from_u128(78)),
        chat_id: chat,
        role: Role::Assistant,
        parts: vec![],
        status: MessageStatus::Streaming,
        model: Some("echo".into()),
        usage: None,
        stream_id: Some(stream),
        created_at: Timestamp::from_millis(1_800_000_000_000),
    };
    block_on(w.store.insert_message(&orphan)).unwrap();
    assert_eq!(block_on(w.messages.recover_interrupted()).unwrap(), 1);
    let h = history(&w, chat);
    assert_eq!(h[0].status, MessageStatus::Error);
    assert_eq!(h[0].text(), "Echo: half ");
    let events: Vec<_> = block_on(block_on(w.hub.follow(stream, None)).unwrap().collect::<Vec<_>>());
    assert!(
        events.last().unwrap().data.contains(r#""type":"error""#),
        "followers learn of the failure"
    );
}

#[test]
fn others_cannot_touch_a_chat() {
    let w = world();
    let chat = new_chat(&w);
    let stranger = UserId::from_uuid(uuid::Uuid::from_u128(5));
    assert!(matches!(
        block_on(w.messages.send(stranger, chat, text("hi"))),
        Err(MessageError::Chat(crate::chats::ChatError::NotFound(_)))
    ));
    assert!(block_on(w.messages.list(Some(stranger), chat, Default::default())).is_err());
}

#[test]
fn editing_removes_later_messages() {
    let w = world();
    let chat = new_chat(&w);
    chunks(block_on(w.messages.send(w.user, chat, text("first"))).unwrap());
    chunks(block_on(w.messages.send(w.user, chat, text("second"))).unwrap());
    let h = history(&w, chat);
    let (edited, removed) = block_on(w.messages.edit(
        w.user,
        h[0].id,
        vec![Part::Text {
            text: "first, edited".into(),
        }],
    ))
    .unwrap();
    assert_eq!(removed, 3);
    assert_eq!(edited.text(), "first, edited");
    assert_eq!(history(&w, chat).len(), 1);
    assert!(matches!(
        block_on(w.messages.edit(w.user, h[1].id, vec![Part::Text { text: "x".into() }])),
        Err(MessageError::MessageNotFound(_))
    ));
}

#[test]
fn a_model_that_cannot_start_leaves_the_question_and_no_answer() {
    let w = world();
    let chat = new_chat(&w);
    let input = SendInput {
        model: Some("down".into()),
        ..text("anyone there?")
    };
    let err = block_on(w.messages.send(w.user, chat, input))
        .err()
        .expect("the send fails");
    assert!(
        matches!(err, MessageError::Upstream(LlmError::Status { status: 503, .. })),
        "{err:?}"
    );
    let h = history(&w, chat);
    assert_eq!(h.len(), 1, "no answer is left behind: {h:?}");
    assert_eq!(h[0].text(), "anyone there?");
    assert!(
        block_on(w.messages.resume(w.user, chat, None)).unwrap().is_none(),
        "nothing runs"
    );
    // The chat is free: the next send goes through.
    chunks(block_on(w.messages.send(w.user, chat, text("hello"))).unwrap());
    let h = history(&w, chat);
    assert_eq!(h.len(), 3);
    assert_eq!(h[2].status, MessageStatus::Complete);
}
