//! `/api/v1/streams`: client-owned event logs with live followers.

use alleato_core::StreamId;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::body::{
    AfterQuery, AppendRequest, AppendResponse, CreateStreamRequest, StreamBody, StreamResponse, SuccessResponse,
};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, OptionalJson, path_id};
use crate::sse::{UiStreamHeaders, sse_response};
use crate::state::AppState;

fn stream_id(raw: &str) -> Result<StreamId, ApiError> {
    path_id(raw, &format!("stream {raw}"))
}

/// Open a stream, optionally tied to one of the caller's chats.
#[utoipa::path(post, path = "/api/v1/streams", tag = "streams", request_body(content = Option<CreateStreamRequest>),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened", body = StreamResponse),
        (status = 404, description = "No such chat of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    OptionalJson(body): OptionalJson<CreateStreamRequest>,
) -> Result<(StatusCode, Json<StreamResponse>), ApiError> {
    let chat = match body.chat_id.as_deref() {
        None => None,
        Some(raw) => Some(super::chat_id(raw)?),
    };
    let meta = state.streams.create(ctx.user_id, chat).await?;
    Ok((
        StatusCode::CREATED,
        Json(StreamResponse {
            stream: StreamBody::from(&meta),
        }),
    ))
}

/// Follow a stream: every event after `Last-Event-ID` (or `?after=`), then live events until it
/// closes; `data: [DONE]` ends it.
#[utoipa::path(get, path = "/api/v1/streams/{id}", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), AfterQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The events", content_type = "text/event-stream"),
        (status = 404, description = "No such stream of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn follow(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AfterQuery>,
) -> Result<Response, ApiError> {
    let id = stream_id(&id)?;
    let after = super::messages::last_event_id(&headers, &query)?;
    let meta = state.streams.get(ctx.user_id, id).await?;
    let events = state.streams.follow(ctx.user_id, id, after).await?;
    let sid = id.to_string();
    Ok(sse_response(
        events,
        state.keep_alive(),
        // A generation's stream is an AI SDK UI message stream; a client's own is not.
        &UiStreamHeaders {
            stream_id: &sid,
            cache_hit: None,
            ui_message_stream: meta.chat_id.is_some(),
        },
    ))
}

/// Append one JSON event.
#[utoipa::path(post, path = "/api/v1/streams/{id}/append", tag = "streams",
    params(("id" = String, Path, description = "Stream id")), request_body = AppendRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Appended", body = AppendResponse),
        (status = 404, description = "No such stream of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The stream is closed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn append(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AppendRequest>,
) -> Result<Json<AppendResponse>, ApiError> {
    let id = stream_id(&id)?;
    let data = serde_json::to_string(&body.data).expect("JSON values serialise");
    let seq = state.streams.append(ctx.user_id, id, &data).await?;
    Ok(Json(AppendResponse { seq }))
}

/// Close a stream: followers get the end; its log stays readable for 24 hours.
#[utoipa::path(delete, path = "/api/v1/streams/{id}", tag = "streams",
    params(("id" = String, Path, description = "Stream id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Closed", body = SuccessResponse),
        (status = 404, description = "No such stream of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A running generation writes it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn close(
    State(state): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<SuccessResponse>, ApiError> {
    state.streams.close(ctx.user_id, stream_id(&id)?).await?;
    Ok(Json(SuccessResponse::OK))
}
