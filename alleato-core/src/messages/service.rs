//! The message service, its ports and settings: what every message use case shares.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::error::MessageError;
use super::model::{Message, MessageListQuery};
use super::port::{MessageStore, Spawner, UsageStore};
use crate::auth::UserStore;
use crate::chats::{ChatService, ChatStore};
use crate::id::{ChatId, StreamId};
use crate::llm::LanguageModel;
use crate::models::ModelCatalog;
use crate::page::Limit;
use crate::ports::{Clock, KvCache, Rng};
use crate::signal::Signal;
use crate::streams::StreamHub;
use crate::sync::lock;

/// Settings of the message use cases.
#[derive(Debug, Clone, Copy)]
pub struct MessageConfig {
    /// How many of the latest messages make the model's context.
    pub context_messages: u32,
    /// How long an answer stays in the response cache; zero turns the cache off.
    pub response_cache_ttl: Duration,
}

impl Default for MessageConfig {
    fn default() -> Self {
        Self {
            context_messages: 100,
            response_cache_ttl: Duration::from_secs(3600),
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

/// A running generation: set `stop` to end it; `done` is set when its message is saved.
#[derive(Clone, Default)]
pub(super) struct Running {
    pub(super) stop: Signal,
    pub(super) done: Signal,
}

/// Sending messages and streaming answers, history, edits, votes, export, usage.
pub struct MessageService {
    pub(super) ports: MessagePorts,
    pub(super) config: MessageConfig,
    pub(super) quotas: QuotaConfig,
    pub(super) running: Arc<Mutex<HashMap<StreamId, Running>>>,
    /// Chats with a send in progress: from the start of `send` until its generation ends.
    pub(super) busy: Arc<Mutex<HashSet<ChatId>>>,
}

/// A chat's claim on its one generation; released when dropped.
pub(super) struct ChatSlot {
    busy: Arc<Mutex<HashSet<ChatId>>>,
    chat: ChatId,
}

impl ChatSlot {
    pub(super) fn release(&self) {
        lock(&self.busy).remove(&self.chat);
    }
}

impl Drop for ChatSlot {
    fn drop(&mut self) {
        self.release();
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
    /// Background tasks.
    pub spawner: Arc<dyn Spawner>,
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
        Self {
            ports,
            config,
            quotas,
            running: Arc::default(),
            busy: Arc::default(),
        }
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

    pub(super) fn claim(&self, chat: ChatId) -> Result<ChatSlot, MessageError> {
        if lock(&self.busy).insert(chat) {
            Ok(ChatSlot {
                busy: self.busy.clone(),
                chat,
            })
        } else {
            Err(MessageError::Busy)
        }
    }
}
