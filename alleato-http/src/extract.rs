//! Extractors whose rejections are problem responses.

use std::str::FromStr;

use alleato_core::auth::AuthContext;
use alleato_core::validation::FieldError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// The JSON body limit of every JSON route.
pub const JSON_LIMIT: usize = 1024 * 1024;

/// A JSON body; bad bodies are `400`, `413`, `415` or `422` problems.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent: an empty body reads as `T::default()`.
pub struct OptionalJson<T>(pub T);

fn is_json(parts_ct: Option<&header::HeaderValue>) -> bool {
    let Some(ct) = parts_ct.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_body(req: Request) -> Result<(bool, Bytes), ApiError> {
    let json = is_json(req.headers().get(header::CONTENT_TYPE));
    let has_ct = req.headers().contains_key(header::CONTENT_TYPE);
    let bytes = Bytes::from_request(req, &()).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(JSON_LIMIT)
        } else {
            ApiError::bad_request(format!("could not read the body: {}", rejection.body_text()))
        }
    })?;
    if !bytes.is_empty() && !json {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            if has_ct {
                "the body must be application/json"
            } else {
                "a Content-Type of application/json is required"
            },
        ));
    }
    Ok((json, bytes))
}

/// Parses a JSON object, reporting syntax errors as `400` and shape errors as `422` naming the
/// field. Every request body of this API is an object: serde would otherwise read a struct from
/// an array by position (`["up"]` as `{"type": "up"}`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
            ApiError::bad_request("malformed JSON")
        } else {
            ApiError::validation(vec![FieldError::new("body", "must be a JSON object")])
        });
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        // One value and nothing after it but whitespace: `{"title":"a"} xyz` is not a body.
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(_) => Err(ApiError::bad_request("malformed JSON: trailing data after the object")),
        },
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                // A shape error met before the end does not make the text valid JSON: a syntax
                // error anywhere wins, so that malformed bodies are always a 400.
                serde_json::error::Category::Data
                    if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() =>
                {
                    Err(ApiError::bad_request("malformed JSON"))
                }
                serde_json::error::Category::Data => {
                    let msg = inner.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
                    // "missing field `x`" is reported at the parent; name the field itself.
                    let field = match msg.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
                        Some(f) if path == "." => f.to_owned(),
                        Some(f) => format!("{path}.{f}"),
                        None if path == "." => "body".to_owned(),
                        None => path,
                    };
                    Err(ApiError::validation(vec![FieldError::new(field, msg)]))
                }
                _ => Err(ApiError::bad_request(format!("malformed JSON: {inner}"))),
            }
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let has_ct = req.headers().contains_key(header::CONTENT_TYPE);
        let (json, bytes) = read_body(req).await?;
        if !json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                if has_ct {
                    "the body must be application/json"
                } else {
                    "a Content-Type of application/json is required"
                },
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (_, bytes) = read_body(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// Query parameters; unreadable ones are a `422`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(ApiQuery)
            .map_err(|e| ApiError::validation(vec![FieldError::new("query", e.to_string())]))
    }
}

/// An authenticated caller; a missing, invalid or revoked token is a `401`.
#[derive(Debug, Clone, Copy)]
pub struct Auth(pub AuthContext);

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <accessToken>`",
        )),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or_else(|| ApiError::unauthorized("an access token is required"))?;
        let ctx = state.auth.authenticate(token).await?;
        record_user(&ctx);
        Ok(Self(ctx))
    }
}

/// Names the caller in the request's log span (its `user_id` field), where the server keeps one.
fn record_user(ctx: &AuthContext) {
    tracing::Span::current().record("user_id", tracing::field::display(ctx.user_id));
}

impl OptionalFromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        match bearer(parts)? {
            Some(token) => {
                let ctx = state.auth.authenticate(token).await?;
                record_user(&ctx);
                Ok(Some(Self(ctx)))
            }
            None => Ok(None),
        }
    }
}

/// Parses a path id; an id that is not a UUID names nothing, so it is a `404`.
pub fn path_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("{what} not found")))
}
