//! Reading Server-Sent Events as they arrive, one event at a time.
//!
//! A response is read incrementally, so that a test can look at the first events of a generation
//! that is still running, drop the connection half-way, or follow a stream while another client
//! appends to it. Every wait has a deadline: a test that expects an event that never comes fails
//! with what it had read instead of hanging.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use crate::api::Resp;

/// How long [`SseStream::next_event`] waits for the next event before failing the test.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// One event: its `id` field (when the event had one), its `event` field, and its data lines
/// joined with `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` of this event, not inherited from earlier events.
    pub id: Option<String>,
    /// The `event:` field, when present.
    pub event: Option<String>,
    /// The data.
    pub data: String,
}

impl SseEvent {
    /// Whether this is the `data: [DONE]` end marker.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }

    /// The `id` as a sequence number.
    ///
    /// # Panics
    /// When the event has no id, or one that is not a number.
    #[track_caller]
    pub fn seq(&self) -> u64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("the event has no numeric id: {self:?}"))
    }

    /// The data as JSON.
    ///
    /// # Panics
    /// When the data is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("the event's data is not JSON ({e}): {self:?}"))
    }
}

/// An open `text/event-stream` response, read as it arrives.
pub struct SseStream {
    /// The request line, for messages.
    pub request: String,
    response: reqwest::Response,
    parser: Parser,
    /// The events handed out so far, for failure messages.
    seen: Vec<SseEvent>,
    ended: bool,
}

impl fmt::Debug for SseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} {:?}; events so far: {:?}",
            self.request,
            self.response.status(),
            self.response.headers(),
            self.seen
        )
    }
}

impl SseStream {
    fn new(request: String, response: reqwest::Response) -> Self {
        Self {
            request,
            response,
            parser: Parser::default(),
            seen: Vec::new(),
            ended: false,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// How many comment lines (such as `: ping`) arrived so far.
    pub fn comments(&self) -> usize {
        self.parser.comments
    }

    /// The events handed out so far.
    pub fn seen(&self) -> &[SseEvent] {
        &self.seen
    }

    /// The next event, or `None` when the response has ended. Waits at most [`EVENT_TIMEOUT`].
    ///
    /// # Panics
    /// When no event and no end arrives in time, or the connection fails.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        self.next_event_within(EVENT_TIMEOUT).await
    }

    /// The next event, or `None` when the response has ended. Waits at most `timeout`.
    ///
    /// # Panics
    /// When no event and no end arrives in time, or the connection fails.
    pub async fn next_event_within(&mut self, timeout: Duration) -> Option<SseEvent> {
        match tokio::time::timeout(timeout, self.read_event()).await {
            Ok(event) => event,
            Err(_) => panic!("no event within {timeout:?}: {self:?}"),
        }
    }

    /// The next event when one arrives within `wait`, `None` when none does.
    ///
    /// # Panics
    /// When the response ends instead.
    pub async fn poll_event(&mut self, wait: Duration) -> Option<SseEvent> {
        match tokio::time::timeout(wait, self.read_event()).await {
            Ok(Some(event)) => Some(event),
            Ok(None) => panic!("the stream ended, while the test expected it to stay open: {self:?}"),
            Err(_) => None,
        }
    }

    /// Every remaining event up to the end of the response.
    ///
    /// # Panics
    /// When an event does not arrive in time.
    pub async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event().await {
            events.push(event);
        }
        events
    }

    /// Every event of the response, those already handed out included.
    ///
    /// # Panics
    /// When an event does not arrive in time.
    pub async fn all(mut self) -> Vec<SseEvent> {
        self.rest().await;
        self.seen
    }

    async fn read_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.parser.ready.pop_front() {
                self.seen.push(event.clone());
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.parser.feed(&chunk),
                Ok(None) => {
                    self.ended = true;
                    self.parser.finish();
                }
                Err(e) => panic!("reading the stream failed: {e:?}; {self:?}"),
            }
        }
    }
}

/// The `text/event-stream` format, fed in pieces of any size.
#[derive(Default)]
struct Parser {
    /// Bytes received and not yet split into lines.
    buffer: Vec<u8>,
    /// The fields of the event being read.
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    /// Events parsed and not yet handed out.
    ready: VecDeque<SseEvent>,
    /// How many comment lines arrived.
    comments: usize,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        self.lines(false);
    }

    /// The end of the body: an unterminated last event is discarded, as the format says.
    fn finish(&mut self) {
        self.lines(true);
        self.buffer.clear();
        self.id = None;
        self.event = None;
        self.data = None;
    }

    fn lines(&mut self, at_end: bool) {
        while let Some(pos) = self.buffer.iter().position(|&b| b == b'\n' || b == b'\r') {
            // A `\r` at the end of what has arrived may be the first half of `\r\n`.
            if self.buffer[pos] == b'\r' && pos + 1 == self.buffer.len() && !at_end {
                break;
            }
            let width = if self.buffer[pos] == b'\r' && self.buffer.get(pos + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            let line: Vec<u8> = self.buffer.drain(..pos + width).take(pos).collect();
            let line = String::from_utf8(line).unwrap_or_else(|e| panic!("an SSE line is not UTF-8: {e}"));
            self.line(&line);
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            let (id, event, data) = (self.id.take(), self.event.take(), self.data.take());
            if let Some(data) = data {
                self.ready.push_back(SseEvent { id, event, data });
            }
            return;
        }
        if line.starts_with(':') {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "id" => self.id = Some(value.to_owned()),
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
}

/// Opens SSE responses.
pub trait OpenSse {
    /// Sends the request: an [`SseStream`] when the answer is `200 text/event-stream`, else the
    /// whole response.
    fn try_sse(self) -> impl Future<Output = Result<SseStream, Resp>> + Send;

    /// Sends the request, expecting `200 text/event-stream`.
    ///
    /// # Panics
    /// When the answer is anything else.
    fn sse(self) -> impl Future<Output = SseStream> + Send;
}

impl OpenSse for RequestBuilder {
    async fn try_sse(self) -> Result<SseStream, Resp> {
        let (client, request) = self.build_split();
        let request = request.expect("a well-formed request");
        let line = format!("{} {}", request.method(), request.url());
        let response = client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{line}: no response: {e:?}"));
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if response.status() == StatusCode::OK && is_sse {
            return Ok(SseStream::new(line, response));
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{line}: reading the body: {e:?}"))
            .to_vec();
        Err(Resp {
            request: line,
            status,
            headers,
            body,
        })
    }

    async fn sse(self) -> SseStream {
        match self.try_sse().await {
            Ok(stream) => stream,
            Err(resp) => panic!("expected 200 text/event-stream: {resp:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pieces: &[&str]) -> Parser {
        let mut parser = Parser::default();
        for piece in pieces {
            parser.feed(piece.as_bytes());
        }
        parser.finish();
        parser
    }

    fn event(id: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            id: id.map(str::to_owned),
            event: None,
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_with_ids_data_and_comments() {
        let parser = parse(&["id: 0\ndata: {\"a\":1}\n\n: ping\n\ndata: [DONE]\n\n"]);
        assert_eq!(
            Vec::from(parser.ready),
            [event(Some("0"), "{\"a\":1}"), event(None, "[DONE]")]
        );
        assert_eq!(parser.comments, 1);
    }

    #[test]
    fn any_line_ending_and_any_split() {
        let text = "id: 1\r\ndata: a\r\ndata:b\r\n\r\nid:2\rdata: c\r\rdata: d\n\n";
        let expected = [event(Some("1"), "a\nb"), event(Some("2"), "c"), event(None, "d")];
        for cut in 0..text.len() {
            let parser = parse(&[&text[..cut], &text[cut..]]);
            assert_eq!(Vec::from(parser.ready), expected, "cut at {cut}");
        }
    }

    #[test]
    fn an_unfinished_event_at_the_end_is_dropped() {
        let parser = parse(&["data: whole\n\ndata: half"]);
        assert_eq!(Vec::from(parser.ready), [event(None, "whole")]);
    }
}
