//! Messages, generations (send, resume, stop), votes and export.

use alleato_core::ChatId;
use alleato_core::MessageId;
use alleato_core::chats::{ChatError, NewChat};
use alleato_core::messages::{ExportFormat, Generation, Message, Part, SendInput, Trigger};
use alleato_core::validation::FieldError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::body::{
    AfterQuery, ChatBody, EditMessageRequest, EditMessageResponse, ExportQuery, MessageBody, MessageListResponse,
    PageQuery, SuccessResponse, VoteBody, VoteRequest, VoteResponse, VotesResponse,
};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, path_id};
use crate::sse::{UiStreamHeaders, sse_response};
use crate::state::AppState;

use super::chat_id;

fn message_id(raw: &str) -> Result<MessageId, ApiError> {
    path_id(raw, &format!("message {raw}"))
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError::new(field, message)])
}

/// Reads AI SDK UIMessage parts; unknown part types are refused.
fn parse_parts(value: &Value, field: &str) -> Result<Vec<Part>, ApiError> {
    let Some(items) = value.as_array() else {
        return Err(invalid(field, "must be an array of parts"));
    };
    let mut parts = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let str_of = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
        match item.get("type").and_then(Value::as_str) {
            Some("text") => match str_of("text") {
                Some(text) => parts.push(Part::Text { text }),
                None => errors.push(FieldError::new(format!("{field}[{i}].text"), "must be a string")),
            },
            Some("file") => match (str_of("mediaType"), str_of("url")) {
                (Some(media_type), Some(url)) => {
                    parts.push(Part::File {
                        media_type,
                        url,
                        filename: str_of("filename"),
                    });
                }
                _ => errors.push(FieldError::new(
                    format!("{field}[{i}]"),
                    "a file part needs mediaType and url strings",
                )),
            },
            _ => errors.push(FieldError::new(
                format!("{field}[{i}].type"),
                "must be \"text\" or \"file\"",
            )),
        }
    }
    if errors.is_empty() {
        Ok(parts)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// A UIMessage (`{role?, parts}`) or a plain message (`{role, content}`) from the user.
fn parse_user_message(value: &Value, field: &str) -> Result<Vec<Part>, ApiError> {
    if !value.is_object() {
        return Err(invalid(field, "must be a message object"));
    }
    match value.get("role").and_then(Value::as_str) {
        None | Some("user") => {}
        Some(_) => {
            return Err(invalid(
                format!("{field}.role"),
                "the message to send must have role \"user\"",
            ));
        }
    }
    if let Some(parts) = value.get("parts") {
        return parse_parts(parts, &format!("{field}.parts"));
    }
    match value.get("content") {
        Some(Value::String(text)) => Ok(vec![Part::Text { text: text.clone() }]),
        Some(_) => Err(invalid(format!("{field}.content"), "must be a string")),
        None => Err(invalid(field, "must have parts or content")),
    }
}

/// The three accepted body shapes of a send (see api.md, "Sending a message").
fn parse_send(body: &Value) -> Result<SendInput, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(invalid("body", "must be a JSON object"));
    };
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => return Err(invalid("model", "must be a string")),
    };
    let trigger = match obj.get("trigger") {
        None | Some(Value::Null) => Trigger::Submit,
        Some(Value::String(t)) if t == "submit-message" => Trigger::Submit,
        Some(Value::String(t)) if t == "regenerate-message" => Trigger::Regenerate,
        _ => {
            return Err(invalid(
                "trigger",
                "must be \"submit-message\" or \"regenerate-message\"",
            ));
        }
    };
    if trigger == Trigger::Regenerate {
        return Ok(SendInput {
            trigger,
            parts: Vec::new(),
            model,
        });
    }
    let parts = if let Some(message) = obj.get("message") {
        parse_user_message(message, "message")?
    } else if let Some(messages) = obj.get("messages") {
        let Some(list) = messages.as_array() else {
            return Err(invalid("messages", "must be an array"));
        };
        let Some(last) = list.last() else {
            return Err(invalid("messages", "must not be empty"));
        };
        parse_user_message(last, &format!("messages[{}]", list.len() - 1))?
    } else {
        return Err(invalid("messages", "a message is required (`message` or `messages`)"));
    };
    Ok(SendInput { trigger, parts, model })
}

fn generation_response(state: &AppState, g: Generation) -> Response {
    let stream_id = g.stream_id.to_string();
    sse_response(
        g.events,
        state.keep_alive(),
        &UiStreamHeaders {
            stream_id: &stream_id,
            cache_hit: Some(g.cache_hit),
            ui_message_stream: true,
        },
    )
}

/// Send a message and stream the answer (AI SDK UI message stream over SSE).
#[utoipa::path(post, path = "/api/v1/chats/{id}/messages", tag = "messages",
    params(("id" = String, Path, description = "Chat id")),
    request_body(content = Object, description = "`{messages, trigger, messageId?}` (AI SDK), `{message}` or `{messages: [{role, content}]}`; optional `model`"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The UI message stream", content_type = "text/event-stream"),
        (status = 404, description = "No such chat of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A generation is already running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid message", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Quota (`quota_exceeded`) or rate limit", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The model could not start (`upstream_error`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn send(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let chat = chat_id(&id)?;
    let input = parse_send(&body)?;
    let g = state.messages.send(ctx.user_id, chat, input).await?;
    Ok(generation_response(&state, g))
}

/// The AI SDK `DefaultChatTransport` endpoint: the chat id travels in the body and the chat is
/// created on first use.
#[utoipa::path(post, path = "/api/v1/chat", tag = "messages",
    request_body(content = Object, description = "`{id, messages, trigger, messageId?}`, as `DefaultChatTransport` sends it; `id` is a client-made UUID"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The UI message stream", content_type = "text/event-stream"),
        (status = 404, description = "The id is another user's chat", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Quota or rate limit", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn send_ai_sdk(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let raw_id = match body.get("id") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(invalid("id", "must be the chat's id, a UUID string")),
    };
    let chat: ChatId = raw_id
        .parse()
        .map_err(|_| invalid("id", "must be a UUID (make chat ids with crypto.randomUUID())"))?;
    let input = parse_send(&body)?;
    let created = match state.chats.owned(ctx.user_id, chat).await {
        Ok(_) => false,
        Err(ChatError::NotFound(_)) => {
            // A send the quota refuses creates nothing: checked before the chat is made.
            state.messages.check_quota(ctx.user_id).await?;
            state
                .chats
                .create_with_id(ctx.user_id, chat, NewChat::default())
                .await?;
            true
        }
        Err(ChatError::Forbidden(_)) => return Err(ApiError::not_found(format!("chat {chat} not found"))),
        Err(e) => return Err(e.into()),
    };
    match state.messages.send(ctx.user_id, chat, input).await {
        Ok(g) => Ok(generation_response(&state, g)),
        Err(e) => {
            // Any other refusal of the first send takes the chat back, leaving its id free.
            if created {
                state.chats.discard_new(chat).await;
            }
            Err(e.into())
        }
    }
}

pub(crate) fn last_event_id(headers: &HeaderMap, query: &AfterQuery) -> Result<Option<u64>, ApiError> {
    let raw = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("x").trim().to_owned())
        .or_else(|| query.after.clone());
    match raw {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| invalid("after", "must be a sequence number")),
    }
}

async fn resume_inner(
    state: &AppState,
    user: alleato_core::UserId,
    id: &str,
    after: Option<u64>,
) -> Result<Response, ApiError> {
    match state.messages.resume(user, chat_id(id)?, after).await? {
        Some((stream_id, events)) => {
            let stream_id = stream_id.to_string();
            Ok(sse_response(
                events,
                state.keep_alive(),
                &UiStreamHeaders {
                    stream_id: &stream_id,
                    cache_hit: None,
                    ui_message_stream: true,
                },
            ))
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Resume the chat's running generation (SSE from the start, or after `Last-Event-ID`/`?after`),
/// or `204` when none runs.
#[utoipa::path(get, path = "/api/v1/chats/{id}/stream", tag = "messages",
    params(("id" = String, Path, description = "Chat id"), AfterQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The running generation's stream", content_type = "text/event-stream"),
        (status = 204, description = "Nothing is running"),
        (status = 404, description = "No such chat of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AfterQuery>,
) -> Result<Response, ApiError> {
    let after = last_event_id(&headers, &query)?;
    resume_inner(&state, ctx.user_id, &id, after).await
}

/// The AI SDK's resume URL: the same as `GET /chats/{id}/stream`.
#[utoipa::path(get, path = "/api/v1/chat/{id}/stream", tag = "messages",
    params(("id" = String, Path, description = "Chat id"), AfterQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The running generation's stream", content_type = "text/event-stream"),
        (status = 204, description = "Nothing is running"),
        (status = 404, description = "No such chat of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume_ai_sdk(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AfterQuery>,
) -> Result<Response, ApiError> {
    let after = last_event_id(&headers, &query)?;
    resume_inner(&state, ctx.user_id, &id, after).await
}

/// Stop the chat's running generation; what was generated is kept (`status: "stopped"`).
#[utoipa::path(post, path = "/api/v1/chats/{id}/stop", tag = "messages",
    params(("id" = String, Path, description = "Chat id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Stopped (or nothing was running)", body = SuccessResponse),
        (status = 404, description = "No such chat of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stop(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<SuccessResponse>, ApiError> {
    state.messages.stop(ctx.user_id, chat_id(&id)?).await?;
    Ok(Json(SuccessResponse::OK))
}

/// A page of a readable chat's messages: oldest first within the page, pages going back in time.
#[utoipa::path(get, path = "/api/v1/chats/{id}/messages", tag = "messages",
    params(("id" = String, Path, description = "Chat id"), PageQuery), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of messages", body = MessageListResponse),
        (status = 404, description = "No such readable chat", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Option<Auth>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<MessageListResponse>, ApiError> {
    let chat = chat_id(&id)?;
    let page = query.page()?;
    let page = state.messages.list(caller.map(|a| a.0.user_id), chat, page).await?;
    Ok(Json(MessageListResponse {
        messages: page.items.iter().map(MessageBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Edit a user message; every later message of the chat is removed.
#[utoipa::path(patch, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "Message id")), request_body = EditMessageRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Edited", body = EditMessageResponse),
        (status = 404, description = "No such message of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A generation is running in the chat", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parts, or not a user message", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn edit(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EditMessageRequest>,
) -> Result<Json<EditMessageResponse>, ApiError> {
    let id = message_id(&id)?;
    let parts = match (&body.parts, body.content) {
        (Some(parts), None) => parse_parts(parts, "parts")?,
        (None, Some(text)) => vec![Part::Text { text }],
        _ => return Err(invalid("parts", "send either parts or content")),
    };
    let (message, removed) = state.messages.edit(ctx.user_id, id, parts).await?;
    Ok(Json(EditMessageResponse {
        message: MessageBody::from(&message),
        removed,
    }))
}

/// Delete a message of the caller's chat.
#[utoipa::path(delete, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "Message id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = SuccessResponse),
        (status = 404, description = "No such message of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The answer is still being generated: stop it first", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<SuccessResponse>, ApiError> {
    state.messages.delete(ctx.user_id, message_id(&id)?).await?;
    Ok(Json(SuccessResponse::OK))
}

/// Vote on an assistant message (replaces the caller's earlier vote).
#[utoipa::path(post, path = "/api/v1/messages/{id}/vote", tag = "messages",
    params(("id" = String, Path, description = "Message id")), request_body = VoteRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The vote", body = VoteResponse),
        (status = 404, description = "No such message of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad type, or not an assistant message", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn vote(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VoteRequest>,
) -> Result<Json<VoteResponse>, ApiError> {
    let vote = state.messages.vote(ctx.user_id, message_id(&id)?, &body.kind).await?;
    Ok(Json(VoteResponse {
        vote: VoteBody::from(&vote),
    }))
}

/// The votes in the caller's chat.
#[utoipa::path(get, path = "/api/v1/chats/{id}/votes", tag = "messages",
    params(("id" = String, Path, description = "Chat id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The votes", body = VotesResponse),
        (status = 404, description = "No such chat of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn votes(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<VotesResponse>, ApiError> {
    let votes = state.messages.votes(ctx.user_id, chat_id(&id)?).await?;
    Ok(Json(VotesResponse {
        votes: votes.iter().map(VoteBody::from).collect(),
    }))
}

fn markdown(chat: &alleato_core::chats::Chat, messages: &[Message]) -> String {
    use std::fmt::Write;
    let mut out = format!("# {}\n\n", chat.title.as_str());
    let _ = writeln!(
        out,
        "_Exported from Alleato. Chat `{}`, created {}._\n",
        chat.id, chat.created_at
    );
    for m in messages {
        let who = match m.role {
            alleato_core::messages::Role::User => "User",
            alleato_core::messages::Role::Assistant => "Assistant",
            alleato_core::messages::Role::System => "System",
        };
        let _ = writeln!(out, "## {who}\n");
        for p in &m.parts {
            match p {
                Part::Text { text } => {
                    let _ = writeln!(out, "{text}\n");
                }
                Part::File { url, filename, .. } => {
                    let name = filename.as_deref().unwrap_or("file");
                    let _ = writeln!(out, "[{name}]({url})\n");
                }
            }
        }
        if m.status != alleato_core::messages::MessageStatus::Complete {
            let _ = writeln!(out, "_({})_\n", m.status.as_str());
        }
    }
    out
}

/// Download a readable chat as JSON or Markdown.
#[utoipa::path(get, path = "/api/v1/chats/{id}/export", tag = "chats",
    params(("id" = String, Path, description = "Chat id"), ExportQuery), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "`{chat, messages}` as JSON, or a Markdown transcript, as an attachment"),
        (status = 404, description = "No such readable chat", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    State(state): State<AppState>,
    caller: Option<Auth>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let chat = chat_id(&id)?;
    let format = match query.format.as_deref() {
        None | Some("json") => ExportFormat::Json,
        Some("markdown" | "md") => ExportFormat::Markdown,
        Some(_) => return Err(invalid("format", "must be \"json\" or \"markdown\"")),
    };
    let (chat, messages) = state.messages.export(caller.map(|a| a.0.user_id), chat).await?;
    let (body, content_type, ext) = match format {
        ExportFormat::Json => {
            let doc = serde_json::json!({
                "chat": ChatBody::from(&chat),
                "messages": messages.iter().map(MessageBody::from).collect::<Vec<_>>(),
            });
            (
                serde_json::to_vec_pretty(&doc).expect("exports serialise"),
                "application/json",
                "json",
            )
        }
        ExportFormat::Markdown => (
            markdown(&chat, &messages).into_bytes(),
            "text/markdown; charset=utf-8",
            "md",
        ),
    };
    let disposition = format!("attachment; filename=\"chat-{}.{ext}\"", chat.id);
    let mut res = Bytes::from(body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).expect("ids are header-safe"),
    );
    Ok(res)
}
