use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;

use super::port::{CompletionRequest, LanguageModel, LlmError, ModelEvent, ModelRole, ModelStream, Sleeper, Usage};

/// A user message containing this text makes the echo model fail halfway through its answer,
/// so that the error path can be exercised end to end.
pub const ECHO_FAIL_TRIGGER: &str = "[[echo:fail]]";

/// The built-in model: answers `Echo: <the last user message>`, one word per token, waiting
/// `delay` before each. Deterministic, free, and needs no network.
///
/// Token usage counts whitespace-separated words: the whole context as input, the answer as
/// output. The input count is announced before the first token and the full usage after the
/// last, as providers that report usage at both ends do.
pub struct EchoModel {
    sleeper: Arc<dyn Sleeper>,
    delay: Duration,
}

impl EchoModel {
    /// An echo model that waits `delay` before each token (zero for benchmarks).
    pub fn new(sleeper: Arc<dyn Sleeper>, delay: Duration) -> Self {
        Self { sleeper, delay }
    }

    /// The answer's tokens for a context: each word with the whitespace before it.
    pub fn answer_tokens(request: &CompletionRequest) -> Vec<String> {
        let last = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == ModelRole::User)
            .map_or("", |m| m.text.as_str());
        let text = format!("Echo: {last}");
        let mut tokens = Vec::new();
        let mut current = String::new();
        let mut in_word = false;
        for c in text.chars() {
            if !c.is_whitespace() && !in_word && !current.trim().is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            in_word = !c.is_whitespace();
            current.push(c);
        }
        if !current.is_empty() {
            tokens.push(current);
        }
        tokens
    }
}

fn count_words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

#[async_trait]
impl LanguageModel for EchoModel {
    async fn stream(&self, request: CompletionRequest) -> Result<ModelStream, LlmError> {
        let tokens = Self::answer_tokens(&request);
        let fail = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == ModelRole::User)
            .is_some_and(|m| m.text.contains(ECHO_FAIL_TRIGGER));
        let usage = Usage {
            input_tokens: request.messages.iter().map(|m| count_words(&m.text)).sum(),
            output_tokens: tokens.len() as u64,
        };
        let fail_at = fail.then_some(tokens.len() / 2);
        Ok(Box::pin(EchoStream {
            tokens: tokens.into(),
            announce: Some(Usage {
                input_tokens: usage.input_tokens,
                output_tokens: 0,
            }),
            sent: 0,
            fail_at,
            usage: Some(usage),
            sleeper: self.sleeper.clone(),
            delay: self.delay,
            sleeping: None,
        }))
    }
}

type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

struct EchoStream {
    tokens: VecDeque<String>,
    /// Input tokens, announced before the first token (as providers that report usage at the
    /// start of a message do), so that an answer stopped early still knows what it read.
    announce: Option<Usage>,
    sent: usize,
    fail_at: Option<usize>,
    usage: Option<Usage>,
    sleeper: Arc<dyn Sleeper>,
    delay: Duration,
    sleeping: Option<SleepFuture>,
}

impl Stream for EchoStream {
    type Item = Result<ModelEvent, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(u) = this.announce.take() {
            return Poll::Ready(Some(Ok(ModelEvent::Usage(u))));
        }
        if this.fail_at == Some(this.sent) {
            this.fail_at = None;
            this.tokens.clear();
            this.usage = None;
            return Poll::Ready(Some(Err(LlmError::Failed(
                "the echo model failed on request".to_owned(),
            ))));
        }
        if this.tokens.is_empty() {
            return Poll::Ready(this.usage.take().map(|u| Ok(ModelEvent::Usage(u))));
        }
        if !this.delay.is_zero() {
            let sleeper = this.sleeper.clone();
            let delay = this.delay;
            let sleep = this
                .sleeping
                .get_or_insert_with(|| Box::pin(async move { sleeper.sleep(delay).await }));
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => this.sleeping = None,
            }
        }
        let token = this.tokens.pop_front().expect("checked non-empty");
        this.sent += 1;
        Poll::Ready(Some(Ok(ModelEvent::TextDelta(token))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ModelMessage;

    struct NoSleep;

    #[async_trait]
    impl Sleeper for NoSleep {
        async fn sleep(&self, _: Duration) {}
    }

    fn request(text: &str) -> CompletionRequest {
        CompletionRequest {
            model: "echo".into(),
            messages: vec![
                ModelMessage {
                    role: ModelRole::System,
                    text: "be brief".into(),
                },
                ModelMessage {
                    role: ModelRole::User,
                    text: text.into(),
                },
            ],
        }
    }

    async fn collect(model: &EchoModel, text: &str) -> Vec<Result<ModelEvent, LlmError>> {
        let mut s = model.stream(request(text)).await.unwrap();
        let mut out = Vec::new();
        while let Some(item) = std::future::poll_fn(|cx| s.as_mut().poll_next(cx)).await {
            out.push(item);
        }
        out
    }

    #[test]
    fn echoes_word_by_word_with_usage() {
        let model = EchoModel::new(Arc::new(NoSleep), Duration::from_millis(5));
        let events = futures::executor::block_on(collect(&model, "hello  big world"));
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                Ok(ModelEvent::TextDelta(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Echo: hello  big world");
        assert_eq!(events.len(), 6);
        assert_eq!(
            events.first(),
            Some(&Ok(ModelEvent::Usage(Usage {
                input_tokens: 5,
                output_tokens: 0
            }))),
            "input tokens are announced first"
        );
        assert_eq!(
            events.last(),
            Some(&Ok(ModelEvent::Usage(Usage {
                input_tokens: 5,
                output_tokens: 4
            })))
        );
    }

    #[test]
    fn fails_halfway_on_the_trigger() {
        let model = EchoModel::new(Arc::new(NoSleep), Duration::ZERO);
        let events = futures::executor::block_on(collect(&model, "one two three [[echo:fail]]"));
        assert_eq!(events.len(), 4);
        assert!(matches!(events[3], Err(LlmError::Failed(_))));
    }
}
