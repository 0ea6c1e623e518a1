//! Reading and changing a chat's history: pages, export, edits, deletions and votes.

use super::error::MessageError;
use super::generation::text_of;
use super::model::{Message, MessageListQuery, MessageStatus, Part, Role, Vote, VoteKind, parse_user_parts};
use super::service::MessageService;
use crate::chats::{Chat, ChatError};
use crate::id::{ChatId, MessageId, StreamId, UserId};
use crate::page::{Limit, Page, PageRequest};
use crate::store::StoreError;
use crate::validation::{FieldError, Validator};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `{chat, messages}`.
    Json,
    /// A readable transcript.
    Markdown,
}

impl MessageService {
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
        let Ok(events) = self.ports.hub.events(stream_id, None).await else {
            return;
        };
        let text = text_of(&events);
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
        // No edit while a generation writes the chat: the claim holds it meanwhile.
        let chat_id = message.chat_id;
        let claim = self
            .claim(chat_id, StreamId::generate(&*self.ports.clock, &*self.ports.rng))
            .await?;
        let edited = async {
            self.ports.messages.update_message(&message).await?;
            self.ports
                .messages
                .delete_messages_after(chat_id, message.cursor())
                .await
        }
        .await;
        claim.release().await;
        Ok((message, edited?))
    }

    /// Deletes a message of the caller's chat.
    ///
    /// # Errors
    /// `MessageNotFound` (also for messages of others' private chats), `Chat(Forbidden)` for
    /// messages of others' public chats, `Busy` for an answer still being generated.
    pub async fn delete(&self, owner: UserId, id: MessageId) -> Result<(), MessageError> {
        let message = self.owned_message(owner, id).await?;
        // A generation is still writing it: it would be written again, or vanish under the
        // followers of its stream. Stop it first.
        if message.status == MessageStatus::Streaming {
            return Err(MessageError::Busy);
        }
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
}
