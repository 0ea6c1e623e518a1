//! The committer: the queue of stream changes, written in the writer's batches and applied to
//! memory once committed.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError};

use alleato_core::store::StoreError;
use alleato_core::streams::{EventLog, StreamError, StreamId, StreamMeta, StreamStatus};
use alleato_core::time::Timestamp;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::rows::{append_events, batch_error, change, events_after, hub_error, status_from_row, stream_from_row};
use super::{IDLE_IN_MEMORY, Live, Shared};
use crate::sqlite::pool::{Outcome, Written};
use crate::sqlite::store::{UuidText, corrupt, integer, query_one};
use alleato_sql as sql;

#[derive(Default)]
pub(super) struct Queue {
    jobs: Vec<Job>,
    /// Whether a committer is running; it takes the jobs queued until it finds none.
    committing: bool,
}

/// A change waiting for the next commit, with where to send its answer.
pub(super) enum Job {
    Create {
        meta: StreamMeta,
        done: oneshot::Sender<Result<(), StreamError>>,
    },
    /// A batch of events, written together.
    Append {
        id: StreamId,
        data: Vec<String>,
        done: oneshot::Sender<Result<u64, StreamError>>,
    },
    Close {
        id: StreamId,
        done: oneshot::Sender<Result<(), StreamError>>,
    },
    Delete {
        id: StreamId,
        done: oneshot::Sender<Result<(), StreamError>>,
    },
    /// Loads an open stream that is not in memory (after a restart), to follow it live.
    Attach {
        id: StreamId,
        done: oneshot::Sender<Result<Arc<EventLog>, StreamError>>,
    },
}

impl Job {
    fn id(&self) -> StreamId {
        match self {
            Self::Create { meta, .. } => meta.id,
            Self::Append { id, .. } | Self::Close { id, .. } | Self::Delete { id, .. } | Self::Attach { id, .. } => *id,
        }
    }

    /// Answers the job with `e`. (Here and below, a caller that stopped waiting needs no
    /// answer: a failed `send` is ignored.)
    fn fail(self, e: StreamError) {
        match self {
            Self::Create { done, .. } | Self::Close { done, .. } | Self::Delete { done, .. } => {
                let _ = done.send(Err(e));
            }
            Self::Append { done, .. } => {
                let _ = done.send(Err(e));
            }
            Self::Attach { done, .. } => {
                let _ = done.send(Err(e));
            }
        }
    }
}

/// What a job did in the transaction, to apply to memory once it commits.
enum Effect {
    /// Nothing to apply (closing a closed stream).
    Nothing,
    Created(StreamMeta),
    /// The batch's first sequence number.
    Appended(u64),
    Closed,
    Deleted,
    Attach,
    /// The stream's row is gone, deleted with its user or chat: drop it and answer `NotFound`.
    Vanished,
}

/// A batch of changes as the writer ran it.
struct Batch {
    jobs: Vec<Job>,
    effects: Result<Vec<Result<Effect, StreamError>>, StoreError>,
    now: Timestamp,
}

impl Written for Batch {
    fn succeeded(&self) -> bool {
        self.effects.is_ok()
    }
}

/// A stream as the batch sees it, its own uncommitted changes included.
#[derive(Debug, Clone, Copy)]
struct View {
    open: bool,
    next_seq: u64,
}

impl Shared {
    pub(super) fn lock_live(&self) -> MutexGuard<'_, HashMap<StreamId, Arc<Live>>> {
        // Each change under the lock is one map operation: a panic cannot leave it half-done.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn submit(this: &Arc<Self>, job: Job) {
        let start = {
            let mut q = this.lock_queue();
            q.jobs.push(job);
            !std::mem::replace(&mut q.committing, true)
        };
        if start {
            Self::schedule(this);
        }
    }

    /// Gives the writer a job that takes every stream change queued when it runs, writes them
    /// in the writer's batch, and once that batch has committed applies them to memory and
    /// answers them; then schedules itself again if more changes queued meanwhile. So one
    /// batch of changes at a time, in order.
    fn schedule(this: &Arc<Self>) {
        let (writing, answering) = (Arc::clone(this), Arc::clone(this));
        this.store.inner.writer.submit(
            move |conn| {
                let jobs = std::mem::take(&mut writing.lock_queue().jobs);
                let now = writing.clock.now();
                let effects = writing.execute(conn, &jobs, now);
                Batch { jobs, effects, now }
            },
            move |conn, outcome| {
                answering.finish(conn, outcome);
                let more = {
                    let mut q = answering.lock_queue();
                    q.committing = !q.jobs.is_empty();
                    q.committing
                };
                if more {
                    Self::schedule(&answering);
                }
            },
        );
    }

    /// Applies a batch that the writer committed, or fails its jobs.
    fn finish(&self, conn: &Connection, outcome: Outcome<Batch>) {
        match outcome {
            Outcome::Done(Batch {
                jobs,
                effects: Ok(effects),
                now,
            }) => {
                for (job, effect) in jobs.into_iter().zip(effects) {
                    self.apply(conn, job, effect, now);
                }
            }
            Outcome::Done(Batch {
                jobs, effects: Err(e), ..
            })
            | Outcome::Failed(Some(Batch { jobs, .. }), e) => {
                tracing::warn!(error = %e, jobs = jobs.len(), "a stream batch failed to commit");
                for job in jobs {
                    job.fail(batch_error(&e));
                }
            }
            Outcome::Failed(None, e) => {
                // The batch never ran: its jobs are still queued.
                let jobs = std::mem::take(&mut self.lock_queue().jobs);
                tracing::warn!(error = %e, jobs = jobs.len(), "a stream batch failed to begin");
                for job in jobs {
                    job.fail(batch_error(&e));
                }
            }
            // The jobs went with the panic; their callers get `Unavailable`.
            Outcome::Panicked(_) => tracing::error!("a stream batch panicked; its jobs failed"),
        }
    }

    /// Writes the jobs in one transaction. An `Err` in a job's place is that job's own refusal
    /// (`NotFound`, `Closed`…); an `Err` of the whole is a failure of the database, and then
    /// nothing was written.
    fn execute(
        &self,
        tx: &Connection,
        jobs: &[Job],
        now: Timestamp,
    ) -> Result<Vec<Result<Effect, StreamError>>, StoreError> {
        let mut views: HashMap<StreamId, Option<View>> = HashMap::new();
        let mut effects = Vec::with_capacity(jobs.len());
        for job in jobs {
            let id = job.id();
            let view = match views.entry(id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(self.view(tx, id)?),
            };
            let key = UuidText::new(id.as_uuid());
            let effect = match (job, *view) {
                (Job::Create { .. }, Some(_)) => Err(StreamError::Conflict),
                (Job::Create { meta, .. }, None) => {
                    let chat = meta.chat_id.map(|c| UuidText::new(c.as_uuid()));
                    let row = params![
                        key,
                        UuidText::new(meta.owner.as_uuid()),
                        chat,
                        meta.created_at.as_millis()
                    ];
                    match change(tx, sql::INSERT_STREAM, row)? {
                        // The id is free (the view says so): the owner or the chat is missing.
                        None => Err(StreamError::NotFound),
                        Some(_) => {
                            *view = Some(View {
                                open: true,
                                next_seq: 0,
                            });
                            Ok(Effect::Created(StreamMeta {
                                status: StreamStatus::Open,
                                ..meta.clone()
                            }))
                        }
                    }
                }
                (_, None) => Err(StreamError::NotFound),
                (Job::Append { .. } | Job::Attach { .. }, Some(View { open: false, .. })) => Err(StreamError::Closed),
                (Job::Append { data, .. }, Some(View { open: true, next_seq })) => {
                    let bytes: usize = data.iter().map(String::len).sum();
                    let grown = params![
                        key,
                        i64::try_from(data.len()).unwrap_or(i64::MAX),
                        i64::try_from(bytes).unwrap_or(i64::MAX)
                    ];
                    change(tx, sql::GROW_STREAM, grown)?;
                    if append_events(tx, &key, next_seq, data)? {
                        *view = Some(View {
                            open: true,
                            next_seq: next_seq + data.len() as u64,
                        });
                        Ok(Effect::Appended(next_seq))
                    } else {
                        *view = None;
                        Ok(Effect::Vanished)
                    }
                }
                (Job::Attach { .. }, Some(_)) => Ok(Effect::Attach),
                (Job::Close { .. }, Some(View { open: false, .. })) => Ok(Effect::Nothing),
                (Job::Close { .. }, Some(v)) => match change(tx, sql::CLOSE_STREAM, params![key, now.as_millis()])? {
                    Some(1..) => {
                        *view = Some(View { open: false, ..v });
                        Ok(Effect::Closed)
                    }
                    _ => {
                        *view = None;
                        Ok(Effect::Vanished)
                    }
                },
                (Job::Delete { .. }, Some(_)) => {
                    let deleted = matches!(change(tx, sql::DELETE_STREAM, [key])?, Some(1..));
                    *view = None;
                    Ok(if deleted { Effect::Deleted } else { Effect::Vanished })
                }
            };
            effects.push(effect);
        }
        Ok(effects)
    }

    /// How a stream stands before the batch touches it: in memory if it is live there, else
    /// as the database has it.
    fn view(&self, conn: &Connection, id: StreamId) -> Result<Option<View>, StoreError> {
        if let Some(live) = self.lock_live().get(&id) {
            return Ok(Some(View {
                open: true,
                next_seq: live.log.len(),
            }));
        }
        query_one(conn, sql::STREAM_STATE, [UuidText::new(id.as_uuid())], |row| {
            let next = integer(row, 1, "stream_events.seq")?;
            Ok(View {
                open: status_from_row(row, 0)? == StreamStatus::Open,
                next_seq: u64::try_from(next).map_err(|e| corrupt("stream_events.seq", e))?,
            })
        })
    }

    /// Applies a committed job to memory (waking followers), then answers it.
    fn apply(&self, conn: &Connection, job: Job, effect: Result<Effect, StreamError>, now: Timestamp) {
        let effect = match effect {
            Ok(Effect::Vanished) => {
                self.drop_live(job.id());
                Err(StreamError::NotFound)
            }
            other => other,
        };
        match job {
            Job::Create { done, .. } => {
                let answer = effect.map(|e| {
                    if let Effect::Created(meta) = e {
                        self.lock_live().insert(meta.id, Live::new(meta, EventLog::new(), now));
                    }
                });
                let _ = done.send(answer);
            }
            Job::Append { id, data, done } => {
                let answer = match effect {
                    Ok(Effect::Appended(first)) => {
                        let last = first + data.len() as u64 - 1;
                        self.publish(conn, id, first, data, now);
                        Ok(last)
                    }
                    Ok(_) => unreachable!("`execute` answers an append with `Appended` or `Vanished`"),
                    Err(e) => Err(e),
                };
                let _ = done.send(answer);
            }
            Job::Close { id, done } => {
                let answer = effect.map(|e| {
                    if matches!(e, Effect::Closed)
                        && let Some(live) = self.lock_live().remove(&id)
                    {
                        live.log.close();
                    }
                });
                let _ = done.send(answer);
            }
            Job::Delete { id, done } => {
                let answer = effect.map(|_| self.drop_live(id));
                let _ = done.send(answer);
            }
            Job::Attach { id, done } => {
                let answer = effect.and_then(|_| match self.load(conn, id, now) {
                    Ok(Some(live)) => Ok(Arc::clone(&live.log)),
                    Ok(None) => Err(StreamError::NotFound),
                    Err(e) => Err(hub_error(e)),
                });
                let _ = done.send(answer);
            }
        }
    }

    /// Forgets a deleted stream: its followers end at once.
    fn drop_live(&self, id: StreamId) {
        if let Some(live) = self.lock_live().remove(&id) {
            live.log.delete();
        }
    }

    /// Hands a committed batch of events, numbered from `seq`, to the stream's followers.
    fn publish(&self, conn: &Connection, id: StreamId, seq: u64, data: Vec<String>, now: Timestamp) {
        let live = match self.load(conn, id, now) {
            Ok(Some(live)) => live,
            // Loaded from the database (which holds the event) or gone: nothing to hand.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(stream = %id, error = %e, "cannot load a stream to hand it an event");
                return;
            }
        };
        let len = live.log.len();
        if seq == len {
            if let Err(e) = live.log.append_all(data) {
                tracing::error!(stream = %id, error = %e, "a committed event found its log ended");
            }
        } else if seq > len {
            tracing::error!(stream = %id, seq, len, "a committed event is ahead of its log");
        }
        // seq < len: the log was (re)loaded after the commit and holds the events already.
    }

    /// The stream in memory, loaded from the database if it is open there but not in memory
    /// (after a restart, or after being idle). `None` when it is not open.
    fn load(&self, conn: &Connection, id: StreamId, now: Timestamp) -> Result<Option<Arc<Live>>, StoreError> {
        if let Some(live) = self.lock_live().get(&id) {
            live.touch(now);
            return Ok(Some(Arc::clone(live)));
        }
        let key = UuidText::new(id.as_uuid());
        let Some(meta) = query_one(conn, sql::STREAM_BY_ID, [&key], stream_from_row)? else {
            return Ok(None);
        };
        if meta.status != StreamStatus::Open {
            return Ok(None);
        }
        let events = events_after(conn, id, None)?;
        let mut data = Vec::with_capacity(events.len());
        for (n, e) in events.into_iter().enumerate() {
            if e.seq != n as u64 {
                return Err(corrupt(
                    "stream_events.seq",
                    format_args!("stream {id} has a gap at {n}"),
                ));
            }
            data.push(e.data);
        }
        let live = Live::new(meta, EventLog::from_events(data), now);
        // Only the committer loads streams, so nobody has put it there meanwhile.
        self.lock_live().insert(id, Arc::clone(&live));
        tracing::debug!(stream = %id, events = live.log.len(), "loaded an open stream into memory");
        Ok(Some(live))
    }

    /// Lets go of open streams that nobody follows and nobody has written for a while.
    pub(super) fn evict_idle(&self, now: Timestamp) {
        let idle = i64::try_from(IDLE_IN_MEMORY.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.as_millis().saturating_sub(idle);
        // Followers hold the log, and whoever is about to follow (or write) holds the entry:
        // both counts are 1 when only this map does. Clones are taken under this lock, so none
        // can appear while it is held.
        self.lock_live().retain(|_, l| {
            Arc::strong_count(l) > 1 || Arc::strong_count(&l.log) > 1 || l.used_at.load(Ordering::Relaxed) > cutoff
        });
    }
}
