//! Stream logs as Server-Sent Events: `id: <seq>` and `data: <json>` per event, `data: [DONE]`
//! at the end, `: ping` comments while idle. When the server shuts down, every stream ends at
//! once with `: shutting down` and `data: [DONE]`: the log lives on in storage, and the client
//! resumes from its last event id on another server (or this one, restarted).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use alleato_core::llm::Sleeper;
use alleato_core::signal::Signal;
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
    /// Set when the server shuts down: the stream ends then.
    pub shutdown: Signal,
}

/// What the SSE body sends next.
enum Item {
    Event(StreamEvent),
    Ping,
    /// The server is shutting down: the last item before `[DONE]`.
    ShuttingDown,
}

/// The next thing to send, or what woke the stream.
enum Next {
    Event(Option<StreamEvent>),
    Tick,
    Shutdown,
}

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

fn sleep(keep_alive: &KeepAlive) -> Sleep {
    let (sleeper, interval) = (keep_alive.sleeper.clone(), keep_alive.interval);
    Box::pin(async move { sleeper.sleep(interval).await })
}

/// Where a stream's body is: whether an event went out since the last tick, or whether it has
/// sent its last item.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Busy,
    Quiet,
    Stopped,
}

/// The events, with a ping at every tick of `keep_alive` that saw none. One timer per interval,
/// not one per event: a busy stream costs nothing more than its events. Ends after
/// [`Item::ShuttingDown`] once the server's shutdown signal is set.
fn with_pings(events: EventStream, keep_alive: KeepAlive) -> impl Stream<Item = Item> + Send {
    let tick = sleep(&keep_alive);
    futures_util::stream::unfold(
        (events, keep_alive, tick, Phase::Quiet),
        |(mut events, keep_alive, mut tick, mut phase)| async move {
            if phase == Phase::Stopped {
                return None;
            }
            loop {
                let shutdown = keep_alive.shutdown.clone();
                let next = std::future::poll_fn(|cx| {
                    // Checked first: a busy stream ends as promptly as an idle one.
                    if Pin::new(&mut shutdown.wait()).poll(cx).is_ready() {
                        return Poll::Ready(Next::Shutdown);
                    }
                    match events.as_mut().poll_next(cx) {
                        Poll::Ready(event) => Poll::Ready(Next::Event(event)),
                        Poll::Pending => tick.as_mut().poll(cx).map(|()| Next::Tick),
                    }
                })
                .await;
                match next {
                    // The last item: events not yielded yet stay in the log for the client's
                    // resume.
                    Next::Shutdown => return Some((Item::ShuttingDown, (events, keep_alive, tick, Phase::Stopped))),
                    Next::Event(Some(event)) => {
                        return Some((Item::Event(event), (events, keep_alive, tick, Phase::Busy)));
                    }
                    Next::Event(None) => return None,
                    Next::Tick => {
                        tick = sleep(&keep_alive);
                        if std::mem::replace(&mut phase, Phase::Quiet) == Phase::Quiet {
                            return Some((Item::Ping, (events, keep_alive, tick, Phase::Quiet)));
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
                Item::ShuttingDown => Event::default().comment(" shutting down; resume from the last event id"),
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
