//! From the bytes of a completion's body to model events, whatever the transport.
//!
//! An adapter hands over its body as a stream of byte pieces (failing with the
//! [`LlmError`] its transport hit); [`completion_events`] parses the event stream and the
//! chunks in it, and [`idle_limited`] fails a body that stays silent, on the runtime's own timer.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use futures_util::stream::{self, Stream, StreamExt};

use super::sse::{EventParser, SseEvent};
use super::wire::{Chunk, Completion, provider_message, shorten};
use crate::llm::{LlmError, ModelEvent, Sleeper, Usage};

/// Where a completion's stream of chunks stands.
#[derive(Default)]
pub(crate) struct CompletionDecoder {
    parser: EventParser,
    events: Vec<SseEvent>,
    /// The last usage reported, sent once at the end: some providers repeat it, cumulatively.
    usage: Option<Usage>,
    /// A choice finished: the answer is whole even if `[DONE]` never comes.
    finished: bool,
    /// Any event came.
    started: bool,
    /// The answer ended (`[DONE]`, or an error): nothing more is read.
    over: bool,
}

impl CompletionDecoder {
    /// Decodes one piece of the body, pushing the model events it completes onto `out`.
    pub fn push(&mut self, piece: &[u8], out: &mut VecDeque<Result<ModelEvent, LlmError>>) {
        if self.over {
            return;
        }
        if let Err(e) = self.parser.push(piece, &mut self.events) {
            self.events.clear();
            return self.fail(e, out);
        }
        self.drain(out);
    }

    /// The body ended, or failed with `error`: pushes the last events onto `out`.
    pub fn end(&mut self, error: Option<LlmError>, out: &mut VecDeque<Result<ModelEvent, LlmError>>) {
        if self.over {
            return;
        }
        if let Some(error) = error {
            return self.fail(error, out);
        }
        self.parser.end(&mut self.events);
        self.drain(out);
        if self.over {
            return;
        }
        if self.finished {
            self.finish(out);
        } else if self.started {
            self.fail(LlmError::Unavailable("stream ended early".to_owned()), out);
        } else {
            self.fail(LlmError::Unavailable("stream ended before any data".to_owned()), out);
        }
    }

    /// Whether the answer is over, whatever the body still holds.
    pub fn is_over(&self) -> bool {
        self.over
    }

    fn drain(&mut self, out: &mut VecDeque<Result<ModelEvent, LlmError>>) {
        for event in std::mem::take(&mut self.events) {
            if self.over {
                break;
            }
            self.event(event, out);
        }
    }

    fn event(&mut self, event: SseEvent, out: &mut VecDeque<Result<ModelEvent, LlmError>>) {
        self.started = true;
        let data = event.data.trim();
        if event.event == "error" {
            let message = provider_message(data).unwrap_or_else(|| "unknown error".to_owned());
            return self.fail(LlmError::Failed(shorten(&message)), out);
        }
        if data == "[DONE]" {
            return self.finish(out);
        }
        if data.is_empty() || event.event != "message" {
            return;
        }
        let chunk: Chunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(e) => return self.fail(LlmError::Malformed(format!("invalid chunk: {e}")), out),
        };
        if let Some(message) = chunk.error_message() {
            return self.fail(LlmError::Failed(shorten(&message)), out);
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into());
        }
        let Some(choice) = chunk.choices.and_then(|c| c.into_iter().next()) else {
            return;
        };
        if choice.finish_reason.is_some() {
            self.finished = true;
        }
        if let Some(text) = choice.delta.and_then(|d| d.content).filter(|t| !t.is_empty()) {
            out.push_back(Ok(ModelEvent::TextDelta(text)));
        }
    }

    /// Ends the answer normally, with the usage if any came.
    fn finish(&mut self, out: &mut VecDeque<Result<ModelEvent, LlmError>>) {
        self.over = true;
        if let Some(usage) = self.usage.take() {
            out.push_back(Ok(ModelEvent::Usage(usage)));
        }
    }

    fn fail(&mut self, error: LlmError, out: &mut VecDeque<Result<ModelEvent, LlmError>>) {
        self.over = true;
        out.push_back(Err(error));
    }
}

/// The model events of a chat-completion event stream whose body arrives as `body`.
///
/// The events end with the usage (when reported) after `[DONE]` or a finished choice, or with
/// the error that cut the answer: a provider's error event or chunk, malformed data, the
/// transport's failure, or a body that ended too early.
pub fn completion_events<S, B>(body: S) -> impl Stream<Item = Result<ModelEvent, LlmError>>
where
    S: Stream<Item = Result<B, LlmError>> + Unpin,
    B: AsRef<[u8]>,
{
    let state = (body, CompletionDecoder::default(), VecDeque::new());
    stream::unfold(state, |(mut body, mut decoder, mut ready)| async move {
        loop {
            if let Some(event) = ready.pop_front() {
                return Some((event, (body, decoder, ready)));
            }
            if decoder.is_over() {
                return None;
            }
            match body.next().await {
                Some(Ok(piece)) => decoder.push(piece.as_ref(), &mut ready),
                Some(Err(e)) => decoder.end(Some(e), &mut ready),
                None => decoder.end(None, &mut ready),
            }
        }
    })
}

/// The events of a provider that ignored `stream: true` and answered with one JSON completion.
///
/// # Errors
/// [`LlmError::Malformed`] when the body is not a completion, [`LlmError::Failed`] when it
/// reports an error.
pub(crate) fn whole_answer(body: &[u8]) -> Result<Vec<ModelEvent>, LlmError> {
    let answer: Completion =
        serde_json::from_slice(body).map_err(|e| LlmError::Malformed(format!("invalid completion: {e}")))?;
    if let Some(message) = answer.error_message() {
        return Err(LlmError::Failed(shorten(&message)));
    }
    let mut events = Vec::new();
    if let Some(text) = answer
        .choices
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(|c| c.message?.content)
        .filter(|t| !t.is_empty())
    {
        events.push(ModelEvent::TextDelta(text));
    }
    if let Some(usage) = answer.usage {
        events.push(ModelEvent::Usage(usage.into()));
    }
    Ok(events)
}

/// `future`'s output, or `None` when `limit` passes first on `sleeper`'s timer.
pub async fn within<F: Future>(sleeper: &dyn Sleeper, limit: Duration, future: F) -> Option<F::Output> {
    let future = std::pin::pin!(future);
    match select(future, sleeper.sleep(limit)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

/// `body`, failing as [`LlmError::Unavailable`] once it stays silent for `idle` (timed on
/// `sleeper`), and ending after that failure or its own.
pub fn idle_limited<S, B>(body: S, sleeper: Arc<dyn Sleeper>, idle: Duration) -> impl Stream<Item = Result<B, LlmError>>
where
    S: Stream<Item = Result<B, LlmError>> + Unpin,
{
    stream::unfold(Some(body), move |body| {
        let sleeper = sleeper.clone();
        async move {
            let mut body = body?;
            match within(sleeper.as_ref(), idle, body.next()).await {
                None => Some((Err(silent(idle)), None)),
                Some(None) => None,
                Some(Some(Err(e))) => Some((Err(e), None)),
                Some(Some(Ok(piece))) => Some((Ok(piece), Some(body))),
            }
        }
    })
}

/// The failure of a provider silent for `idle`.
pub fn silent(idle: Duration) -> LlmError {
    LlmError::Unavailable(format!("no data for {}s", idle.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&str], error: Option<LlmError>) -> Vec<Result<ModelEvent, LlmError>> {
        let mut body: Vec<Result<Vec<u8>, LlmError>> = pieces.iter().map(|p| Ok(p.as_bytes().to_vec())).collect();
        body.extend(error.map(Err));
        futures::executor::block_on(completion_events(stream::iter(body)).collect())
    }

    fn chunk(text: &str) -> String {
        format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
    }

    #[test]
    fn text_then_usage_once_at_the_end() {
        let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n";
        let events = decode(&[&chunk("Hel"), &chunk("lo"), usage, usage, "data: [DONE]\n\n"], None);
        assert_eq!(
            events,
            vec![
                Ok(ModelEvent::TextDelta("Hel".into())),
                Ok(ModelEvent::TextDelta("lo".into())),
                Ok(ModelEvent::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 2
                })),
            ]
        );
    }

    #[test]
    fn nothing_after_done_is_read() {
        let events = decode(&["data: [DONE]\n\n", "data: {not json\n\n"], None);
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_body_cut_early_or_failing_ends_with_an_error() {
        let events = decode(&[&chunk("Hi")], None);
        assert_eq!(
            events.last(),
            Some(&Err(LlmError::Unavailable("stream ended early".into())))
        );
        let events = decode(&[], None);
        assert!(
            matches!(events.as_slice(), [Err(LlmError::Unavailable(_))]),
            "{events:?}"
        );
        let reset = LlmError::Unavailable("connection reset".into());
        let events = decode(&[&chunk("Hi")], Some(reset.clone()));
        assert_eq!(events.last(), Some(&Err(reset)));
    }

    #[test]
    fn a_finished_choice_is_a_whole_answer_without_done() {
        let end = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
        let events = decode(&[&chunk("Hi"), end], None);
        assert_eq!(events, vec![Ok(ModelEvent::TextDelta("Hi".into()))]);
    }

    #[test]
    fn provider_errors_and_bad_chunks_end_the_answer() {
        let events = decode(
            &["event: error\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n"],
            None,
        );
        assert_eq!(events, vec![Err(LlmError::Failed("overloaded".into()))]);
        let events = decode(&["data: {\"error\":{\"message\":\"quota\"}}\n\n", &chunk("no")], None);
        assert_eq!(events, vec![Err(LlmError::Failed("quota".into()))]);
        let events = decode(&["data: {oops\n\n"], None);
        assert!(matches!(events.as_slice(), [Err(LlmError::Malformed(_))]), "{events:?}");
    }

    #[test]
    fn a_whole_json_answer_gives_its_text_and_usage() {
        let body = br#"{"choices":[{"message":{"content":"Hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
        assert_eq!(
            whole_answer(body).unwrap(),
            vec![
                ModelEvent::TextDelta("Hi".into()),
                ModelEvent::Usage(Usage {
                    input_tokens: 1,
                    output_tokens: 1
                })
            ]
        );
        assert!(matches!(whole_answer(br#"{"error":"no"}"#), Err(LlmError::Failed(_))));
        assert!(matches!(whole_answer(b"<html>"), Err(LlmError::Malformed(_))));
    }
}
