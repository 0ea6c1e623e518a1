//! The wire shapes of requests and responses: converted at the edge, never domain types.

use alleato_core::auth::User;
use alleato_core::chats::Chat;
use alleato_core::page::{Cursor, Limit, PageRequest};
use alleato_core::validation::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// A user, as clients see one. Never carries a password hash.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    /// UUID v7.
    pub id: String,
    /// `null` for guests.
    pub email: Option<String>,
    /// Display name, or `null`.
    pub name: Option<String>,
    /// `regular` or `guest`.
    #[schema(example = "regular")]
    pub kind: &'static str,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl From<&User> for UserBody {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_ref().map(|e| e.as_str().to_owned()),
            name: u.name.as_ref().map(|n| n.as_str().to_owned()),
            kind: u.kind.as_str(),
            created_at: u.created_at.to_string(),
        }
    }
}

/// `POST /auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// Trimmed and lower-cased.
    pub email: String,
    /// 8–128 characters.
    pub password: String,
    /// Optional display name, 1–100 characters.
    pub name: Option<String>,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// Its password.
    pub password: String,
}

/// `POST /auth/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The refresh token last issued for the session.
    pub refresh_token: String,
}

/// `POST /auth/logout`: the body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogoutRequest {
    /// Also ends the session of this refresh token (enough on its own when the access token
    /// has expired).
    pub refresh_token: Option<String>,
}

/// A signed-in user and their tokens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    /// The user.
    pub user: UserBody,
    /// JWT (HS256) for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque and single use: trade it at `/auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// A rotated token pair.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokensResponse {
    /// A new access token.
    pub access_token: String,
    /// The refresh token that replaces the one just used.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// `GET /auth/me`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    /// The caller.
    pub user: UserBody,
    /// Today's usage and quota.
    pub usage: UsageTodayBody,
}

/// `{"success": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessResponse {
    /// Always `true`.
    pub success: bool,
}

impl SuccessResponse {
    /// The one value.
    pub const OK: Self = Self { success: true };
}

/// A chat, as clients see one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatBody {
    /// UUID.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// 1–200 characters.
    pub title: String,
    /// `private` or `public`.
    #[schema(example = "private")]
    pub visibility: &'static str,
    /// The model answering in this chat.
    pub model: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC; moves with every change and message.
    pub updated_at: String,
}

impl From<&Chat> for ChatBody {
    fn from(c: &Chat) -> Self {
        Self {
            id: c.id.to_string(),
            user_id: c.user_id.to_string(),
            title: c.title.as_str().to_owned(),
            visibility: c.visibility.as_str(),
            model: c.model.clone(),
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

/// `POST /chats` and `PATCH /chats/{id}`: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatRequest {
    /// 1–200 characters; "New chat" when creating without one.
    pub title: Option<String>,
    /// `private` (default) or `public`.
    pub visibility: Option<String>,
    /// A model id from `/public/models`; the default model when absent.
    pub model: Option<String>,
}

impl From<ChatRequest> for alleato_core::chats::NewChat {
    fn from(r: ChatRequest) -> Self {
        Self {
            title: r.title,
            visibility: r.visibility,
            model: r.model,
        }
    }
}

/// `{chat}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    /// The chat.
    pub chat: ChatBody,
}

/// `GET /chats/{id}`: the chat and its latest messages.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatDetailResponse {
    /// The chat.
    pub chat: ChatBody,
    /// Its latest messages, oldest first.
    pub messages: Vec<MessageBody>,
    /// Cursor for older messages (`GET /chats/{id}/messages`), `null` when there are none.
    pub messages_cursor: Option<String>,
}

/// A page of chats.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatListResponse {
    /// Newest activity first.
    pub chats: Vec<ChatBody>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `?limit&cursor` of every list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–100, default 20.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page asked for.
    ///
    /// # Errors
    /// `422` naming `limit` or `cursor`.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let mut errors = Vec::new();
        let limit = match self.limit.as_deref() {
            None => Limit::DEFAULT,
            Some(raw) => match raw
                .trim()
                .parse::<i64>()
                .map_err(|_| "must be between 1 and 100")
                .and_then(Limit::new)
            {
                Ok(l) => l,
                Err(m) => {
                    errors.push(FieldError::new("limit", m));
                    Limit::DEFAULT
                }
            },
        };
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => match Cursor::decode(raw) {
                Ok(c) => Some(c),
                Err(m) => {
                    errors.push(FieldError::new("cursor", m));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(PageRequest { limit, after })
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// `GET /chats` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatListQuery {
    /// 1–100, default 20.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only chats whose title contains this text (ASCII case-insensitive).
    pub q: Option<String>,
}

/// One model on offer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelBody {
    /// The id to send as `model`.
    pub id: String,
    /// A readable name.
    pub name: String,
    /// Whether chats use it when they name none.
    pub default: bool,
}

/// `GET /public/models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsResponse {
    /// The default first.
    pub models: Vec<ModelBody>,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `healthy`.
    pub status: &'static str,
    /// Server version.
    pub version: String,
    /// Deployment environment.
    pub environment: String,
    /// `native` or `cloudflare`.
    pub runtime: &'static str,
    /// The default model.
    pub model: String,
}

/// One part of a message, as in the AI SDK's `UIMessage`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PartBody {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A file.
    File {
        /// Its media type.
        #[serde(rename = "mediaType")]
        media_type: String,
        /// Where to download it.
        url: String,
        /// Its name.
        #[serde(skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
}

impl From<&alleato_core::messages::Part> for PartBody {
    fn from(p: &alleato_core::messages::Part) -> Self {
        use alleato_core::messages::Part;
        match p {
            Part::Text { text } => Self::Text { text: text.clone() },
            Part::File {
                media_type,
                url,
                filename,
            } => Self::File {
                media_type: media_type.clone(),
                url: url.clone(),
                filename: filename.clone(),
            },
        }
    }
}

/// Token usage of an answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageBody {
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
}

/// A message, as clients see one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody {
    /// UUID v7.
    pub id: String,
    /// Its chat.
    pub chat_id: String,
    /// `user`, `assistant` or `system`.
    #[schema(example = "assistant")]
    pub role: &'static str,
    /// Content, as AI SDK UIMessage parts.
    pub parts: Vec<PartBody>,
    /// `complete`, `streaming`, `stopped` or `error`.
    #[schema(example = "complete")]
    pub status: &'static str,
    /// The model that wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens it cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageBody>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl From<&alleato_core::messages::Message> for MessageBody {
    fn from(m: &alleato_core::messages::Message) -> Self {
        Self {
            id: m.id.to_string(),
            chat_id: m.chat_id.to_string(),
            role: m.role.as_str(),
            parts: m.parts.iter().map(PartBody::from).collect(),
            status: m.status.as_str(),
            model: m.model.clone(),
            usage: m.usage.map(|u| UsageBody {
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
            }),
            created_at: m.created_at.to_string(),
        }
    }
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageListResponse {
    /// Oldest first within the page.
    pub messages: Vec<MessageBody>,
    /// Cursor of the previous (older) page; `null` at the beginning of the chat.
    pub next_cursor: Option<String>,
}

/// `PATCH /messages/{id}`: new parts, or plain text.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditMessageRequest {
    /// UIMessage parts.
    #[schema(value_type = Option<Vec<Object>>)]
    pub parts: Option<serde_json::Value>,
    /// Plain text, instead of parts.
    pub content: Option<String>,
}

/// An edited message and how many later messages went.
#[derive(Debug, Serialize, ToSchema)]
pub struct EditMessageResponse {
    /// The message as edited.
    pub message: MessageBody,
    /// How many later messages were removed.
    pub removed: u64,
}

/// `POST /messages/{id}/vote`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VoteRequest {
    /// `up` or `down`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A vote.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoteBody {
    /// The chat.
    pub chat_id: String,
    /// The message.
    pub message_id: String,
    /// `up` or `down`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it was cast.
    pub updated_at: String,
}

impl From<&alleato_core::messages::Vote> for VoteBody {
    fn from(v: &alleato_core::messages::Vote) -> Self {
        Self {
            chat_id: v.chat_id.to_string(),
            message_id: v.message_id.to_string(),
            kind: v.kind.as_str(),
            updated_at: v.updated_at.to_string(),
        }
    }
}

/// `{vote}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoteResponse {
    /// The vote.
    pub vote: VoteBody,
}

/// `{votes}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VotesResponse {
    /// The chat's votes.
    pub votes: Vec<VoteBody>,
}

/// A stream, as clients see one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamBody {
    /// UUID.
    pub id: String,
    /// The chat it belongs to, if any.
    pub chat_id: Option<String>,
    /// `open` or `closed`.
    pub status: &'static str,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl From<&alleato_core::streams::StreamMeta> for StreamBody {
    fn from(s: &alleato_core::streams::StreamMeta) -> Self {
        Self {
            id: s.id.to_string(),
            chat_id: s.chat_id.map(|c| c.to_string()),
            status: s.status.as_str(),
            created_at: s.created_at.to_string(),
        }
    }
}

/// `{stream}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamResponse {
    /// The stream.
    pub stream: StreamBody,
}

/// `POST /streams`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateStreamRequest {
    /// One of the caller's chats.
    pub chat_id: Option<String>,
}

/// `POST /streams/{id}/append`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AppendRequest {
    /// Any JSON value.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// `{seq}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppendResponse {
    /// The event's sequence number.
    pub seq: u64,
}

/// `?after=` of stream reads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AfterQuery {
    /// Only events with a greater sequence number (the `Last-Event-ID` header wins).
    #[param(value_type = Option<u64>)]
    pub after: Option<String>,
}

/// `?format=` of exports.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (default) or `markdown`.
    pub format: Option<String>,
}

/// Today's usage (UTC) and the daily quota.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageTodayBody {
    /// Messages sent today.
    pub messages: u64,
    /// The daily message quota.
    pub message_limit: u64,
    /// Tokens read by the model today.
    pub input_tokens: u64,
    /// Tokens written by the model today.
    pub output_tokens: u64,
}
