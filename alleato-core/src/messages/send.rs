//! Sending a message: validate, charge the quota, store the turn, and start a generation.

use super::answer_cache::{cache_key, replay};
use super::error::MessageError;
use super::generation::Job;
use super::model::{Message, MessageStatus, Part, Role, Turn, parse_user_parts};
use super::quota::quota_exceeded;
use super::service::MessageService;
use crate::chats::{Chat, ChatError, ChatTitle};
use crate::id::{ChatId, MessageId, StreamId, UserId};
use crate::join::join2;
use crate::llm::{CompletionRequest, ModelMessage, ModelRole, ModelStream};
use crate::page::Limit;
use crate::store::StoreError;
use crate::streams::{EventStream, StreamMeta, StreamStatus};
use crate::time::Timestamp;
use crate::validation::{FieldError, Validator};

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

fn chat_gone(e: StoreError, chat_id: ChatId) -> MessageError {
    match e {
        StoreError::NotFound => MessageError::Chat(ChatError::NotFound(chat_id)),
        other => other.into(),
    }
}

impl MessageService {
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
        let stream_id = StreamId::generate(&*self.ports.clock, &*self.ports.rng);
        let claim = self.claim(chat_id, stream_id).await?;
        match self.start(owner, chat, input.trigger, parts, model, stream_id).await {
            Ok((generation, job, source)) => {
                claim.run(Box::new(move |stop| Box::pin(job.run(source, stop))));
                Ok(generation)
            }
            Err(e) => {
                claim.release().await;
                Err(e)
            }
        }
    }

    /// Everything a send does once it holds the chat's claim, up to the job that will run its
    /// generation.
    async fn start(
        &self,
        owner: UserId,
        chat: Chat,
        trigger: Trigger,
        parts: Vec<Part>,
        model: String,
        stream_id: StreamId,
    ) -> Result<(Generation, Job, ModelStream), MessageError> {
        let chat_id = chat.id;
        let latest = self.latest(chat_id, 1).await?;
        let last = latest.last();
        if trigger == Trigger::Regenerate && last.is_none() {
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
        let mut context = match trigger {
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
        let cache_owner = (!self.config.response_cache_shared).then_some(owner);
        let cache_key = (trigger == Trigger::Submit && !self.config.response_cache_ttl.is_zero())
            .then(|| cache_key(cache_owner, &request));
        let cached = match &cache_key {
            Some(key) => self.cached(key).await,
            None => None,
        };
        let cache_hit = cached.is_some();

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

        let job = Job {
            hub: self.ports.hub.clone(),
            messages: self.ports.messages.clone(),
            usage: self.ports.usage.clone(),
            cache: self.ports.cache.clone(),
            clock: self.ports.clock.clone(),
            generations: self.ports.generations.clone(),
            owner,
            message: message.clone(),
            stream_id,
            cache_put: if cache_hit {
                None
            } else {
                cache_key.map(|k| (k, self.config.response_cache_ttl))
            },
        };
        let generation = Generation {
            stream_id,
            message_id: message.id,
            cache_hit,
            events,
        };
        Ok((generation, job, source))
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
