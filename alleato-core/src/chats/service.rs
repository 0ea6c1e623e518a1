use std::sync::Arc;

use super::model::{Chat, ChatListQuery, ChatTitle, SearchText, Visibility};
use super::port::ChatStore;
use crate::id::{ChatId, UserId};
use crate::limits::{Limit, LimitExceeded, LimitPolicy};
use crate::models::ModelCatalog;
use crate::page::{Cursor, Page, PageRequest};
use crate::ports::{Clock, Rng};
use crate::store::StoreError;
use crate::streams::{StreamError, StreamHub};
use crate::validation::{FieldError, Validator};

/// The fields of a new chat, as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct NewChat {
    /// Title; "New chat" when absent.
    pub title: Option<String>,
    /// `"private"` (default) or `"public"`.
    pub visibility: Option<String>,
    /// A model id from the catalog; the default model when absent.
    pub model: Option<String>,
}

/// Changes to a chat; absent fields stay as they are.
pub type ChatPatch = NewChat;

/// The errors of the chat use cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// Input fields failed validation.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No such chat, or one the caller may not see.
    #[error("chat {0} not found")]
    NotFound(ChatId),
    /// The caller may read this (public) chat but not change it.
    #[error("only the owner can change chat {0}")]
    Forbidden(ChatId),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// The stream hub failed (deleting a chat's streams).
    #[error(transparent)]
    Stream(StreamError),
    /// The owner has as many chats as they may; nothing was created.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
}

/// Creating, reading, changing, deleting and listing chats.
pub struct ChatService {
    chats: Arc<dyn ChatStore>,
    hub: Arc<dyn StreamHub>,
    catalog: Arc<ModelCatalog>,
    limits: Arc<LimitPolicy>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
}

impl ChatService {
    /// The service over its ports, holding each user to the chat cap of `limits`.
    pub fn new(
        chats: Arc<dyn ChatStore>,
        hub: Arc<dyn StreamHub>,
        catalog: Arc<ModelCatalog>,
        limits: Arc<LimitPolicy>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
    ) -> Self {
        Self {
            chats,
            hub,
            catalog,
            limits,
            clock,
            rng,
        }
    }

    /// Creates a chat owned by `owner`.
    ///
    /// # Errors
    /// `Validation` for a bad title, visibility or an unknown model; `Limit` when the owner has
    /// as many chats as they may.
    pub async fn create(&self, owner: UserId, input: NewChat) -> Result<Chat, ChatError> {
        self.create_with_id(owner, ChatId::generate(&*self.clock, &*self.rng), input)
            .await
    }

    /// Creates a chat with an id the client chose (the AI SDK transport makes its own ids).
    ///
    /// # Errors
    /// `Validation` for bad fields and for the nil and max UUIDs (well-known values anyone
    /// would guess); `NotFound` when the id is already taken by anyone, or was a deleted
    /// chat's (so that another user's chat id is indistinguishable from a missing one, and a
    /// link to a deleted chat never shows someone else's); `Limit` when the owner has as many
    /// chats as they may.
    pub async fn create_with_id(&self, owner: UserId, id: ChatId, input: NewChat) -> Result<Chat, ChatError> {
        if id.as_uuid().is_nil() || id.as_uuid().is_max() {
            return Err(ChatError::Validation(vec![FieldError::new(
                "id",
                "must be a random UUID, not the nil or max UUID",
            )]));
        }
        let (title, visibility, model) = self.validate(&input)?;
        let caps = self.limits.of(owner).await.map_err(ChatError::Store)?;
        let held = self.chats.count_chats(owner).await.map_err(ChatError::Store)?;
        caps.check(Limit::Chats, held.saturating_add(1))?;
        let now = self.clock.now();
        let chat = Chat {
            id,
            user_id: owner,
            title: title.unwrap_or_else(ChatTitle::default_title),
            visibility: visibility.unwrap_or_default(),
            model: model.unwrap_or_else(|| self.catalog.default_model().id.clone()),
            created_at: now,
            updated_at: now,
        };
        match self.chats.insert_chat(&chat).await {
            Ok(()) => Ok(chat),
            Err(StoreError::Conflict(_)) => Err(ChatError::NotFound(id)),
            Err(e) => Err(ChatError::Store(e)),
        }
    }

    /// A chat the viewer may read: their own, or any public chat (`viewer` may be anonymous).
    ///
    /// # Errors
    /// `NotFound` when it does not exist or is another user's private chat.
    pub async fn get(&self, viewer: Option<UserId>, id: ChatId) -> Result<Chat, ChatError> {
        match self.chats.chat(id).await.map_err(ChatError::Store)? {
            Some(chat) if Some(chat.user_id) == viewer || chat.visibility == Visibility::Public => Ok(chat),
            _ => Err(ChatError::NotFound(id)),
        }
    }

    /// A chat the caller owns.
    ///
    /// # Errors
    /// `NotFound` for missing or private foreign chats; `Forbidden` for foreign public chats.
    pub async fn owned(&self, owner: UserId, id: ChatId) -> Result<Chat, ChatError> {
        let chat = self.get(Some(owner), id).await?;
        if chat.user_id == owner {
            Ok(chat)
        } else {
            Err(ChatError::Forbidden(id))
        }
    }

    /// Changes a chat the caller owns.
    ///
    /// # Errors
    /// As [`ChatService::owned`], and `Validation` for bad fields.
    pub async fn update(&self, owner: UserId, id: ChatId, patch: ChatPatch) -> Result<Chat, ChatError> {
        let (title, visibility, model) = self.validate(&patch)?;
        let mut chat = self.owned(owner, id).await?;
        if let Some(t) = title {
            chat.title = t;
        }
        if let Some(v) = visibility {
            chat.visibility = v;
        }
        if let Some(m) = model {
            chat.model = m;
        }
        chat.updated_at = self.clock.now().max(chat.updated_at);
        self.chats.update_chat(&chat).await.map_err(|e| not_found_as(e, id))?;
        Ok(chat)
    }

    /// Deletes a chat the caller owns with everything in it, and ends its streams: a
    /// generation running in it stops, and every follower gets the end.
    ///
    /// # Errors
    /// As [`ChatService::owned`]; `Stream` when the hub fails to end the chat's streams.
    pub async fn delete(&self, owner: UserId, id: ChatId) -> Result<(), ChatError> {
        self.owned(owner, id).await?;
        self.chats.delete_chat(id).await.map_err(|e| not_found_as(e, id))?;
        self.hub.delete_chat_streams(id).await.map_err(ChatError::Stream)
    }

    /// Undoes [`ChatService::create_with_id`] for a chat whose first message was refused: the
    /// chat goes, unless it got messages meanwhile, and its id stays free. Best effort: a
    /// failure leaves an empty chat behind.
    pub async fn discard_new(&self, id: ChatId) {
        let _ = self.chats.discard_empty_chat(id).await;
    }

    /// One page of the owner's chats, newest activity first, optionally searched by `q`.
    ///
    /// # Errors
    /// `Validation` for a bad search text.
    pub async fn list(&self, owner: UserId, page: PageRequest, q: Option<&str>) -> Result<Page<Chat>, ChatError> {
        let mut v = Validator::new();
        let search = v.check_opt("q", q.map(SearchText::parse)).flatten();
        v.finish().map_err(ChatError::Validation)?;
        let query = ChatListQuery {
            owner,
            limit: page.limit,
            after: page.after,
            search,
        };
        let chats = self.chats.list_chats(&query).await.map_err(ChatError::Store)?;
        Ok(Page::from_overfetch(chats, page.limit, |c| Cursor {
            at: c.updated_at,
            id: *c.id.as_uuid(),
        }))
    }

    #[allow(clippy::type_complexity)]
    fn validate(&self, input: &NewChat) -> Result<(Option<ChatTitle>, Option<Visibility>, Option<String>), ChatError> {
        let mut v = Validator::new();
        let title = v.check_opt("title", input.title.as_deref().map(ChatTitle::parse));
        let visibility = v.check_opt("visibility", input.visibility.as_deref().map(Visibility::parse));
        let model = v.check_opt(
            "model",
            input.model.as_deref().map(|m| {
                self.catalog
                    .get(m)
                    .map(|m| m.id.clone())
                    .ok_or("is not an available model")
            }),
        );
        v.finish().map_err(ChatError::Validation)?;
        Ok((title.flatten(), visibility.flatten(), model.flatten()))
    }
}

fn not_found_as(e: StoreError, id: ChatId) -> ChatError {
    match e {
        StoreError::NotFound => ChatError::NotFound(id),
        other => ChatError::Store(other),
    }
}
