//! Users, chats, messages, votes and usage in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::auth::{DisplayName, Email, UserKind, UserRecord, UserStore};
use crate::chats::{Chat, ChatListQuery, ChatStore};
use crate::id::{ChatId, MessageId, UserId};
use crate::llm::Usage;
use crate::messages::{
    DailyUsage, Message, MessageListQuery, MessageStatus, MessageStore, Role, Turn, UsageStore, Vote,
};
use crate::page::{Cursor, Limit};
use crate::store::StoreError;
use crate::sync::lock;

/// Users and chats in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    users: HashMap<UserId, UserRecord>,
    chats: HashMap<ChatId, Chat>,
    /// The ids of deleted chats, never used again.
    retired_chats: std::collections::HashSet<ChatId>,
    messages: HashMap<MessageId, Message>,
    votes: HashMap<(MessageId, UserId), Vote>,
    usage: HashMap<(UserId, i64), DailyUsage>,
}

impl Tables {
    fn chat_text_matches(&self, chat: &Chat, search: &crate::chats::SearchText) -> bool {
        search.matches(chat.title.as_str())
            || self
                .messages
                .values()
                .any(|m| m.chat_id == chat.id && search.matches(&m.text()))
    }

    /// Stores a message and moves its chat's `updated_at` up to it.
    fn insert_message(&mut self, message: &Message) -> Result<(), StoreError> {
        if self.messages.contains_key(&message.id) {
            return Err(StoreError::Conflict("message"));
        }
        let chat = self.chats.get_mut(&message.chat_id).ok_or(StoreError::NotFound)?;
        chat.updated_at = chat.updated_at.max(message.created_at);
        self.messages.insert(message.id, message.clone());
        Ok(())
    }

    /// Adds one message to the user's count for the day unless it has reached `limit`.
    fn count_message(&mut self, user: UserId, day: i64, limit: u64) -> Option<u64> {
        let u = self.usage.entry((user, day)).or_default();
        if u.messages >= limit {
            return None;
        }
        u.messages += 1;
        Some(u.messages)
    }

    fn remove_message(&mut self, id: MessageId) -> bool {
        self.votes.retain(|(m, _), _| *m != id);
        self.messages.remove(&id).is_some()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        if t.users.contains_key(&user.user.id) {
            return Err(StoreError::Conflict("user"));
        }
        if let Some(email) = &user.user.email
            && t.users.values().any(|u| u.user.email.as_ref() == Some(email))
        {
            return Err(StoreError::Conflict("email"));
        }
        t.users.insert(user.user.id, user.clone());
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        Ok(lock(&self.inner).users.get(&id).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        Ok(lock(&self.inner)
            .users
            .values()
            .find(|u| u.user.email.as_ref() == Some(email))
            .cloned())
    }

    async fn upgrade_guest(
        &self,
        id: UserId,
        email: &Email,
        name: Option<&DisplayName>,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        if t.users.values().any(|u| u.user.email.as_ref() == Some(email)) {
            return Err(StoreError::Conflict("email"));
        }
        let user = t
            .users
            .get_mut(&id)
            .filter(|u| u.user.kind == UserKind::Guest)
            .ok_or(StoreError::NotFound)?;
        user.user.kind = UserKind::Regular;
        user.user.email = Some(email.clone());
        user.user.name = name.cloned();
        user.password_hash = Some(password_hash.to_owned());
        Ok(())
    }
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn insert_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        if t.chats.contains_key(&chat.id) || t.retired_chats.contains(&chat.id) {
            return Err(StoreError::Conflict("chat"));
        }
        t.chats.insert(chat.id, chat.clone());
        Ok(())
    }

    async fn chat(&self, id: ChatId) -> Result<Option<Chat>, StoreError> {
        Ok(lock(&self.inner).chats.get(&id).cloned())
    }

    async fn update_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        let stored = t.chats.get_mut(&chat.id).ok_or(StoreError::NotFound)?;
        stored.title = chat.title.clone();
        stored.visibility = chat.visibility;
        stored.model = chat.model.clone();
        stored.updated_at = chat.updated_at;
        Ok(())
    }

    async fn delete_chat(&self, id: ChatId) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        t.chats.remove(&id).ok_or(StoreError::NotFound)?;
        t.retired_chats.insert(id);
        let gone: Vec<MessageId> = t.messages.values().filter(|m| m.chat_id == id).map(|m| m.id).collect();
        for m in gone {
            t.remove_message(m);
        }
        Ok(())
    }

    async fn discard_empty_chat(&self, id: ChatId) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        if !t.chats.contains_key(&id) || t.messages.values().any(|m| m.chat_id == id) {
            return Err(StoreError::NotFound);
        }
        t.chats.remove(&id);
        Ok(())
    }

    async fn count_chats(&self, owner: UserId) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).chats.values().filter(|c| c.user_id == owner).count() as u64)
    }

    async fn list_chats(&self, query: &ChatListQuery) -> Result<Vec<Chat>, StoreError> {
        let t = lock(&self.inner);
        let key = |c: &Chat| (c.updated_at, *c.id.as_uuid());
        let mut chats: Vec<Chat> = t
            .chats
            .values()
            .filter(|c| c.user_id == query.owner)
            .filter(|c| query.after.is_none_or(|a| key(c) < (a.at, a.id)))
            .filter(|c| query.search.as_ref().is_none_or(|s| t.chat_text_matches(c, s)))
            .cloned()
            .collect();
        chats.sort_by_key(|c| std::cmp::Reverse(key(c)));
        chats.truncate(query.limit.get() as usize + 1);
        Ok(chats)
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn insert_message(&self, message: &Message) -> Result<(), StoreError> {
        lock(&self.inner).insert_message(message)
    }

    async fn insert_turn(&self, turn: &Turn<'_>) -> Result<Option<u64>, StoreError> {
        let mut t = lock(&self.inner);
        let messages = turn.question.into_iter().chain([turn.answer]);
        // Every check first, so that a refusal changes nothing.
        if !t.chats.contains_key(&turn.answer.chat_id)
            || turn.question.is_some_and(|q| q.chat_id != turn.answer.chat_id)
            || turn.replaces.is_some_and(|r| !t.messages.contains_key(&r))
        {
            return Err(StoreError::NotFound);
        }
        if messages.clone().any(|m| t.messages.contains_key(&m.id))
            || turn.question.is_some_and(|q| q.id == turn.answer.id)
        {
            return Err(StoreError::Conflict("message"));
        }
        let q = turn.quota;
        let Some(counted) = t.count_message(q.user, q.day, q.limit) else {
            return Ok(None);
        };
        if let Some(r) = turn.replaces {
            t.remove_message(r);
        }
        for m in messages {
            t.insert_message(m).expect("checked above");
        }
        Ok(Some(counted))
    }

    async fn update_message(&self, message: &Message) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        let stored = t.messages.get_mut(&message.id).ok_or(StoreError::NotFound)?;
        stored.parts = message.parts.clone();
        stored.status = message.status;
        stored.model = message.model.clone();
        stored.usage = message.usage;
        Ok(())
    }

    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        Ok(lock(&self.inner).messages.get(&id).cloned())
    }

    async fn list_messages(&self, query: &MessageListQuery) -> Result<Vec<Message>, StoreError> {
        let t = lock(&self.inner);
        let key = |m: &Message| (m.created_at, *m.id.as_uuid());
        let mut messages: Vec<Message> = t
            .messages
            .values()
            .filter(|m| m.chat_id == query.chat_id)
            .filter(|m| query.before.is_none_or(|b| key(m) < (b.at, b.id)))
            .cloned()
            .collect();
        messages.sort_by_key(|m| std::cmp::Reverse(key(m)));
        messages.truncate(query.limit.get() as usize + 1);
        Ok(messages)
    }

    async fn context(&self, chat_id: ChatId, limit: Limit) -> Result<Vec<(Role, String)>, StoreError> {
        let t = lock(&self.inner);
        let mut messages: Vec<&Message> = t
            .messages
            .values()
            .filter(|m| m.chat_id == chat_id && m.status != MessageStatus::Streaming && !m.text().is_empty())
            .collect();
        messages.sort_by_key(|m| std::cmp::Reverse((m.created_at, *m.id.as_uuid())));
        messages.truncate(limit.get() as usize);
        Ok(messages.into_iter().rev().map(|m| (m.role, m.text())).collect())
    }

    async fn delete_message(&self, id: MessageId) -> Result<(), StoreError> {
        if lock(&self.inner).remove_message(id) {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn delete_messages_after(&self, chat_id: ChatId, after: Cursor) -> Result<u64, StoreError> {
        let mut t = lock(&self.inner);
        let gone: Vec<MessageId> = t
            .messages
            .values()
            .filter(|m| m.chat_id == chat_id && (m.created_at, *m.id.as_uuid()) > (after.at, after.id))
            .map(|m| m.id)
            .collect();
        for m in &gone {
            t.remove_message(*m);
        }
        Ok(gone.len() as u64)
    }

    async fn streaming_messages(&self) -> Result<Vec<Message>, StoreError> {
        let t = lock(&self.inner);
        let mut v: Vec<Message> = t
            .messages
            .values()
            .filter(|m| m.status == MessageStatus::Streaming)
            .cloned()
            .collect();
        v.sort_by_key(|m| (m.created_at, *m.id.as_uuid()));
        Ok(v)
    }

    async fn upsert_vote(&self, vote: &Vote) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        if !t.messages.contains_key(&vote.message_id) {
            return Err(StoreError::NotFound);
        }
        t.votes.insert((vote.message_id, vote.user_id), vote.clone());
        Ok(())
    }

    async fn votes(&self, chat_id: ChatId) -> Result<Vec<Vote>, StoreError> {
        let t = lock(&self.inner);
        let mut v: Vec<Vote> = t.votes.values().filter(|v| v.chat_id == chat_id).cloned().collect();
        v.sort_by_key(|v| *v.message_id.as_uuid());
        Ok(v)
    }
}

#[async_trait]
impl UsageStore for MemoryStore {
    async fn count_message(&self, user: UserId, day: i64, limit: u64) -> Result<Option<u64>, StoreError> {
        Ok(lock(&self.inner).count_message(user, day, limit))
    }

    async fn add_tokens(&self, user: UserId, day: i64, usage: Usage) -> Result<(), StoreError> {
        let mut t = lock(&self.inner);
        let u = t.usage.entry((user, day)).or_default();
        u.input_tokens += usage.input_tokens;
        u.output_tokens += usage.output_tokens;
        Ok(())
    }

    async fn daily_usage(&self, user: UserId, day: i64) -> Result<DailyUsage, StoreError> {
        Ok(lock(&self.inner).usage.get(&(user, day)).copied().unwrap_or_default())
    }
}
