//! Stream logs as Server-Sent Events: `id: <seq>` and `data: <json>` per event, `data: [DONE]`
//! at the end, `: ping` comments while idle.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use alleato_core::llm::Sleeper;
use alleato_core::streams::{EventStream, StreamEvent};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};

/// `: ping` comments on an idle stream, timed by the runtime's own timer (tokio's natively, the
/// Workers' `setTimeout` on Cloudflare, where axum's keep-alive, built on tokio, cannot run).
#[derive(Clone)]
pub struct KeepAlive {
    /// The runtime's timer.
    pub sleeper: Arc<dyn Sleeper>,
    /// How long a stream may stay silent: a ping comes after one to two intervals without an
    /// event.
    pub interval: Duration,
}

/// What the SSE body sends next.
enum Item {
    Event(StreamEvent),
    Ping,
}

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

fn sleep(keep_alive: &KeepAlive) -> Sleep {
    let (sleeper, interval) = (keep_alive.sleeper.clone(), keep_alive.interval);
    Box::pin(async move { sleeper.sleep(interval).await })
}

/// The events, with a ping at every tick of `keep_alive` that saw none. One timer per interval,
/// not one per event: a busy stream costs nothing more than its events.
fn with_pings(events: EventStream, keep_alive: KeepAlive) -> impl Stream<Item = Item> + Send {
    let tick = sleep(&keep_alive);
    futures_util::stream::unfold(
        (events, keep_alive, tick, true),
        |(mut events, keep_alive, mut tick, mut quiet)| async move {
            loop {
                let next = std::future::poll_fn(|cx| match events.as_mut().poll_next(cx) {
                    Poll::Ready(event) => Poll::Ready(Some(event)),
                    Poll::Pending => tick.as_mut().poll(cx).map(|()| None),
                })
                .await;
                match next {
                    Some(Some(event)) => return Some((Item::Event(event), (events, keep_alive, tick, false))),
                    Some(None) => return None,
                    None => {
                        tick = sleep(&keep_alive);
                        if std::mem::replace(&mut quiet, true) {
                            return Some((Item::Ping, (events, keep_alive, tick, true)));
                        }
                    }
                }
            }
        },
    )
}

/// Extra headers of an AI SDK UI message stream.
pub struct UiStreamHeaders<'a> {
    /// The stream's id, for `GET /streams/{id}`.
    pub stream_id: &'a str,
    /// `Some(hit)` for generations (`X-Cache`); `None` for plain streams.
    pub cache_hit: Option<bool>,
    /// Whether this is an AI SDK UI message stream (`x-vercel-ai-ui-message-stream: v1`).
    pub ui_message_stream: bool,
}

/// Renders a stream log as an SSE response, with pings while it is idle.
pub fn sse_response(events: EventStream, keep_alive: KeepAlive, h: &UiStreamHeaders<'_>) -> Response {
    let body = with_pings(events, keep_alive)
        .map(|item| {
            Ok::<_, Infallible>(match item {
                Item::Event(e) => Event::default().id(e.seq.to_string()).data(e.data),
                Item::Ping => Event::default().comment(" ping"),
            })
        })
        .chain(futures_util::stream::once(async {
            Ok(Event::default().data("[DONE]"))
        }));
    let mut res = Sse::new(body).into_response();
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
