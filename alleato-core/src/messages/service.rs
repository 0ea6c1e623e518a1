use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::{
    DailyUsage, Message, MessageListQuery, MessageStatus, Part, QuotaCharge, Role, Turn, Vote, VoteKind,
    parse_user_parts,
};
use super::port::{MessageStore, Spawner, UsageStore};
use super::ui_stream::{Metadata, TEXT_ID, UiChunk};
use crate::auth::{UserKind, UserStore};
use crate::chats::{Chat, ChatError, ChatService, ChatStore, ChatTitle};
use crate::id::{ChatId, MessageId, StreamId, UserId};
use crate::join::{Boxed, join_all, join2};
use crate::llm::{CompletionRequest, LanguageModel, LlmError, ModelEvent, ModelMessage, ModelRole, ModelStream, Usage};
use crate::models::ModelCatalog;
use crate::page::{Limit, Page, PageRequest};
use crate::ports::{CacheError, Clock, KvCache, Rng};
use crate::signal::Signal;
use crate::store::StoreError;
use crate::streams::{EventStream, GenerationProbe, StreamError, StreamHub, StreamMeta, StreamStatus};
use crate::time::Timestamp;
use crate::validation::{FieldError, Validator};

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

/// What the client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A new user message, answered.
    Submit,
    /// Answer the last user message again, replacing the last answer.
    Regenerate,
}

/// A request to send a message (or regenerate the answer).
#[derive(Debug, Clone)]
pub struct SendInput {
    /// Submit or regenerate.
    pub trigger: Trigger,
    /// The new user message's parts (for `Submit`).
    pub parts: Vec<Part>,
    /// A model from the catalog for this answer; the chat's model when absent.
    pub model: Option<String>,
}

/// A generation that has started: follow `events` to the end.
pub struct Generation {
    /// The stream the generation is logged in.
    pub stream_id: StreamId,
    /// The assistant message being written.
    pub message_id: MessageId,
    /// Whether the answer comes from the response cache.
    pub cache_hit: bool,
    /// The UI message stream chunks, from the first; ends when the generation does.
    pub events: EventStream,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `{chat, messages}`.
    Json,
    /// A readable transcript.
    Markdown,
}

/// The errors of the message use cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Input fields failed validation.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The chat is missing or not the caller's to read.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The message is missing or not the caller's.
    #[error("message {0} not found")]
    MessageNotFound(MessageId),
    /// A generation is already running in this chat.
    #[error("a generation is already running in this chat")]
    Busy,
    /// The daily message quota is used up.
    #[error("daily message quota of {limit} reached")]
    QuotaExceeded {
        /// The quota.
        limit: u64,
        /// Seconds until it resets (midnight UTC).
        resets_in_secs: u64,
    },
    /// The model could not start answering.
    #[error(transparent)]
    Upstream(#[from] LlmError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stream hub failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

const DAY_MS: i64 = 86_400_000;

fn day_of(t: Timestamp) -> i64 {
    t.as_millis().div_euclid(DAY_MS)
}

/// A title from the first message: its first line, whitespace collapsed, at most 80
/// characters, cut at a word boundary.
pub fn title_from(text: &str) -> Option<ChatTitle> {
    const MAX: usize = 80;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut title = String::new();
    for w in &words {
        let extra = usize::from(!title.is_empty()) + w.chars().count();
        if title.chars().count() + extra > MAX {
            if title.is_empty() {
                title = w.chars().take(MAX - 1).collect();
            }
            title.push('…');
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(w);
    }
    let clean: String = title.chars().filter(|c| !c.is_control()).collect();
    ChatTitle::parse(&clean).ok()
}

/// A running generation: set `stop` to end it; `done` is set when its message is saved.
#[derive(Clone, Default)]
struct Running {
    stop: Signal,
    done: Signal,
}

/// A cached answer.
#[derive(Serialize, Deserialize)]
struct CachedAnswer {
    text: String,
    input_tokens: u64,
    output_tokens: u64,
}

/// Sending messages and streaming answers, history, edits, votes, export, usage.
pub struct MessageService {
    ports: MessagePorts,
    config: MessageConfig,
    quotas: QuotaConfig,
    running: Arc<Mutex<HashMap<StreamId, Running>>>,
    /// Chats with a send in progress: from the start of `send` until its generation ends.
    busy: Arc<Mutex<HashSet<ChatId>>>,
}

/// A chat's claim on its one generation; released when dropped.
struct ChatSlot {
    busy: Arc<Mutex<HashSet<ChatId>>>,
    chat: ChatId,
}

impl ChatSlot {
    fn release(&self) {
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

use crate::sync::lock;

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

    /// Stores the user's message (or prepares a regeneration), starts the model, and returns
    /// the generation's stream. The generation runs to its end on its own, whether or not
    /// anyone follows it.
    ///
    /// # Errors
    /// `Chat` (not found / forbidden), `Validation`, `Busy`, `QuotaExceeded`, `Upstream` when
    /// the model cannot start; nothing is streamed then.
    pub async fn send(&self, owner: UserId, chat_id: ChatId, input: SendInput) -> Result<Generation, MessageError> {
        let chat = self.ports.chats.owned(owner, chat_id).await?;
        let mut v = Validator::new();
        let model = v
            .check_opt(
                "model",
                input.model.as_deref().map(|m| {
                    self.ports
                        .catalog
                        .get(m)
                        .map(|m| m.id.clone())
                        .ok_or("is not an available model")
                }),
            )
            .flatten()
            .unwrap_or_else(|| chat.model.clone());
        let parts = match input.trigger {
            Trigger::Submit => match parse_user_parts(input.parts) {
                Ok(p) => p,
                Err(errors) => return Err(MessageError::Validation(errors)),
            },
            Trigger::Regenerate => Vec::new(),
        };
        v.finish().map_err(MessageError::Validation)?;

        // One generation per chat: the claim is taken before anything is read or written, so
        // concurrent sends cannot both pass.
        let slot = self.claim(chat_id)?;
        let latest = self.latest(chat_id, 1).await?;
        let last = latest.last();
        if input.trigger == Trigger::Regenerate && last.is_none() {
            return Err(MessageError::Validation(vec![FieldError::new(
                "trigger",
                "there is no message to regenerate",
            )]));
        }
        let quota = self.quota_charge(owner).await?;

        let mut now = self.ports.clock.now();
        if let Some(last) = last {
            now = now.max(last.created_at.plus_millis(1));
        }
        // The context is what storage holds, read before this send writes anything, as the
        // send's writes will leave it: a new message joins it, a replaced answer leaves it. So
        // the model can start while the writes are made.
        let limit = self.context_limit();
        let mut user_message = None;
        let mut replaces = None;
        let mut context = match input.trigger {
            Trigger::Submit => {
                let message = Message {
                    id: MessageId::generate(&*self.ports.clock, &*self.ports.rng),
                    chat_id,
                    role: Role::User,
                    parts,
                    status: MessageStatus::Complete,
                    model: None,
                    usage: None,
                    stream_id: None,
                    created_at: now,
                };
                let mut context = self.context(chat_id, limit).await?;
                let text = message.text();
                if !text.is_empty() {
                    context.push(ModelMessage {
                        role: ModelRole::User,
                        text,
                    });
                }
                user_message = Some(message);
                now = now.plus_millis(1);
                context
            }
            Trigger::Regenerate => {
                let last = last.expect("checked above");
                if last.role == Role::Assistant {
                    replaces = Some(last.id);
                    // One more, as the replaced answer is in it when it has text.
                    let wider = Limit::new(i64::from(limit.get()) + 1).unwrap_or(limit);
                    let mut context = self.context(chat_id, wider).await?;
                    if last.status != MessageStatus::Streaming && !last.text().is_empty() {
                        context.pop();
                    }
                    context
                } else {
                    self.context(chat_id, limit).await?
                }
            }
        };
        let excess = context.len().saturating_sub(limit.get() as usize);
        context.drain(..excess);
        let request = CompletionRequest {
            model: model.clone(),
            messages: context,
        };
        let cache_key = (input.trigger == Trigger::Submit && !self.config.response_cache_ttl.is_zero())
            .then(|| cache_key(&request));
        let cached = match &cache_key {
            Some(key) => self.cached(key).await,
            None => None,
        };
        let cache_hit = cached.is_some();

        let stream_id = StreamId::generate(&*self.ports.clock, &*self.ports.rng);
        let message = Message {
            id: MessageId::generate(&*self.ports.clock, &*self.ports.rng),
            chat_id,
            role: Role::Assistant,
            parts: Vec::new(),
            status: MessageStatus::Streaming,
            model: Some(model),
            usage: None,
            stream_id: Some(stream_id),
            created_at: now,
        };
        // The writes go together (one batch where the store batches), and the model starts
        // meanwhile.
        let turn = Turn {
            quota,
            question: user_message.as_ref(),
            replaces,
            answer: &message,
        };
        let writes = self.store_turn(owner, &turn);
        let source = async {
            match cached {
                Some(answer) => Ok(replay(answer)),
                None => self.ports.model.stream(request).await,
            }
        };
        let (written, source) = join2(writes, source).await;
        let source = match (written, source) {
            (Ok(()), Ok(source)) => source,
            (written, source) => {
                // Nothing is streamed: an answer that cannot start is not left `streaming`.
                if written.is_ok() {
                    self.abandon(&message).await;
                }
                written?;
                source?
            }
        };
        if let Some(question) = &user_message
            && last.is_none()
            && chat.title == ChatTitle::default_title()
        {
            self.retitle(chat.clone(), &question.text(), message.created_at).await;
        }
        let events = match self.ports.hub.follow(stream_id, None).await {
            Ok(events) => events,
            Err(e) => {
                self.abandon(&message).await;
                return Err(e.into());
            }
        };

        let running = Running::default();
        lock(&self.running).insert(stream_id, running.clone());
        let job = Job {
            hub: self.ports.hub.clone(),
            messages: self.ports.messages.clone(),
            usage: self.ports.usage.clone(),
            cache: self.ports.cache.clone(),
            clock: self.ports.clock.clone(),
            registry: self.running.clone(),
            owner,
            message: message.clone(),
            stream_id,
            running,
            slot,
            cache_put: if cache_hit {
                None
            } else {
                cache_key.map(|k| (k, self.config.response_cache_ttl))
            },
        };
        self.ports.spawner.spawn(Box::pin(job.run(source)));
        Ok(Generation {
            stream_id,
            message_id: message.id,
            cache_hit,
            events,
        })
    }

    /// Follows the chat's running generation from after `after` (from the start when `None`),
    /// or `None` when nothing is running.
    ///
    /// # Errors
    /// `Chat` when the chat is not the caller's.
    pub async fn resume(
        &self,
        owner: UserId,
        chat_id: ChatId,
        after: Option<u64>,
    ) -> Result<Option<(StreamId, EventStream)>, MessageError> {
        self.ports.chats.owned(owner, chat_id).await?;
        let latest = self.latest(chat_id, 1).await?;
        let Some(stream_id) = latest
            .last()
            .filter(|m| m.status == MessageStatus::Streaming)
            .and_then(|m| m.stream_id)
        else {
            return Ok(None);
        };
        match self.ports.hub.follow(stream_id, after).await {
            Ok(events) => Ok(Some((stream_id, events))),
            Err(StreamError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops the chat's running generation and waits until its partial answer is saved with
    /// status `stopped`. Stopping when nothing runs is not an error.
    ///
    /// # Errors
    /// `Chat` when the chat is not the caller's.
    pub async fn stop(&self, owner: UserId, chat_id: ChatId) -> Result<(), MessageError> {
        self.ports.chats.owned(owner, chat_id).await?;
        let latest = self.latest(chat_id, 1).await?;
        let Some(message) = latest
            .into_iter()
            .next()
            .filter(|m| m.status == MessageStatus::Streaming)
        else {
            return Ok(());
        };
        let running = message.stream_id.and_then(|s| lock(&self.running).get(&s).cloned());
        match running {
            Some(r) => {
                r.stop.set();
                r.done.wait().await;
            }
            // No task of this process writes it: it was orphaned by a crash.
            None => self.finish_orphan(message, MessageStatus::Stopped).await?,
        }
        Ok(())
    }

    /// Marks every answer left `streaming` by a previous process as `error`, with the text its
    /// stream log holds, and closes those streams. Call once at start-up, before serving.
    ///
    /// # Errors
    /// Storage or stream failures.
    pub async fn recover_interrupted(&self) -> Result<usize, MessageError> {
        let orphans = self.ports.messages.streaming_messages().await?;
        let n = orphans.len();
        for message in orphans {
            self.finish_orphan(message, MessageStatus::Error).await?;
        }
        Ok(n)
    }

    async fn finish_orphan(&self, mut message: Message, status: MessageStatus) -> Result<(), MessageError> {
        let mut text = String::new();
        if let Some(stream_id) = message.stream_id {
            let end = match status {
                MessageStatus::Error => UiChunk::Error {
                    error_text: "the server restarted during this answer".to_owned(),
                }
                .to_json(),
                _ => UiChunk::Finish.to_json(),
            };
            match self.ports.hub.append(stream_id, &end).await {
                Ok(_) | Err(StreamError::Closed | StreamError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            match self.ports.hub.close(stream_id).await {
                Ok(()) | Err(StreamError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            if let Ok(mut events) = self.ports.hub.follow(stream_id, None).await {
                while let Some(event) = next(&mut events).await {
                    if let Some(delta) = UiChunk::delta_of(&event.data) {
                        text.push_str(&delta);
                    }
                }
            }
        }
        message.parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Text { text }]
        };
        message.status = status;
        match self.ports.messages.update_message(&message).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of a readable chat's messages: oldest first within the page, pages going back
    /// in time.
    ///
    /// # Errors
    /// `Chat` when the viewer may not read the chat.
    pub async fn list(
        &self,
        viewer: Option<UserId>,
        chat_id: ChatId,
        page: PageRequest,
    ) -> Result<Page<Message>, MessageError> {
        self.ports.chats.get(viewer, chat_id).await?;
        self.page(chat_id, page).await
    }

    /// A readable chat with its latest 100 messages (oldest first) and the cursor of older ones.
    ///
    /// # Errors
    /// `Chat` when the viewer may not read the chat.
    pub async fn chat_with_messages(
        &self,
        viewer: Option<UserId>,
        chat_id: ChatId,
    ) -> Result<(Chat, Page<Message>), MessageError> {
        let chat = self.ports.chats.get(viewer, chat_id).await?;
        let limit = Limit::new(100).expect("100 is a valid limit");
        let page = self.page(chat_id, PageRequest { limit, after: None }).await?;
        Ok((chat, page))
    }

    async fn page(&self, chat_id: ChatId, page: PageRequest) -> Result<Page<Message>, MessageError> {
        let query = MessageListQuery {
            chat_id,
            limit: page.limit,
            before: page.after,
        };
        let newest_first = self.ports.messages.list_messages(&query).await?;
        let mut page = Page::from_overfetch(newest_first, page.limit, Message::cursor);
        page.items.reverse();
        for message in &mut page.items {
            self.fill_in_progress(message).await;
        }
        Ok(page)
    }

    /// An answer still being generated is stored whole only at its end; until then its text so
    /// far is whatever its stream log holds. Reads what is already there without waiting.
    async fn fill_in_progress(&self, message: &mut Message) {
        let Some(stream_id) = message.stream_id.filter(|_| message.status == MessageStatus::Streaming) else {
            return;
        };
        let Ok(mut events) = self.ports.hub.follow(stream_id, None).await else {
            return;
        };
        let mut text = String::new();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        while let Poll::Ready(Some(event)) = events.as_mut().poll_next(&mut cx) {
            if let Some(delta) = UiChunk::delta_of(&event.data) {
                text.push_str(&delta);
            }
        }
        if !text.is_empty() {
            message.parts = vec![Part::Text { text }];
        }
    }

    /// Every message of a readable chat, oldest first, for export.
    ///
    /// # Errors
    /// `Chat` when the viewer may not read the chat.
    pub async fn export(&self, viewer: Option<UserId>, chat_id: ChatId) -> Result<(Chat, Vec<Message>), MessageError> {
        let chat = self.ports.chats.get(viewer, chat_id).await?;
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let query = MessageListQuery {
                chat_id,
                limit: Limit::new(100).expect("valid"),
                before,
            };
            let batch = self.ports.messages.list_messages(&query).await?;
            let more = batch.len() > 100;
            all.extend(batch.into_iter().take(100));
            if !more {
                break;
            }
            before = all.last().map(Message::cursor);
        }
        all.reverse();
        Ok((chat, all))
    }

    /// Replaces a user message's parts and removes every later message of the chat.
    /// Returns the edited message and how many messages were removed.
    ///
    /// # Errors
    /// `MessageNotFound` (also for messages of others' private chats), `Chat(Forbidden)` for
    /// messages of others' public chats, `Validation` for bad parts or a
    /// non-user message, `Busy` while a generation runs in the chat.
    pub async fn edit(&self, owner: UserId, id: MessageId, parts: Vec<Part>) -> Result<(Message, u64), MessageError> {
        let mut message = self.owned_message(owner, id).await?;
        if message.role != Role::User {
            return Err(MessageError::Validation(vec![FieldError::new(
                "id",
                "only user messages can be edited",
            )]));
        }
        message.parts = parse_user_parts(parts).map_err(MessageError::Validation)?;
        let _slot = self.claim(message.chat_id)?;
        self.ports.messages.update_message(&message).await?;
        let removed = self
            .ports
            .messages
            .delete_messages_after(message.chat_id, message.cursor())
            .await?;
        Ok((message, removed))
    }

    /// Deletes a message of the caller's chat.
    ///
    /// # Errors
    /// `MessageNotFound` (also for messages of others' private chats), `Chat(Forbidden)` for
    /// messages of others' public chats.
    pub async fn delete(&self, owner: UserId, id: MessageId) -> Result<(), MessageError> {
        self.owned_message(owner, id).await?;
        match self.ports.messages.delete_message(id).await {
            Err(StoreError::NotFound) => Err(MessageError::MessageNotFound(id)),
            other => Ok(other?),
        }
    }

    /// Casts or changes the caller's vote on an assistant message of their chat.
    ///
    /// # Errors
    /// `MessageNotFound`; `Validation` for a bad kind or a non-assistant message.
    pub async fn vote(&self, owner: UserId, id: MessageId, kind: &str) -> Result<Vote, MessageError> {
        let mut v = Validator::new();
        let kind = v.check("type", VoteKind::parse(kind));
        v.finish().map_err(MessageError::Validation)?;
        let message = self.owned_message(owner, id).await?;
        if message.role != Role::Assistant {
            return Err(MessageError::Validation(vec![FieldError::new(
                "messageId",
                "only assistant messages can be voted on",
            )]));
        }
        let vote = Vote {
            chat_id: message.chat_id,
            message_id: id,
            user_id: owner,
            kind: kind.expect("validated"),
            updated_at: self.ports.clock.now(),
        };
        match self.ports.messages.upsert_vote(&vote).await {
            Err(StoreError::NotFound) => Err(MessageError::MessageNotFound(id)),
            other => other.map(|()| vote).map_err(Into::into),
        }
    }

    /// The votes in the caller's chat.
    ///
    /// # Errors
    /// `Chat` when it is not the caller's.
    pub async fn votes(&self, owner: UserId, chat_id: ChatId) -> Result<Vec<Vote>, MessageError> {
        self.ports.chats.owned(owner, chat_id).await?;
        Ok(self.ports.messages.votes(chat_id).await?)
    }

    /// The user's usage today (UTC) and their daily message quota.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn usage_today(&self, user: UserId) -> Result<(DailyUsage, u64), MessageError> {
        let usage = self
            .ports
            .usage
            .daily_usage(user, day_of(self.ports.clock.now()))
            .await?;
        Ok((usage, self.quota_of(user).await?))
    }

    async fn quota_of(&self, user: UserId) -> Result<u64, MessageError> {
        let record = self.ports.users.user_by_id(user).await?;
        Ok(match record {
            Some(r) => r.daily_message_limit.map(u64::from).unwrap_or(match r.user.kind {
                UserKind::Guest => self.quotas.guest_daily_messages,
                UserKind::Regular => self.quotas.regular_daily_messages,
            }),
            None => 0,
        })
    }

    /// The charge of one more message to the user's daily quota, refused at once when today's
    /// count has already reached it (the model is not called then; the charge itself is made
    /// atomically with the send's writes).
    async fn quota_charge(&self, user: UserId) -> Result<QuotaCharge, MessageError> {
        let limit = self.quota_of(user).await?;
        let now = self.ports.clock.now();
        let day = day_of(now);
        if self.ports.usage.daily_usage(user, day).await?.messages >= limit {
            return Err(quota_exceeded(limit, now));
        }
        Ok(QuotaCharge { user, day, limit })
    }

    async fn owned_message(&self, owner: UserId, id: MessageId) -> Result<Message, MessageError> {
        let message = self
            .ports
            .messages
            .message(id)
            .await?
            .ok_or(MessageError::MessageNotFound(id))?;
        // A message of another user's public chat is readable by anyone, so refusing to change
        // it says nothing new: 403, as for the chat itself. A private one stays unseen: 404.
        match self.ports.chats.owned(owner, message.chat_id).await {
            Ok(_) => Ok(message),
            Err(ChatError::NotFound(_)) => Err(MessageError::MessageNotFound(id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a generation of this process is writing `stream` now.
    pub fn is_generating(&self, stream: StreamId) -> bool {
        lock(&self.running).contains_key(&stream)
    }

    fn claim(&self, chat: ChatId) -> Result<ChatSlot, MessageError> {
        if lock(&self.busy).insert(chat) {
            Ok(ChatSlot {
                busy: self.busy.clone(),
                chat,
            })
        } else {
            Err(MessageError::Busy)
        }
    }

    /// Deletes the caller's chat with everything in it, and ends its streams: a generation
    /// running in it stops, and every follower gets the end.
    ///
    /// # Errors
    /// `Chat` when the chat is not the caller's.
    pub async fn delete_chat(&self, owner: UserId, chat_id: ChatId) -> Result<(), MessageError> {
        self.ports.chats.delete(owner, chat_id).await?;
        self.ports.hub.delete_chat_streams(chat_id).await?;
        Ok(())
    }

    async fn latest(&self, chat_id: ChatId, n: i64) -> Result<Vec<Message>, MessageError> {
        let query = MessageListQuery {
            chat_id,
            limit: Limit::new(n).expect("valid limit"),
            before: None,
        };
        let mut messages = self.ports.messages.list_messages(&query).await?;
        messages.truncate(usize::try_from(n).unwrap_or(1));
        Ok(messages)
    }

    /// Stores a send's writes (the quota's count, the question, the answer, and the removal of
    /// the answer it replaces) and creates the answer's stream, together. When either fails,
    /// the answer and its stream are undone, whichever exists.
    async fn store_turn(&self, owner: UserId, turn: &Turn<'_>) -> Result<(), MessageError> {
        let answer = turn.answer;
        let meta = StreamMeta {
            id: answer.stream_id.expect("answers have a stream"),
            owner,
            chat_id: Some(answer.chat_id),
            status: StreamStatus::Open,
            created_at: answer.created_at,
        };
        let (counted, created) = join2(self.ports.messages.insert_turn(turn), self.ports.hub.create(&meta)).await;
        let failure = match (counted, created) {
            (Ok(Some(_)), Ok(())) => return Ok(()),
            (Ok(None), _) => quota_exceeded(turn.quota.limit, self.ports.clock.now()),
            (Err(e), _) => chat_gone(e, answer.chat_id),
            (Ok(Some(_)), Err(e)) => e.into(),
        };
        self.abandon(answer).await;
        Err(failure)
    }

    /// Undoes an answer that cannot start: removes it and its stream (either may not exist).
    async fn abandon(&self, answer: &Message) {
        let _ = self.ports.messages.delete_message(answer.id).await;
        if let Some(stream) = answer.stream_id {
            let _ = self.ports.hub.delete(stream).await;
        }
    }

    fn context_limit(&self) -> Limit {
        Limit::new(i64::from(self.config.context_messages.clamp(1, Limit::MAX))).expect("clamped to 1..=100")
    }

    async fn context(&self, chat_id: ChatId, limit: Limit) -> Result<Vec<ModelMessage>, MessageError> {
        let messages = self.ports.messages.context(chat_id, limit).await?;
        Ok(messages
            .into_iter()
            .map(|(role, text)| {
                let role = match role {
                    Role::User => ModelRole::User,
                    Role::Assistant => ModelRole::Assistant,
                    Role::System => ModelRole::System,
                };
                ModelMessage { role, text }
            })
            .collect())
    }

    /// Names the chat from its first message. The send has succeeded by then, so a title that
    /// cannot be saved (the chat was deleted meanwhile, or storage failed) leaves it as it was.
    async fn retitle(&self, mut chat: Chat, text: &str, now: Timestamp) {
        if let Some(title) = title_from(text) {
            chat.title = title;
            chat.updated_at = now.max(chat.updated_at);
            let _ = self.ports.chat_store.update_chat(&chat).await;
        }
    }

    async fn cached(&self, key: &str) -> Option<CachedAnswer> {
        // A cache failure only costs a model call.
        let raw = self.ports.cache.get(key).await.ok()??;
        serde_json::from_slice(&raw).ok()
    }
}

impl GenerationProbe for MessageService {
    fn is_generating(&self, stream: StreamId) -> bool {
        MessageService::is_generating(self, stream)
    }
}

fn quota_exceeded(limit: u64, now: Timestamp) -> MessageError {
    let resets_in_ms = (day_of(now) + 1) * DAY_MS - now.as_millis();
    MessageError::QuotaExceeded {
        limit,
        resets_in_secs: u64::try_from((resets_in_ms + 999) / 1000).unwrap_or(1),
    }
}

fn chat_gone(e: StoreError, chat_id: ChatId) -> MessageError {
    match e {
        StoreError::NotFound => MessageError::Chat(ChatError::NotFound(chat_id)),
        other => other.into(),
    }
}

fn cache_key(request: &CompletionRequest) -> String {
    let mut h = Sha256::new();
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
fn replay(answer: CachedAnswer) -> ModelStream {
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

async fn next<S: Stream + Unpin + ?Sized>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

/// Whichever comes first: the next model event, or the stop signal.
enum Step {
    Event(Option<Result<ModelEvent, LlmError>>),
    Stopped,
}

/// One generation, run in the background.
struct Job {
    hub: Arc<dyn StreamHub>,
    messages: Arc<dyn MessageStore>,
    usage: Arc<dyn UsageStore>,
    cache: Arc<dyn KvCache>,
    clock: Arc<dyn Clock>,
    registry: Arc<Mutex<HashMap<StreamId, Running>>>,
    owner: UserId,
    message: Message,
    stream_id: StreamId,
    running: Running,
    slot: ChatSlot,
    cache_put: Option<(String, Duration)>,
}

impl Job {
    /// Appends chunks in order, all submitted at once so that the hub can make them durable
    /// together (one commit instead of one per chunk). A failed append (the stream was deleted,
    /// or the hub is down) ends the generation; the outcome is recorded in the message's status.
    async fn append_all(&self, chunks: &[UiChunk]) -> bool {
        let jsons: Vec<String> = chunks.iter().map(UiChunk::to_json).collect();
        // Each append takes its place in the log when first polled (the StreamHub contract),
        // and `join_all` first polls them in order, so the chunks keep their order.
        let appends = jsons
            .iter()
            .map(|j| Box::pin(self.hub.append(self.stream_id, j)) as Boxed<'_, _>)
            .collect();
        join_all(appends).await.iter().all(Result::is_ok)
    }

    async fn run(self, mut source: ModelStream) {
        /// Most chunks appended in one batch.
        const BATCH: usize = 64;
        let mut text = String::new();
        let mut usage = None;
        let mut deltas = 0u64;
        let mut failure = None;
        let mut stopped = false;
        let mut alive = true;
        let mut batch = vec![
            UiChunk::Start {
                message_id: self.message.id.to_string(),
            },
            UiChunk::StartStep,
            UiChunk::TextStart { id: TEXT_ID.to_owned() },
        ];
        let stop = self.running.stop.wait();
        let mut stop = std::pin::pin!(stop);
        loop {
            // Wait for the next model event (or the stop) only when nothing is waiting to be
            // appended; otherwise take what is already there and append it all at once.
            let mut ended = false;
            while !ended && batch.len() < BATCH {
                let wait = batch.is_empty();
                let step = std::future::poll_fn(|cx| {
                    if std::future::Future::poll(stop.as_mut(), cx).is_ready() {
                        return Poll::Ready(Some(Step::Stopped));
                    }
                    match source.as_mut().poll_next(cx) {
                        Poll::Ready(event) => Poll::Ready(Some(Step::Event(event))),
                        Poll::Pending if wait => Poll::Pending,
                        Poll::Pending => Poll::Ready(None),
                    }
                })
                .await;
                match step {
                    None => break,
                    Some(Step::Stopped) => {
                        stopped = true;
                        ended = true;
                    }
                    Some(Step::Event(None)) => ended = true,
                    Some(Step::Event(Some(Ok(ModelEvent::TextDelta(delta))))) => {
                        if !delta.is_empty() {
                            text.push_str(&delta);
                            deltas += 1;
                            batch.push(UiChunk::TextDelta {
                                id: TEXT_ID.to_owned(),
                                delta,
                            });
                        }
                    }
                    Some(Step::Event(Some(Ok(ModelEvent::Usage(u))))) => usage = Some(u),
                    Some(Step::Event(Some(Err(e)))) => {
                        failure = Some(e);
                        ended = true;
                    }
                }
            }
            if ended {
                // What is left goes with the ending, in one batch with the saved answer.
                break;
            }
            if !batch.is_empty() {
                alive = self.append_all(&batch).await;
                batch.clear();
            }
            if !alive {
                break;
            }
        }
        // A hub that refuses appends (the stream was deleted) ends the generation as stopped.
        stopped |= !alive;
        // An answer cut short (stopped, or failed upstream) never got its final usage report:
        // it still cost what was read and every token that arrived.
        if failure.is_some() || stopped {
            let received = deltas;
            usage = match usage {
                Some(u) => Some(Usage {
                    output_tokens: u.output_tokens.max(received),
                    ..u
                }),
                None if received > 0 => Some(Usage {
                    input_tokens: 0,
                    output_tokens: received,
                }),
                None => None,
            };
        }
        let status = if failure.is_some() {
            MessageStatus::Error
        } else if stopped {
            MessageStatus::Stopped
        } else {
            MessageStatus::Complete
        };
        let mut ending = batch;
        if let Some(e) = &failure {
            ending.push(UiChunk::Error {
                error_text: e.to_string(),
            });
        } else if alive {
            let model = self.message.model.clone().unwrap_or_default();
            ending.extend([
                UiChunk::TextEnd { id: TEXT_ID.to_owned() },
                UiChunk::FinishStep,
                UiChunk::MessageMetadata {
                    message_metadata: Metadata {
                        model,
                        usage: usage.unwrap_or_default().into(),
                    },
                },
                UiChunk::Finish,
            ]);
        }

        let mut message = self.message.clone();
        message.parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Text { text: text.clone() }]
        };
        message.status = status;
        message.usage = usage;
        // The last chunks, the saved answer, the day's tokens and the cached answer go together
        // (one batch where the store batches); the stream closes only after all of them, so
        // whoever sees its end finds the answer saved.
        let mut saves: Vec<Boxed<'_, ()>> = vec![
            Box::pin(async {
                if !ending.is_empty() {
                    self.append_all(&ending).await;
                }
            }),
            Box::pin(async {
                let _ = self.messages.update_message(&message).await;
            }),
            Box::pin(async {
                if let Some(u) = usage {
                    let _ = self.usage.add_tokens(self.owner, day_of(self.clock.now()), u).await;
                }
            }),
        ];
        if let (MessageStatus::Complete, Some((key, ttl))) = (status, &self.cache_put) {
            let u = usage.unwrap_or_default();
            let answer = CachedAnswer {
                text,
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
            };
            let raw = serde_json::to_vec(&answer).expect("answers serialise");
            let cache = &self.cache;
            saves.push(Box::pin(async move {
                let _ = cache.put(key, &raw, *ttl).await;
            }));
        }
        join_all(saves).await;
        // The chat is free again before followers see the end: a client that sends its next
        // message on `[DONE]` must not be refused as busy.
        lock(&self.registry).remove(&self.stream_id);
        self.slot.release();
        let _ = self.hub.close(self.stream_id).await;
        self.running.done.set();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(
            title_from("  Hello   there \nsecond line").unwrap().as_str(),
            "Hello there"
        );
        let long = "word ".repeat(40);
        let t = title_from(&long).unwrap();
        assert!(
            t.as_str().chars().count() <= 81 && t.as_str().ends_with('…'),
            "{}",
            t.as_str()
        );
        assert_eq!(title_from("   \n  "), None);
        assert_eq!(title_from(&"x".repeat(500)).unwrap().as_str().chars().count(), 80);
    }
}
