//! Cross-cutting behaviour of every response: request ids, security headers, rate limits, CORS.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::client_ip::client_ip;
use crate::error::ApiError;
use crate::state::AppState;

/// The request id header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn acceptable_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
}

/// Gives every response an `X-Request-Id` (the client's own when it sent a sensible one) and
/// the security headers.
pub async fn conventions(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = match req.headers().get(&X_REQUEST_ID) {
        Some(v) if acceptable_request_id(v) => v.clone(),
        _ => {
            let id = alleato_core::id::new_uuid_v7(&*state.clock, &*state.rng);
            let v = HeaderValue::from_str(&id.hyphenated().to_string()).expect("uuids are valid header values");
            req.headers_mut().insert(X_REQUEST_ID.clone(), v.clone());
            v
        }
    };
    // Every log line of the request carries its id, where the server keeps a request span.
    if let Ok(text) = id.to_str() {
        tracing::Span::current().record("request_id", text);
    }
    // Answers for a caller, and every answer of the auth routes (they hand out tokens).
    let credentials = crate::caching::has_credentials(req.headers()) || req.uri().path().starts_with("/api/v1/auth/");
    let mut res = next.run(req).await;
    if credentials {
        crate::caching::no_store(&mut res);
    }
    let h = res.headers_mut();
    h.insert(X_REQUEST_ID.clone(), id);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    );
    res
}

const WINDOW: Duration = Duration::from_secs(60);

/// Per-IP limits on `/api/*`, stricter on the routes that create accounts or sessions.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = client_ip(&req, &state.config.client_ip).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let path = req.uri().path();
    let strict = req.method() == Method::POST
        && matches!(
            path,
            "/api/v1/auth/login" | "/api/v1/auth/register" | "/api/v1/auth/guest"
        );
    let (key, limit) = if strict {
        (format!("rl:auth:{ip}"), state.config.auth_rate_limit_per_minute)
    } else {
        (format!("rl:api:{ip}"), state.config.rate_limit_per_minute)
    };
    // A limit of 0 is no limit (not "refuse everything").
    if limit == 0 {
        return next.run(req).await;
    }
    let counted = match state.counters.increment(&key, 1, WINDOW).await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let left_ms = counted.resets_at.as_millis() - state.clock.now().as_millis();
    let reset = u64::try_from((left_ms + 999) / 1000).unwrap_or(0);
    let remaining = limit.saturating_sub(counted.total);
    let mut res = if counted.total > limit {
        ApiError::too_many("rate_limited", format!("more than {limit} requests per minute"), reset).into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert("ratelimit-limit", HeaderValue::from(limit));
    h.insert("ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("ratelimit-reset", HeaderValue::from(reset));
    res
}

/// CORS for the configured origins, with credentials; `*` alone allows any origin, without
/// credentials (browsers refuse credentials with a wildcard, and tower-http would panic).
pub fn cors(origins: &[String]) -> CorsLayer {
    let any = origins.iter().any(|o| o.trim() == "*");
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok())
        .collect();
    let (allow, credentials) = if any {
        (AllowOrigin::any(), false)
    } else {
        (AllowOrigin::list(list), true)
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_credentials(credentials)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            X_REQUEST_ID.clone(),
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("x-api-key"),
        ])
        .expose_headers([
            X_REQUEST_ID.clone(),
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            HeaderName::from_static("x-alleato-stream-id"),
            HeaderName::from_static("x-cache"),
            HeaderName::from_static("x-vercel-ai-ui-message-stream"),
        ])
        .max_age(Duration::from_secs(600))
}
