//! Rows of the `streams` and `stream_events` tables, and the hub's errors.

use alleato_core::id::{ChatId, UserId};
use alleato_core::store::StoreError;
use alleato_core::streams::{StreamError, StreamEvent, StreamId, StreamMeta, StreamStatus};
use alleato_core::time::Timestamp;
use rusqlite::{Connection, ErrorCode, Row, params};
use uuid::Uuid;

use crate::sqlite::ADAPTER;
use crate::sqlite::pool::copy_error;
use crate::sqlite::store::{UuidText, corrupt, integer, map_error, optional_text, text, uuid};
use alleato_sql as sql;

/// Runs one write and returns how many rows it changed, or `None` when it broke a constraint
/// (a foreign key: the row it refers to is gone). Other failures fail the batch.
pub(super) fn change(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Option<usize>, StoreError> {
    match conn.prepare_cached(sql).and_then(|mut s| s.execute(params)) {
        Ok(n) => Ok(Some(n)),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::ConstraintViolation => Ok(None),
        Err(e) => Err(map_error(e)),
    }
}

/// Writes a batch of events numbered from `first`. Returns `false` when the stream's row is
/// gone (a foreign key broke on the first insert, so nothing of the batch is written).
pub(super) fn append_events(tx: &Connection, key: &UuidText, first: u64, data: &[String]) -> Result<bool, StoreError> {
    for (n, event) in data.iter().enumerate() {
        let seq = first
            .checked_add(n as u64)
            .and_then(|s| i64::try_from(s).ok())
            .ok_or_else(|| corrupt("stream_events.seq", "sequence number out of range"))?;
        match change(tx, sql::INSERT_STREAM_EVENT, params![key, seq, event])? {
            Some(_) => {}
            None if n == 0 => return Ok(false),
            // The batch's first events are written: fail the whole transaction rather than
            // keep half a batch.
            None => return Err(corrupt("stream_events", format_args!("event {seq} broke a constraint"))),
        }
    }
    Ok(true)
}

/// The events of a stream after `after` (all when `None`), in order.
pub(super) fn events_after(
    conn: &Connection,
    id: StreamId,
    after: Option<u64>,
) -> Result<Vec<StreamEvent>, StoreError> {
    let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
    let mut stmt = conn.prepare_cached(sql::STREAM_EVENTS_AFTER).map_err(map_error)?;
    let mut rows = stmt
        .query(params![UuidText::new(id.as_uuid()), after])
        .map_err(map_error)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(map_error)? {
        let seq = integer(row, 0, "stream_events.seq")?;
        events.push(StreamEvent {
            seq: u64::try_from(seq).map_err(|e| corrupt("stream_events.seq", e))?,
            data: text(row, 1, "stream_events.data")?.to_owned(),
        });
    }
    Ok(events)
}

pub(super) fn status_from_row(row: &Row<'_>, i: usize) -> Result<StreamStatus, StoreError> {
    match text(row, i, "streams.status")? {
        "open" => Ok(StreamStatus::Open),
        "closed" => Ok(StreamStatus::Closed),
        other => Err(corrupt("streams.status", format_args!("unknown status {other:?}"))),
    }
}

/// Reads a row of `sql::stream_columns!`.
pub(super) fn stream_from_row(row: &Row<'_>) -> Result<StreamMeta, StoreError> {
    Ok(StreamMeta {
        id: StreamId::from_uuid(uuid(row, 0, "streams.id")?),
        owner: UserId::from_uuid(uuid(row, 1, "streams.user_id")?),
        chat_id: optional_text(row, 2, "streams.chat_id")?
            .map(|c| Uuid::try_parse(c).map(ChatId::from_uuid))
            .transpose()
            .map_err(|e| corrupt("streams.chat_id", e))?,
        status: status_from_row(row, 3)?,
        created_at: Timestamp::from_millis(integer(row, 4, "streams.created_at")?),
    })
}

pub(super) fn hub_error(e: StoreError) -> StreamError {
    match e {
        StoreError::NotFound => StreamError::NotFound,
        StoreError::Unavailable(why) => StreamError::Unavailable(why),
        e => StreamError::Backend {
            adapter: ADAPTER,
            source: Box::new(e),
        },
    }
}

/// The error each job of a failed batch gets (the cause is one, the jobs many).
pub(super) fn batch_error(e: &StoreError) -> StreamError {
    hub_error(copy_error(e))
}

pub(super) fn stopped() -> StreamError {
    StreamError::Unavailable("the stream hub's writer has stopped".to_owned())
}
