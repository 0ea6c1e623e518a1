//! RFC 9457 problem responses: the one shape of every error this API returns.

use alleato_core::auth::AuthError;
use alleato_core::chats::ChatError;
use alleato_core::generations::GenerationError;
use alleato_core::limits::{Limit, LimitExceeded};
use alleato_core::messages::MessageError;
use alleato_core::ports::CacheError;
use alleato_core::store::StoreError;
use alleato_core::streams::{StreamError, StreamUseError};
use alleato_core::validation::FieldError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The problem document's media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error on its way to the client as a problem response.
#[derive(Debug)]
pub struct ApiError {
    kind: &'static str,
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `about:blank`, where the `code` says what went wrong, or a URI of this API's own problem
    /// types (`tag:alleato.dev,2025:problem/limit/open_streams` for a per-user cap).
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    /// The HTTP status text.
    #[schema(example = "Not Found")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 404)]
    pub status: u16,
    /// A stable, machine-readable error code: `bad_request`, `validation_failed`,
    /// `unauthorized`, `invalid_credentials`, `token_expired`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `rate_limited`, `quota_exceeded`, `limit_exceeded`, `upstream_error`, `internal`.
    #[schema(example = "not_found")]
    pub code: &'static str,
    /// What happened, for a human.
    pub detail: String,
    /// The invalid fields, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldErrorSchema>)]
    pub errors: Vec<FieldError>,
}

/// One invalid field.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FieldErrorSchema {
    /// The field, as named in the request.
    field: String,
    /// What is wrong with it.
    message: String,
}

impl ApiError {
    /// An error with a status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// `400 bad_request`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// `401 unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// `403 forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// `404 not_found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// `422 validation_failed` with the invalid fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{} {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Self {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail)
        }
    }

    /// `413 payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body exceeds the limit of {limit} bytes"),
        )
    }

    /// `429` with `Retry-After`.
    pub fn too_many(code: &'static str, detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, detail)
        }
    }

    /// A per-user cap refused a write: `413` for the size of a stream or of all of them, `429`
    /// for the number of open streams or chats; `code` `limit_exceeded`, and a `type` of the
    /// cap's own. Logged at `warn`, as a sign of abuse when it repeats.
    pub fn limit(e: LimitExceeded) -> Self {
        tracing::warn!(
            limit = e.limit.name(),
            max = e.max,
            guest = e.guest,
            "per-user cap reached"
        );
        let status = if e.limit.is_size() {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        Self {
            kind: limit_type(e.limit),
            ..Self::new(status, "limit_exceeded", e.to_string())
        }
    }

    /// `500 internal`; the cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to complete the request",
        )
    }

    /// `503` with `Retry-After`; the cause is logged, never sent.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        /// A busy or restarting backend is usually back within seconds.
        const RETRY_AFTER_SECS: u64 = 5;
        tracing::warn!(error = %cause, "backend unavailable");
        Self {
            retry_after: Some(RETRY_AFTER_SECS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "a backend is unavailable; try again shortly",
            )
        }
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: self.kind,
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            code: self.code,
            detail: self.detail,
            errors: self.errors,
        };
        let bytes = serde_json::to_vec(&body).expect("problems serialise");
        let mut res = (self.status, bytes).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // Every 429 and 503 says when to come back, whichever path made it.
        let retry_after = self.retry_after.or(match self.status {
            StatusCode::TOO_MANY_REQUESTS => Some(1),
            StatusCode::SERVICE_UNAVAILABLE => Some(5),
            _ => None,
        });
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// The problem type of each cap.
fn limit_type(limit: Limit) -> &'static str {
    match limit {
        Limit::OpenStreams => "tag:alleato.dev,2025:problem/limit/open_streams",
        Limit::StreamEvents => "tag:alleato.dev,2025:problem/limit/events_per_stream",
        Limit::StreamBytes => "tag:alleato.dev,2025:problem/limit/bytes_per_stream",
        Limit::UserStreamBytes => "tag:alleato.dev,2025:problem/limit/stream_bytes",
        Limit::Chats => "tag:alleato.dev,2025:problem/limit/chats",
        _ => "tag:alleato.dev,2025:problem/limit",
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("not found"),
            StoreError::Conflict(what) => Self::new(StatusCode::CONFLICT, "conflict", format!("{what} already exists")),
            StoreError::Unavailable(_) => Self::unavailable(&e),
            _ => Self::internal(&e),
        }
    }
}

impl From<CacheError> for ApiError {
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::Unavailable(_) => Self::unavailable(&e),
            _ => Self::internal(&e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(errors) => Self::validation(errors),
            AuthError::EmailTaken => Self::new(StatusCode::CONFLICT, "conflict", "this email is already registered"),
            AuthError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "invalid email or password",
            ),
            AuthError::Unauthorized(why) => Self::unauthorized(why),
            AuthError::TokenExpired => Self::new(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "the access token has expired",
            ),
            AuthError::RefreshReused => {
                tracing::warn!("security: a spent refresh token was presented again; its session is revoked");
                Self::unauthorized("refresh token reused; the session has been revoked")
            }
            AuthError::Store(e) => e.into(),
            other => Self::internal(&other),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Validation(errors) => Self::validation(errors),
            ChatError::NotFound(id) => Self::not_found(format!("chat {id} not found")),
            ChatError::Forbidden(id) => Self::forbidden(format!("only the owner can change chat {id}")),
            ChatError::Store(e) => e.into(),
            ChatError::Stream(e) => e.into(),
            ChatError::Limit(e) => Self::limit(e),
            other => Self::internal(&other),
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::NotFound => Self::not_found("stream not found"),
            StreamError::Closed => Self::new(StatusCode::CONFLICT, "conflict", "the stream is closed"),
            StreamError::Unavailable(_) => Self::unavailable(&e),
            other => Self::internal(&other),
        }
    }
}

impl From<GenerationError> for ApiError {
    fn from(e: GenerationError) -> Self {
        match e {
            GenerationError::Busy => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "a generation is already running in this chat; stop it or wait for it to finish",
            ),
            GenerationError::Unavailable(_) => Self::unavailable(&e),
            other => Self::internal(&other),
        }
    }
}

impl From<MessageError> for ApiError {
    fn from(e: MessageError) -> Self {
        match e {
            MessageError::Validation(errors) => Self::validation(errors),
            MessageError::Chat(e) => e.into(),
            MessageError::MessageNotFound(id) => Self::not_found(format!("message {id} not found")),
            MessageError::Busy => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "a generation is already running in this chat; stop it or wait for it to finish",
            ),
            MessageError::QuotaExceeded { limit, resets_in_secs } => Self::too_many(
                "quota_exceeded",
                format!("the daily quota of {limit} messages is used up; it resets at midnight UTC"),
                resets_in_secs,
            ),
            MessageError::Upstream(e) => {
                tracing::warn!(error = %e, "model failed to start");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    format!("the model could not answer: {e}"),
                )
            }
            MessageError::Store(e) => e.into(),
            MessageError::Stream(e) => e.into(),
            MessageError::Cache(e) => e.into(),
            MessageError::Generation(e) => e.into(),
            other => Self::internal(&other),
        }
    }
}

impl From<StreamUseError> for ApiError {
    fn from(e: StreamUseError) -> Self {
        match e {
            StreamUseError::NotFound(id) => Self::not_found(format!("stream {id} not found")),
            StreamUseError::Conflict(why) => Self::new(StatusCode::CONFLICT, "conflict", why),
            StreamUseError::Chat(e) => e.into(),
            StreamUseError::Hub(e) => e.into(),
            StreamUseError::Generation(e) => e.into(),
            StreamUseError::Limit(e) => Self::limit(e),
            StreamUseError::Store(e) => e.into(),
            other => Self::internal(&other),
        }
    }
}
