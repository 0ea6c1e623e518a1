//! Stream logs as Server-Sent Events: `id: <seq>` and `data: <json>` per event, `data: [DONE]`
//! at the end, `: ping` comments while idle.

use std::convert::Infallible;
use std::time::Duration;

use alleato_core::streams::EventStream;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// Extra headers of an AI SDK UI message stream.
pub struct UiStreamHeaders<'a> {
    /// The stream's id, for `GET /streams/{id}`.
    pub stream_id: &'a str,
    /// `Some(hit)` for generations (`X-Cache`); `None` for plain streams.
    pub cache_hit: Option<bool>,
    /// Whether this is an AI SDK UI message stream (`x-vercel-ai-ui-message-stream: v1`).
    pub ui_message_stream: bool,
}

/// Renders a stream log as an SSE response.
pub fn sse_response(events: EventStream, keep_alive_secs: u64, h: &UiStreamHeaders<'_>) -> Response {
    let body = events
        .map(|e| Ok::<_, Infallible>(Event::default().id(e.seq.to_string()).data(e.data)))
        .chain(futures_util::stream::once(async {
            Ok(Event::default().data("[DONE]"))
        }));
    let sse = Sse::new(body);
    #[cfg(not(target_arch = "wasm32"))]
    let sse = sse.keep_alive(
        axum::response::sse::KeepAlive::new()
            .interval(Duration::from_secs(keep_alive_secs.max(1)))
            .text(" ping"),
    );
    #[cfg(target_arch = "wasm32")]
    let _ = (keep_alive_secs, Duration::ZERO);
    let mut res = sse.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    if let Ok(v) = HeaderValue::from_str(h.stream_id) {
        headers.insert(HeaderName::from_static("x-alleato-stream-id"), v);
    }
    if h.ui_message_stream {
        headers.insert(
            HeaderName::from_static("x-vercel-ai-ui-message-stream"),
            HeaderValue::from_static("v1"),
        );
    }
    if let Some(hit) = h.cache_hit {
        headers.insert(
            HeaderName::from_static("x-cache"),
            HeaderValue::from_static(if hit { "HIT" } else { "MISS" }),
        );
    }
    res
}
