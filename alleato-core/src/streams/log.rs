//! The in-process fan-out of one stream: an append-only log in memory that any number of
//! followers read by index.
//!
//! Followers never receive events through a bounded channel: each keeps the index of its next
//! event and reads the shared log, so a follower that falls behind loses nothing and sees the
//! events in order, however far behind it is. Appending wakes the followers that are waiting;
//! nothing else is done per follower. No runtime is needed: a `Mutex` and the followers'
//! `Waker`s are all there is, so this builds for wasm32 as well.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::port::{EventStream, StreamError, StreamEvent};

/// One stream's log with its live followers: shared (in an `Arc`) by the hub that writes it
/// and by every follower.
///
/// Sequence numbers are indexes in the log: the first event is 0. A log ends in one of two
/// ways: [`close`](Self::close) lets followers read the rest and then ends them;
/// [`delete`](Self::delete) ends them at once.
#[derive(Debug, Default)]
pub struct EventLog {
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    events: Vec<String>,
    /// The bytes of `events`' data.
    bytes: u64,
    end: End,
    /// The followers waiting for the log to grow or end, by follower key.
    waiting: HashMap<u64, Waker>,
    next_key: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum End {
    #[default]
    Open,
    Closed,
    Deleted,
}

impl EventLog {
    /// An open, empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// An open log holding `events`, numbered from 0: a stream reloaded from storage.
    pub fn from_events(events: Vec<String>) -> Self {
        Self {
            state: Mutex::new(LogState {
                bytes: events.iter().map(|e| e.len() as u64).sum(),
                events,
                ..LogState::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // Every change under the lock is a single push or assignment: a panic elsewhere cannot
        // leave the state half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number of events, which is also the sequence number of the next one.
    pub fn len(&self) -> u64 {
        self.lock().events.len() as u64
    }

    /// The bytes of the events' data.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Whether no event has been appended.
    pub fn is_empty(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// Whether the log still takes events (it is neither closed nor deleted).
    pub fn is_open(&self) -> bool {
        self.lock().end == End::Open
    }

    /// Appends one event, wakes the waiting followers, and returns the event's sequence
    /// number.
    ///
    /// # Errors
    /// `StreamError::Closed` when the log is closed; `StreamError::NotFound` when it is
    /// deleted.
    pub fn append(&self, data: String) -> Result<u64, StreamError> {
        self.append_all(vec![data])
    }

    /// Appends a batch of events in order (consecutive sequence numbers), wakes the waiting
    /// followers once, and returns the last event's sequence number.
    ///
    /// # Errors
    /// `StreamError::EmptyBatch` when `data` is empty; `StreamError::Closed` when the log is
    /// closed; `StreamError::NotFound` when it is deleted. Nothing is appended then.
    pub fn append_all(&self, data: Vec<String>) -> Result<u64, StreamError> {
        if data.is_empty() {
            return Err(StreamError::EmptyBatch);
        }
        let (seq, waiting) = {
            let mut s = self.lock();
            match s.end {
                End::Open => {}
                End::Closed => return Err(StreamError::Closed),
                End::Deleted => return Err(StreamError::NotFound),
            }
            s.bytes += data.iter().map(|e| e.len() as u64).sum::<u64>();
            s.events.extend(data);
            (s.events.len() as u64 - 1, take_waiting(&mut s))
        };
        waiting.into_iter().for_each(Waker::wake);
        Ok(seq)
    }

    /// The events with a sequence number greater than `after` (every event when `None`), as
    /// the log holds them now.
    ///
    /// # Errors
    /// `StreamError::NotFound` when the log is deleted.
    pub fn events(&self, after: Option<u64>) -> Result<Vec<StreamEvent>, StreamError> {
        let s = self.lock();
        if s.end == End::Deleted {
            return Err(StreamError::NotFound);
        }
        let from = after.map_or(0, |a| a.saturating_add(1));
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(s.events.len());
        Ok(s.events[start..]
            .iter()
            .zip(from..)
            .map(|(data, seq)| StreamEvent {
                seq,
                data: data.clone(),
            })
            .collect())
    }

    /// Closes the log: followers read what is left and then end. Returns whether it was
    /// open.
    pub fn close(&self) -> bool {
        self.end(End::Closed)
    }

    /// Deletes the log: followers end at their next read, without the events they have not
    /// read yet. Returns whether it was open or closed (not already deleted).
    pub fn delete(&self) -> bool {
        self.end(End::Deleted)
    }

    fn end(&self, end: End) -> bool {
        let (changed, waiting) = {
            let mut s = self.lock();
            let changed = match (s.end, end) {
                (End::Open, _) | (End::Closed, End::Deleted) => {
                    s.end = end;
                    true
                }
                _ => false,
            };
            (changed, take_waiting(&mut s))
        };
        waiting.into_iter().for_each(Waker::wake);
        changed
    }

    /// The events with a sequence number greater than `after` (every event when `None`), then
    /// the live ones, until the log is closed or deleted.
    pub fn follow(self: &Arc<Self>, after: Option<u64>) -> EventStream {
        let key = {
            let mut s = self.lock();
            s.next_key += 1;
            s.next_key
        };
        Box::pin(Follower {
            log: Arc::clone(self),
            next: after.map_or(0, |a| a.saturating_add(1)),
            key,
        })
    }
}

/// Takes the wakers of every waiting follower, to wake them once the lock is released.
fn take_waiting(s: &mut LogState) -> Vec<Waker> {
    if s.waiting.is_empty() {
        Vec::new()
    } else {
        // `drain` keeps the map's capacity for the followers that come back to wait.
        s.waiting.drain().map(|(_, w)| w).collect()
    }
}

/// A reader of an [`EventLog`]: the stream [`EventLog::follow`] returns.
struct Follower {
    log: Arc<EventLog>,
    /// The sequence number of the next event to yield.
    next: u64,
    /// This follower's key in the log's waiting list.
    key: u64,
}

impl Stream for Follower {
    type Item = StreamEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamEvent>> {
        let this = self.get_mut();
        let mut s = this.log.lock();
        if s.end == End::Deleted {
            s.waiting.remove(&this.key);
            return Poll::Ready(None);
        }
        let index = usize::try_from(this.next).unwrap_or(usize::MAX);
        if let Some(data) = s.events.get(index) {
            let event = StreamEvent {
                seq: this.next,
                data: data.clone(),
            };
            this.next += 1;
            return Poll::Ready(Some(event));
        }
        if s.end == End::Closed {
            s.waiting.remove(&this.key);
            return Poll::Ready(None);
        }
        match s.waiting.entry(this.key) {
            Entry::Occupied(e) if e.get().will_wake(cx.waker()) => {}
            Entry::Occupied(mut e) => {
                e.insert(cx.waker().clone());
            }
            Entry::Vacant(e) => {
                e.insert(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.log.lock().waiting.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(s: &mut EventStream, waker: &Arc<CountingWaker>) -> Poll<Option<StreamEvent>> {
        let waker = Waker::from(Arc::clone(waker));
        s.as_mut().poll_next(&mut Context::from_waker(&waker))
    }

    fn ready(seq: u64, data: &str) -> Poll<Option<StreamEvent>> {
        Poll::Ready(Some(StreamEvent {
            seq,
            data: data.to_owned(),
        }))
    }

    #[test]
    fn followers_read_by_index_and_are_woken_once_per_append() {
        let log = Arc::new(EventLog::new());
        assert_eq!(log.append("a".into()).unwrap(), 0);
        let mut f = log.follow(None);
        let w = Arc::new(CountingWaker::default());
        assert_eq!(poll(&mut f, &w), ready(0, "a"));
        assert_eq!(poll(&mut f, &w), Poll::Pending);
        // Polled again while waiting: still one registration, so one wake.
        assert_eq!(poll(&mut f, &w), Poll::Pending);
        assert_eq!(log.append("b".into()).unwrap(), 1);
        assert_eq!(log.append("c".into()).unwrap(), 2);
        assert_eq!(w.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut f, &w), ready(1, "b"));
        assert_eq!(poll(&mut f, &w), ready(2, "c"));
        assert!(log.close());
        assert!(!log.close());
        assert_eq!(poll(&mut f, &w), Poll::Ready(None));
        assert_eq!(log.append("d".into()).unwrap_err().to_string(), "stream is closed");
    }

    #[test]
    fn a_batch_takes_consecutive_numbers_and_wakes_once() {
        let log = Arc::new(EventLog::new());
        let mut f = log.follow(None);
        let w = Arc::new(CountingWaker::default());
        assert_eq!(poll(&mut f, &w), Poll::Pending);
        assert_eq!(log.append_all(vec!["a".into(), "b".into(), "c".into()]).unwrap(), 2);
        assert_eq!(w.0.load(Ordering::SeqCst), 1);
        assert!(matches!(log.append_all(Vec::new()), Err(StreamError::EmptyBatch)));
        assert_eq!(log.events(Some(0)).unwrap(), [ready_event(1, "b"), ready_event(2, "c")]);
        assert_eq!(log.events(Some(7)).unwrap(), []);
        assert_eq!(log.events(None).unwrap().len(), 3);
        assert!(log.delete());
        assert!(matches!(log.events(None), Err(StreamError::NotFound)));
    }

    fn ready_event(seq: u64, data: &str) -> StreamEvent {
        StreamEvent {
            seq,
            data: data.to_owned(),
        }
    }

    #[test]
    fn a_dropped_follower_leaves_the_waiting_list() {
        let log = Arc::new(EventLog::new());
        let w = Arc::new(CountingWaker::default());
        let mut f = log.follow(Some(7));
        assert_eq!(poll(&mut f, &w), Poll::Pending);
        assert_eq!(log.lock().waiting.len(), 1);
        drop(f);
        assert!(log.lock().waiting.is_empty());
    }

    #[test]
    fn deleting_ends_followers_without_the_rest() {
        let log = Arc::new(EventLog::from_events(vec!["x".into(), "y".into()]));
        let mut f = log.follow(None);
        let w = Arc::new(CountingWaker::default());
        assert_eq!(poll(&mut f, &w), ready(0, "x"));
        assert!(log.delete());
        assert_eq!(poll(&mut f, &w), Poll::Ready(None));
        assert!(matches!(log.append("z".into()), Err(StreamError::NotFound)));
        assert!(!log.delete());
    }
}
