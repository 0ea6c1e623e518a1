//! `/api/v1/chats` and `/api/v1/public/chats`.

use alleato_core::{ChatId, UserId};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::body::{
    ChatBody, ChatDetailResponse, ChatListQuery, ChatListResponse, ChatRequest, ChatResponse, MessageBody, PageQuery,
    SuccessResponse,
};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, OptionalJson};
use crate::state::AppState;

use super::chat_id;

async fn detail(state: &AppState, viewer: Option<UserId>, id: ChatId) -> Result<ChatDetailResponse, ApiError> {
    let (chat, page) = state.messages.chat_with_messages(viewer, id).await?;
    Ok(ChatDetailResponse {
        chat: ChatBody::from(&chat),
        messages: page.items.iter().map(MessageBody::from).collect(),
        messages_cursor: page.next_cursor,
    })
}

/// The caller's chats, newest activity first.
#[utoipa::path(get, path = "/api/v1/chats", tag = "chats", params(ChatListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of chats", body = ChatListResponse),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit, cursor or q", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    ApiQuery(query): ApiQuery<ChatListQuery>,
) -> Result<Json<ChatListResponse>, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let page = state.chats.list(ctx.user_id, page, query.q.as_deref()).await?;
    Ok(Json(ChatListResponse {
        chats: page.items.iter().map(ChatBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Create a chat; the body is optional.
#[utoipa::path(post, path = "/api/v1/chats", tag = "chats", request_body(content = Option<ChatRequest>), security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ChatResponse),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    OptionalJson(body): OptionalJson<ChatRequest>,
) -> Result<(StatusCode, Json<ChatResponse>), ApiError> {
    let chat = state.chats.create(ctx.user_id, body.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ChatResponse {
            chat: ChatBody::from(&chat),
        }),
    ))
}

/// A chat with its latest messages: the caller's own, or any public chat (no token needed).
#[utoipa::path(get, path = "/api/v1/chats/{id}", tag = "chats", params(("id" = String, Path, description = "Chat id")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The chat", body = ChatDetailResponse),
        (status = 404, description = "No such chat, or another user's private chat", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Option<Auth>,
    Path(id): Path<String>,
) -> Result<Json<ChatDetailResponse>, ApiError> {
    Ok(Json(detail(&state, caller.map(|a| a.0.user_id), chat_id(&id)?).await?))
}

/// Change a chat's title, visibility or model.
#[utoipa::path(patch, path = "/api/v1/chats/{id}", tag = "chats", params(("id" = String, Path, description = "Chat id")),
    request_body = ChatRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = ChatResponse),
        (status = 403, description = "Another user's public chat", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such chat, or another user's private chat", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ChatRequest>,
) -> Result<Json<ChatResponse>, ApiError> {
    let chat = state.chats.update(ctx.user_id, chat_id(&id)?, body.into()).await?;
    Ok(Json(ChatResponse {
        chat: ChatBody::from(&chat),
    }))
}

/// Delete a chat and everything in it.
#[utoipa::path(delete, path = "/api/v1/chats/{id}", tag = "chats", params(("id" = String, Path, description = "Chat id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = SuccessResponse),
        (status = 403, description = "Another user's public chat", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such chat, or another user's private chat", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<SuccessResponse>, ApiError> {
    state.messages.delete_chat(ctx.user_id, chat_id(&id)?).await?;
    Ok(Json(SuccessResponse::OK))
}

/// A public chat with its messages, for anyone.
#[utoipa::path(get, path = "/api/v1/public/chats/{id}", tag = "public", params(("id" = String, Path, description = "Chat id")),
    security(()),
    responses(
        (status = 200, description = "The public chat", body = ChatDetailResponse),
        (status = 404, description = "No such public chat", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn public(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ChatDetailResponse>, ApiError> {
    // Anonymous viewers see public chats only.
    Ok(Json(detail(&state, None, chat_id(&id)?).await?))
}
