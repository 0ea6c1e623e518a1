//! The message service, its ports and settings: what every message use case shares.

use std::sync::Arc;
use std::time::Duration;

use super::error::MessageError;
use super::model::{Message, MessageListQuery};
use super::port::{MessageStore, UsageStore};
use crate::auth::UserStore;
use crate::chats::{ChatService, ChatStore};
use crate::generations::{GenerationTask, Generations};
use crate::id::{ChatId, StreamId};
use crate::llm::LanguageModel;
use crate::models::ModelCatalog;
use crate::page::Limit;
use crate::ports::{Clock, KvCache, Rng};
use crate::streams::StreamHub;

/// Settings of the message use cases.
#[derive(Debug, Clone, Copy)]
pub struct MessageConfig {
    /// How many of the latest messages make the model's context.
    pub context_messages: u32,
    /// How long an answer stays in the response cache; zero turns the cache off.
    pub response_cache_ttl: Duration,
    /// Whether one user's answer may be served to another who sends the same conversation.
    /// Off by default: a shared cache tells a user what another asked and was answered (and
    /// whether anyone did), so it suits only deployments where every user may see that.
    pub response_cache_shared: bool,
}

impl Default for MessageConfig {
    fn default() -> Self {
        Self {
            context_messages: 100,
            response_cache_ttl: Duration::from_secs(3600),
            response_cache_shared: false,
        }
    }
}

/// Messages per user per UTC day.
#[derive(Debug, Clone, Copy)]
pub struct QuotaConfig {
    /// For guests.
    pub guest_daily_messages: u64,
    /// For registered users (unless an admin set a limit for the user).
    pub regular_daily_messages: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            guest_daily_messages: 20,
            regular_daily_messages: 200,
        }
    }
}

/// Sending messages and streaming answers, history, edits, votes, export, usage.
pub struct MessageService {
    pub(super) ports: MessagePorts,
    pub(super) config: MessageConfig,
    pub(super) quotas: QuotaConfig,
}

/// A chat's claim on its one generation, held from the start of a send until its generation
/// ends (or for an edit). Whoever holds it releases it; one dropped unreleased (the request
/// went away mid-way) is released in the background.
pub(super) struct Claim {
    generations: Arc<dyn Generations>,
    pub(super) chat: ChatId,
    pub(super) stream: StreamId,
    held: bool,
}

impl Claim {
    /// Releases the claim now.
    pub(super) async fn release(mut self) {
        self.held = false;
        self.generations.release(self.chat, self.stream).await;
    }

    /// Runs the claimed generation; its task releases the claim at its end.
    pub(super) fn run(mut self, task: GenerationTask) {
        self.held = false;
        self.generations.run(self.chat, self.stream, task);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.held {
            let (generations, chat, stream) = (Arc::clone(&self.generations), self.chat, self.stream);
            self.generations.run(
                chat,
                stream,
                Box::new(move |_| Box::pin(async move { generations.release(chat, stream).await })),
            );
        }
    }
}

/// The ports a [`MessageService`] works through.
pub struct MessagePorts {
    /// Chat access rules.
    pub chats: Arc<ChatService>,
    /// Chats.
    pub chat_store: Arc<dyn ChatStore>,
    /// Messages and votes.
    pub messages: Arc<dyn MessageStore>,
    /// Daily usage.
    pub usage: Arc<dyn UsageStore>,
    /// Users (for quotas).
    pub users: Arc<dyn UserStore>,
    /// Stream logs.
    pub hub: Arc<dyn StreamHub>,
    /// The models.
    pub model: Arc<dyn LanguageModel>,
    /// The response cache.
    pub cache: Arc<dyn KvCache>,
    /// Where generations run, one per chat.
    pub generations: Arc<dyn Generations>,
    /// The models on offer.
    pub catalog: Arc<ModelCatalog>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub rng: Arc<dyn Rng>,
}

impl MessageService {
    /// The service over its ports.
    pub fn new(ports: MessagePorts, config: MessageConfig, quotas: QuotaConfig) -> Self {
        Self { ports, config, quotas }
    }

    pub(super) async fn latest(&self, chat_id: ChatId, n: i64) -> Result<Vec<Message>, MessageError> {
        let query = MessageListQuery {
            chat_id,
            limit: Limit::new(n).expect("valid limit"),
            before: None,
        };
        let mut messages = self.ports.messages.list_messages(&query).await?;
        messages.truncate(usize::try_from(n).unwrap_or(1));
        Ok(messages)
    }

    /// Claims the chat's one generation for `stream`.
    ///
    /// # Errors
    /// `Busy` when a generation holds the chat; `Generation` when the port fails.
    pub(super) async fn claim(&self, chat: ChatId, stream: StreamId) -> Result<Claim, MessageError> {
        self.ports.generations.claim(chat, stream).await?;
        Ok(Claim {
            generations: Arc::clone(&self.ports.generations),
            chat,
            stream,
            held: true,
        })
    }
}
