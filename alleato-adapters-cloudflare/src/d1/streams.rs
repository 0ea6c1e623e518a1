//! The [`StreamHub`] port on D1 (`streams` and `stream_events`, the native hub's tables), with
//! followers that poll.
//!
//! In workerd a promise resolved from another request's context kills the waiting request, so a
//! follower must never be woken by the request that appends: each follower reads the log on its
//! own timer, created in its own request. Appends are single statements that number the event
//! themselves (`APPEND_STREAM_EVENT`), so the log has no gaps whoever writes it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alleato_core::id::{ChatId, UserId};
use alleato_core::ports::Clock;
use alleato_core::store::StoreError;
use alleato_core::streams::{
    EventStream, StreamError, StreamEvent, StreamHub, StreamId, StreamMeta, StreamStatus, StreamUsage,
};
use alleato_core::time::Timestamp;
use alleato_sql as sql;
use async_trait::async_trait;
use futures_util::stream;

use super::model::Row;
use super::{ADAPTER, Arg, D1Store, Query, corrupt, id};
use crate::send::js;

/// How often a follower reads the log while nothing new has come.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Stream logs in D1, followed by polling. Cloning is cheap.
#[derive(Clone)]
pub struct D1StreamHub {
    store: D1Store,
    clock: Arc<dyn Clock>,
    poll: Duration,
}

impl fmt::Debug for D1StreamHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("D1StreamHub")
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl D1StreamHub {
    /// A hub on the store's database, closing streams at `clock`'s time.
    pub fn new(store: &D1Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: store.clone(),
            clock,
            poll: DEFAULT_POLL_INTERVAL,
        }
    }

    /// How often followers read the log when it has nothing new (default 100 ms; at least 1 ms).
    /// Shorter answers sooner and reads D1 more.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    async fn stream_meta(&self, sid: StreamId) -> Result<Option<StreamMeta>, StreamError> {
        stream_meta(&self.store, sid).await
    }
}

async fn stream_meta(store: &D1Store, sid: StreamId) -> Result<Option<StreamMeta>, StreamError> {
    let row = store
        .row(Query::new(sql::STREAM_BY_ID, vec![id(sid.as_uuid())]))
        .await
        .map_err(stream_error)?;
    row.map(|r| meta_from_row(&Row(&r))).transpose().map_err(stream_error)
}

async fn events_after(store: &D1Store, sid: StreamId, after: Option<u64>) -> Result<Vec<StreamEvent>, StreamError> {
    let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
    let rows = store
        .rows(Query::new(
            sql::STREAM_EVENTS_AFTER,
            vec![id(sid.as_uuid()), Arg::Int(after)],
        ))
        .await
        .map_err(stream_error)?;
    rows.iter()
        .map(|r| {
            let row = Row(r);
            Ok(StreamEvent {
                seq: row.count(0, "stream_events.seq")?,
                data: row.text(1, "stream_events.data")?.to_owned(),
            })
        })
        .collect::<Result<_, StoreError>>()
        .map_err(stream_error)
}

/// Reads a row of `streams` columns (`id, user_id, chat_id, status, created_at`).
fn meta_from_row(row: &Row<'_>) -> Result<StreamMeta, StoreError> {
    let status = match row.text(3, "streams.status")? {
        "open" => StreamStatus::Open,
        "closed" => StreamStatus::Closed,
        other => return Err(corrupt("streams.status", format_args!("unknown status {other:?}"))),
    };
    let chat_id = row
        .optional_text(2, "streams.chat_id")?
        .map(|s| uuid::Uuid::try_parse(s).map(ChatId::from_uuid))
        .transpose()
        .map_err(|e| corrupt("streams.chat_id", e))?;
    Ok(StreamMeta {
        id: StreamId::from_uuid(row.uuid(0, "streams.id")?),
        owner: UserId::from_uuid(row.uuid(1, "streams.user_id")?),
        chat_id,
        status,
        created_at: Timestamp::from_millis(row.integer(4, "streams.created_at")?),
    })
}

fn stream_error(e: StoreError) -> StreamError {
    match e {
        StoreError::NotFound => StreamError::NotFound,
        StoreError::Conflict(_) => StreamError::Conflict,
        StoreError::Unavailable(why) => StreamError::Unavailable(why),
        e => StreamError::Backend {
            adapter: ADAPTER,
            source: Box::new(e),
        },
    }
}

/// A follower between two reads of the log.
struct Follower {
    store: D1Store,
    id: StreamId,
    /// The last sequence number handed out.
    after: Option<u64>,
    pending: VecDeque<StreamEvent>,
    poll: Duration,
    /// Whether the last read found the stream closed or gone: the log then has no more.
    ended: bool,
    /// Whether to wait before the next read (the last one found nothing new).
    wait: bool,
}

impl Follower {
    /// The next event, reading the log (and waiting on this request's own timer between
    /// empty reads) until there is one or the stream has ended. A failing read ends the
    /// follower: the event stream has no error item, and a retry loop could spin forever.
    async fn next(mut self) -> Option<(StreamEvent, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after = Some(event.seq);
                return Some((event, self));
            }
            if self.ended {
                return None;
            }
            if self.wait {
                js(worker::Delay::from(self.poll)).await;
            }
            // The status first: a stream seen closed has all its events in the log already.
            let status = match stream_meta(&self.store, self.id).await {
                Ok(meta) => meta.map(|m| m.status),
                Err(e) => {
                    worker::console_error!("stream {}: reading its status failed: {e}", self.id);
                    return None;
                }
            };
            // Gone (deleted, or its chat was): the follower ends.
            let status = status?;
            match events_after(&self.store, self.id, self.after).await {
                Ok(events) => {
                    self.wait = events.is_empty();
                    self.pending.extend(events);
                }
                Err(e) => {
                    worker::console_error!("stream {}: reading its log failed: {e}", self.id);
                    return None;
                }
            }
            self.ended = status == StreamStatus::Closed;
        }
    }
}

#[async_trait]
impl StreamHub for D1StreamHub {
    async fn create(&self, meta: &StreamMeta) -> Result<(), StreamError> {
        let args = vec![
            id(meta.id.as_uuid()),
            id(meta.owner.as_uuid()),
            meta.chat_id.map_or(Arg::Null, |c| id(c.as_uuid())),
            meta.created_at.as_millis().into(),
        ];
        self.store
            .run(Query::new(sql::INSERT_STREAM, args))
            .await
            .map(drop)
            .map_err(stream_error)
    }

    async fn meta(&self, sid: StreamId) -> Result<Option<StreamMeta>, StreamError> {
        self.stream_meta(sid).await
    }

    async fn append(&self, sid: StreamId, data: &[String]) -> Result<u64, StreamError> {
        if data.is_empty() {
            return Err(StreamError::EmptyBatch);
        }
        // One batch is one transaction: the events take consecutive numbers, no other append
        // comes between them, and all of them are written or none (a closed or absent stream
        // makes every statement insert nothing). The stream's recorded size grows first, in the
        // same transaction, so that the outcome of the last statement is the last event's.
        let bytes: usize = data.iter().map(String::len).sum();
        let grow = Query::new(
            sql::GROW_STREAM,
            vec![
                id(sid.as_uuid()),
                Arg::Int(i64::try_from(data.len()).unwrap_or(i64::MAX)),
                Arg::Int(i64::try_from(bytes).unwrap_or(i64::MAX)),
            ],
        );
        let batch = std::iter::once(grow)
            .chain(
                data.iter()
                    .map(|d| Query::new(sql::APPEND_STREAM_EVENT, vec![id(sid.as_uuid()), d.as_str().into()])),
            )
            .collect();
        let outcomes = self.store.batch(batch).await.map_err(stream_error)?;
        let last = outcomes.last().and_then(|o| o.rows.first()).and_then(|r| r.get("seq"));
        if let Some(seq) = last {
            return seq
                .as_u64()
                .ok_or_else(|| stream_error(corrupt("stream_events.seq", "not a sequence number")));
        }
        match self.stream_meta(sid).await? {
            None => Err(StreamError::NotFound),
            Some(_) => Err(StreamError::Closed),
        }
    }

    async fn events(&self, sid: StreamId, after: Option<u64>) -> Result<Vec<StreamEvent>, StreamError> {
        if self.stream_meta(sid).await?.is_none() {
            return Err(StreamError::NotFound);
        }
        events_after(&self.store, sid, after).await
    }

    async fn close(&self, sid: StreamId) -> Result<(), StreamError> {
        let now = self.clock.now().as_millis();
        let closed = self
            .store
            .run(Query::new(sql::CLOSE_STREAM, vec![id(sid.as_uuid()), now.into()]))
            .await
            .map_err(stream_error)?;
        if closed == 0 && self.stream_meta(sid).await?.is_none() {
            return Err(StreamError::NotFound);
        }
        Ok(())
    }

    async fn follow(&self, sid: StreamId, after: Option<u64>) -> Result<EventStream, StreamError> {
        if self.stream_meta(sid).await?.is_none() {
            return Err(StreamError::NotFound);
        }
        let follower = Follower {
            store: self.store.clone(),
            id: sid,
            after,
            pending: VecDeque::new(),
            poll: self.poll,
            ended: false,
            wait: false,
        };
        Ok(Box::pin(stream::unfold(follower, |f| js(f.next()))))
    }

    async fn delete(&self, sid: StreamId) -> Result<(), StreamError> {
        let deleted = self
            .store
            .run(Query::new(sql::DELETE_STREAM, vec![id(sid.as_uuid())]))
            .await
            .map_err(stream_error)?;
        if deleted == 0 {
            return Err(StreamError::NotFound);
        }
        Ok(())
    }

    async fn usage(&self, owner: UserId, stream: Option<StreamId>) -> Result<StreamUsage, StreamError> {
        let q = Query::new(
            sql::STREAM_USAGE,
            vec![id(owner.as_uuid()), stream.map_or(Arg::Null, |s| id(s.as_uuid()))],
        );
        let Some(row) = self.store.row(q).await.map_err(stream_error)? else {
            return Ok(StreamUsage::default());
        };
        let row = Row(&row);
        Ok(StreamUsage {
            open_streams: row.count(0, "streams.open").map_err(stream_error)?,
            bytes: row.count(1, "streams.bytes").map_err(stream_error)?,
            stream_events: row.count(2, "streams.events").map_err(stream_error)?,
            stream_bytes: row.count(3, "streams.bytes").map_err(stream_error)?,
        })
    }

    async fn delete_chat_streams(&self, chat: ChatId) -> Result<(), StreamError> {
        self.store
            .run(Query::new(sql::DELETE_CHAT_STREAMS, vec![id(chat.as_uuid())]))
            .await
            .map(drop)
            .map_err(stream_error)
    }
}
