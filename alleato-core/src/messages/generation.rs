//! The generation job (model → chunks → stream → stored answer), and stopping, resuming and
//! recovering generations.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;

use super::answer_cache::CachedAnswer;
use super::error::MessageError;
use super::model::{Message, MessageStatus, Part};
use super::port::{MessageStore, UsageStore};
use super::quota::day_of;
use super::service::MessageService;
use super::ui_stream::{Metadata, TEXT_ID, UiChunk};
use crate::generations::{GenerationError, Generations, StopSignal};
use crate::id::{ChatId, StreamId, UserId};
use crate::join::{Boxed, join_all};
use crate::llm::{LlmError, ModelEvent, ModelStream, Usage};
use crate::ports::{Clock, KvCache};
use crate::store::StoreError;
use crate::streams::{EventStream, GenerationProbe, StreamError, StreamEvent, StreamHub};

/// Whichever comes first: the next model event, or the stop signal.
enum Step {
    Event(Option<Result<ModelEvent, LlmError>>),
    Stopped,
}

/// One generation, run in the background.
pub(super) struct Job {
    pub(super) hub: Arc<dyn StreamHub>,
    pub(super) messages: Arc<dyn MessageStore>,
    pub(super) usage: Arc<dyn UsageStore>,
    pub(super) cache: Arc<dyn KvCache>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) generations: Arc<dyn Generations>,
    pub(super) owner: UserId,
    pub(super) message: Message,
    pub(super) stream_id: StreamId,
    pub(super) cache_put: Option<(String, Duration)>,
}

impl Job {
    /// Appends chunks in order, in one batch that the hub makes durable together (one commit
    /// instead of one per chunk). A failed append (the stream was deleted, or the hub is down)
    /// ends the generation; the outcome is recorded in the message's status.
    async fn append_all(&self, chunks: &[UiChunk]) -> bool {
        let jsons: Vec<String> = chunks.iter().map(UiChunk::to_json).collect();
        self.hub.append(self.stream_id, &jsons).await.is_ok()
    }

    pub(super) async fn run(self, mut source: ModelStream, mut stop: StopSignal) {
        /// Most chunks appended in one batch.
        const BATCH: usize = 64;
        let mut text = String::new();
        let mut usage = None;
        let mut deltas = 0u64;
        let mut failure = None;
        let mut stopped = false;
        let mut alive = true;
        let mut batch = vec![
            UiChunk::Start {
                message_id: self.message.id.to_string(),
            },
            UiChunk::StartStep,
            UiChunk::TextStart { id: TEXT_ID.to_owned() },
        ];
        loop {
            // Wait for the next model event (or the stop) only when nothing is waiting to be
            // appended; otherwise take what is already there and append it all at once.
            let mut ended = false;
            while !ended && batch.len() < BATCH {
                let wait = batch.is_empty();
                let step = std::future::poll_fn(|cx| {
                    if std::future::Future::poll(stop.as_mut(), cx).is_ready() {
                        return Poll::Ready(Some(Step::Stopped));
                    }
                    match source.as_mut().poll_next(cx) {
                        Poll::Ready(event) => Poll::Ready(Some(Step::Event(event))),
                        Poll::Pending if wait => Poll::Pending,
                        Poll::Pending => Poll::Ready(None),
                    }
                })
                .await;
                match step {
                    None => break,
                    Some(Step::Stopped) => {
                        stopped = true;
                        ended = true;
                    }
                    Some(Step::Event(None)) => ended = true,
                    Some(Step::Event(Some(Ok(ModelEvent::TextDelta(delta))))) => {
                        if !delta.is_empty() {
                            text.push_str(&delta);
                            deltas += 1;
                            batch.push(UiChunk::TextDelta {
                                id: TEXT_ID.to_owned(),
                                delta,
                            });
                        }
                    }
                    Some(Step::Event(Some(Ok(ModelEvent::Usage(u))))) => usage = Some(u),
                    Some(Step::Event(Some(Err(e)))) => {
                        failure = Some(e);
                        ended = true;
                    }
                }
            }
            if ended {
                // What is left goes with the ending, in one batch with the saved answer.
                break;
            }
            if !batch.is_empty() {
                alive = self.append_all(&batch).await;
                batch.clear();
            }
            if !alive {
                break;
            }
        }
        // A hub that refuses appends (the stream was deleted) ends the generation as stopped.
        stopped |= !alive;
        // An answer cut short (stopped, or failed upstream) never got its final usage report:
        // it still cost what was read and every token that arrived.
        if failure.is_some() || stopped {
            let received = deltas;
            usage = match usage {
                Some(u) => Some(Usage {
                    output_tokens: u.output_tokens.max(received),
                    ..u
                }),
                None if received > 0 => Some(Usage {
                    input_tokens: 0,
                    output_tokens: received,
                }),
                None => None,
            };
        }
        let status = if failure.is_some() {
            MessageStatus::Error
        } else if stopped {
            MessageStatus::Stopped
        } else {
            MessageStatus::Complete
        };
        let mut ending = batch;
        if let Some(e) = &failure {
            ending.push(UiChunk::Error {
                error_text: e.to_string(),
            });
        } else if alive {
            let model = self.message.model.clone().unwrap_or_default();
            ending.extend([
                UiChunk::TextEnd { id: TEXT_ID.to_owned() },
                UiChunk::FinishStep,
                UiChunk::MessageMetadata {
                    message_metadata: Metadata {
                        model,
                        usage: usage.unwrap_or_default().into(),
                    },
                },
                UiChunk::Finish,
            ]);
        }

        let mut message = self.message.clone();
        message.parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Text { text: text.clone() }]
        };
        message.status = status;
        message.usage = usage;
        // The last chunks, the saved answer, the day's tokens and the cached answer go together
        // (one batch where the store batches); the stream closes only after all of them, so
        // whoever sees its end finds the answer saved.
        let mut saves: Vec<Boxed<'_, ()>> = vec![
            Box::pin(async {
                if !ending.is_empty() {
                    self.append_all(&ending).await;
                }
            }),
            Box::pin(async {
                let _ = self.messages.update_message(&message).await;
            }),
            Box::pin(async {
                if let Some(u) = usage {
                    let _ = self.usage.add_tokens(self.owner, day_of(self.clock.now()), u).await;
                }
            }),
        ];
        if let (MessageStatus::Complete, Some((key, ttl))) = (status, &self.cache_put) {
            let u = usage.unwrap_or_default();
            let answer = CachedAnswer {
                text,
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
            };
            let raw = serde_json::to_vec(&answer).expect("answers serialise");
            let cache = &self.cache;
            saves.push(Box::pin(async move {
                let _ = cache.put(key, &raw, *ttl).await;
            }));
        }
        join_all(saves).await;
        // The chat is free again before followers see the end: a client that sends its next
        // message on `[DONE]` must not be refused as busy.
        self.generations.release(self.message.chat_id, self.stream_id).await;
        let _ = self.hub.close(self.stream_id).await;
    }
}

#[async_trait]
impl GenerationProbe for MessageService {
    async fn is_generating(&self, chat: ChatId, stream: StreamId) -> Result<bool, GenerationError> {
        self.ports.generations.is_running(chat, stream).await
    }
}

/// The text of an answer's stream log: its text deltas, joined.
pub(super) fn text_of(events: &[StreamEvent]) -> String {
    events.iter().filter_map(|e| UiChunk::delta_of(&e.data)).collect()
}

impl MessageService {
    /// Follows the chat's running generation from after `after` (from the start when `None`),
    /// or `None` when nothing is running.
    ///
    /// # Errors
    /// `Chat` when the chat is not the caller's.
    pub async fn resume(
        &self,
        owner: UserId,
        chat_id: ChatId,
        after: Option<u64>,
    ) -> Result<Option<(StreamId, EventStream)>, MessageError> {
        self.ports.chats.owned(owner, chat_id).await?;
        let latest = self.latest(chat_id, 1).await?;
        let Some(stream_id) = latest
            .last()
            .filter(|m| m.status == MessageStatus::Streaming)
            .and_then(|m| m.stream_id)
        else {
            return Ok(None);
        };
        match self.ports.hub.follow(stream_id, after).await {
            Ok(events) => Ok(Some((stream_id, events))),
            Err(StreamError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops the chat's running generation and waits until its partial answer is saved with
    /// status `stopped`. Stopping when nothing runs is not an error.
    ///
    /// # Errors
    /// `Chat` when the chat is not the caller's.
    pub async fn stop(&self, owner: UserId, chat_id: ChatId) -> Result<(), MessageError> {
        self.ports.chats.owned(owner, chat_id).await?;
        let latest = self.latest(chat_id, 1).await?;
        let Some(message) = latest
            .into_iter()
            .next()
            .filter(|m| m.status == MessageStatus::Streaming)
        else {
            return Ok(());
        };
        let stopped = match message.stream_id {
            Some(stream) => self.ports.generations.stop(chat_id, stream).await?,
            None => false,
        };
        if !stopped {
            // No generation writes it: it was orphaned by a crash.
            self.finish_orphan(message, MessageStatus::Stopped).await?;
        }
        Ok(())
    }

    /// Deletes a chat the caller owns, ending its running generation first: the followers of
    /// its answer get an `error` chunk and the end of the stream (not a bare end, which reads
    /// as a finished answer), and the generation stops.
    ///
    /// # Errors
    /// As [`ChatService::delete`](crate::chats::ChatService::delete).
    pub async fn delete_chat(&self, owner: UserId, chat_id: ChatId) -> Result<(), MessageError> {
        self.ports.chats.owned(owner, chat_id).await?;
        let latest = self.latest(chat_id, 1).await?;
        let running = latest
            .into_iter()
            .next()
            .filter(|m| m.status == MessageStatus::Streaming)
            .and_then(|m| m.stream_id);
        if let Some(stream) = running {
            // Closed right after the error chunk, so that the generation's next append fails
            // and nothing follows the error. Best effort: the deletion below ends the stream
            // whatever happens here.
            let error = UiChunk::Error {
                error_text: "the chat was deleted".to_owned(),
            };
            let _ = self.ports.hub.append(stream, &[error.to_json()]).await;
            let _ = self.ports.hub.close(stream).await;
            let _ = self.ports.generations.stop(chat_id, stream).await;
        }
        Ok(self.ports.chats.delete(owner, chat_id).await?)
    }

    /// Marks every answer left `streaming` by a previous process as `error`, with the text its
    /// stream log holds, and closes those streams. Call once at start-up, before serving.
    ///
    /// # Errors
    /// Storage or stream failures.
    pub async fn recover_interrupted(&self) -> Result<usize, MessageError> {
        let orphans = self.ports.messages.streaming_messages().await?;
        let n = orphans.len();
        for message in orphans {
            self.finish_orphan(message, MessageStatus::Error).await?;
        }
        Ok(n)
    }

    async fn finish_orphan(&self, mut message: Message, status: MessageStatus) -> Result<(), MessageError> {
        let mut text = String::new();
        if let Some(stream_id) = message.stream_id {
            let end = match status {
                MessageStatus::Error => UiChunk::Error {
                    error_text: "the server restarted during this answer".to_owned(),
                }
                .to_json(),
                _ => UiChunk::Finish.to_json(),
            };
            match self.ports.hub.append(stream_id, &[end]).await {
                Ok(_) | Err(StreamError::Closed | StreamError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            match self.ports.hub.close(stream_id).await {
                Ok(()) | Err(StreamError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            if let Ok(events) = self.ports.hub.events(stream_id, None).await {
                text = text_of(&events);
            }
        }
        message.parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Text { text }]
        };
        message.status = status;
        match self.ports.messages.update_message(&message).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
