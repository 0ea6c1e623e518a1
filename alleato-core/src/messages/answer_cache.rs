//! The response cache: its key, its lookup, and a cached answer replayed as a model stream.

use std::task::Poll;

use futures_core::Stream;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::service::MessageService;
use crate::id::UserId;
use crate::llm::{CompletionRequest, LlmError, ModelEvent, ModelStream, Usage};

/// A cached answer.
#[derive(Serialize, Deserialize)]
pub(super) struct CachedAnswer {
    pub(super) text: String,
    pub(super) input_tokens: u64,
    pub(super) output_tokens: u64,
}

/// The key of `request`'s answer: per user (`owner`), or shared by everyone when `owner` is
/// `None`. The two never collide: a per-user key hashes a marker and the user first.
pub(super) fn cache_key(owner: Option<UserId>, request: &CompletionRequest) -> String {
    let mut h = Sha256::new();
    if let Some(owner) = owner {
        h.update(b"user\0");
        h.update(owner.to_string().as_bytes());
        h.update([0u8]);
    }
    h.update(request.model.as_bytes());
    for m in &request.messages {
        h.update([0u8]);
        h.update(m.role.as_str().as_bytes());
        h.update([0u8]);
        h.update(m.text.as_bytes());
    }
    let digest = h.finalize();
    let mut key = String::from("resp:");
    for b in digest {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

/// A cached answer replayed as a model stream, word by word.
pub(super) fn replay(answer: CachedAnswer) -> ModelStream {
    let mut events: Vec<Result<ModelEvent, LlmError>> = Vec::new();
    let mut word = String::new();
    for c in answer.text.chars() {
        if !c.is_whitespace() && !word.is_empty() && word.ends_with(char::is_whitespace) {
            events.push(Ok(ModelEvent::TextDelta(std::mem::take(&mut word))));
        }
        word.push(c);
    }
    if !word.is_empty() {
        events.push(Ok(ModelEvent::TextDelta(word)));
    }
    events.push(Ok(ModelEvent::Usage(Usage {
        input_tokens: answer.input_tokens,
        output_tokens: answer.output_tokens,
    })));
    Box::pin(Iter(events.into_iter()))
}

struct Iter<I>(I);

impl<I: Iterator + Unpin> Stream for Iter<I> {
    type Item = I::Item;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.0.next())
    }
}

impl MessageService {
    pub(super) async fn cached(&self, key: &str) -> Option<CachedAnswer> {
        // A cache failure only costs a model call.
        let raw = self.ports.cache.get(key).await.ok()??;
        serde_json::from_slice(&raw).ok()
    }
}
