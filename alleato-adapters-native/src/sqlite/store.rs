//! The port implementations: binding parameters, reading rows, mapping errors.

use alleato_core::auth::{DisplayName, Email, User, UserKind, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatListQuery, ChatStore, ChatTitle, Visibility};
use alleato_core::id::{ChatId, MessageId, StreamId, UserId};
use alleato_core::llm::Usage;
use alleato_core::messages::{
    DailyUsage, Message, MessageListQuery, MessageStatus, MessageStore, Role, Turn, UsageStore, Vote, VoteKind,
    parts_from_json, parts_to_json,
};
use alleato_core::page::{Cursor, Limit};
use alleato_core::store::StoreError;
use alleato_core::time::Timestamp;
use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, Row, ToSql, params};
use uuid::Uuid;

use alleato_sql as sql;

use super::{ADAPTER, SqliteStore};

/// A UUID bound as lower-case hyphenated text without allocating. That text sorts like the
/// UUID's bytes, so `ORDER BY id` and `(updated_at, id) < (?, ?)` agree with `Uuid`'s `Ord`.
pub(super) struct UuidText([u8; uuid::fmt::Hyphenated::LENGTH]);

impl UuidText {
    pub(super) fn new(id: &Uuid) -> Self {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut buf);
        Self(buf)
    }
}

impl ToSql for UuidText {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(&self.0)))
    }
}

/// Maps a rusqlite error to the port's error.
pub(super) fn map_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &e {
        match failure.code {
            ErrorCode::ConstraintViolation => {
                if let Some(rule) = message.as_deref().and_then(conflict_rule) {
                    return StoreError::Conflict(rule);
                }
                // A write that refers to a row that is gone (a chat deleted under a send).
                if message
                    .as_deref()
                    .is_some_and(|m| m.contains("FOREIGN KEY constraint failed"))
                {
                    return StoreError::NotFound;
                }
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::Unavailable(e.to_string());
            }
            _ => {}
        }
    }
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt(e.to_string()),
        e => StoreError::Backend {
            adapter: ADAPTER,
            source: Box::new(e),
        },
    }
}

/// The port's name for the uniqueness rule a constraint message names.
fn conflict_rule(message: &str) -> Option<&'static str> {
    // SQLite words primary-key and UNIQUE violations alike: "UNIQUE constraint failed: t.c".
    match message.strip_prefix("UNIQUE constraint failed: ")? {
        "users.email" => Some("email"),
        "users.id" => Some("user"),
        "chats.id" => Some("chat"),
        "messages.id" => Some("message"),
        "sessions.id" => Some("session"),
        _ => None,
    }
}

pub(super) fn corrupt(column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {why}"))
}

fn value<'r>(row: &'r Row<'_>, i: usize) -> Result<ValueRef<'r>, StoreError> {
    row.get_ref(i).map_err(map_error)
}

pub(super) fn text<'r>(row: &'r Row<'_>, i: usize, column: &str) -> Result<&'r str, StoreError> {
    value(row, i)?.as_str().map_err(|e| corrupt(column, e))
}

pub(super) fn optional_text<'r>(row: &'r Row<'_>, i: usize, column: &str) -> Result<Option<&'r str>, StoreError> {
    value(row, i)?.as_str_or_null().map_err(|e| corrupt(column, e))
}

pub(super) fn integer(row: &Row<'_>, i: usize, column: &str) -> Result<i64, StoreError> {
    value(row, i)?.as_i64().map_err(|e| corrupt(column, e))
}

pub(super) fn uuid(row: &Row<'_>, i: usize, column: &str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(text(row, i, column)?).map_err(|e| corrupt(column, e))
}

/// Reads a row of `sql::user_columns!`.
fn user_from_row(row: &Row<'_>) -> Result<UserRecord, StoreError> {
    let email = optional_text(row, 1, "users.email")?
        .map(Email::parse)
        .transpose()
        .map_err(|e| corrupt("users.email", e))?;
    let name = optional_text(row, 2, "users.name")?
        .map(DisplayName::parse)
        .transpose()
        .map_err(|e| corrupt("users.name", e))?;
    let kind = text(row, 3, "users.kind")?;
    let kind = UserKind::parse(kind).ok_or_else(|| corrupt("users.kind", format_args!("unknown kind {kind:?}")))?;
    let limit = match value(row, 5)? {
        ValueRef::Null => None,
        v => {
            let n = v.as_i64().map_err(|e| corrupt("users.daily_message_limit", e))?;
            Some(u32::try_from(n).map_err(|e| corrupt("users.daily_message_limit", e))?)
        }
    };
    Ok(UserRecord {
        user: User {
            id: UserId::from_uuid(uuid(row, 0, "users.id")?),
            email,
            name,
            kind,
            created_at: Timestamp::from_millis(integer(row, 6, "users.created_at")?),
        },
        password_hash: optional_text(row, 4, "users.password_hash")?.map(str::to_owned),
        daily_message_limit: limit,
    })
}

/// Reads a row of `sql::chat_columns!`.
fn chat_from_row(row: &Row<'_>) -> Result<Chat, StoreError> {
    Ok(Chat {
        id: ChatId::from_uuid(uuid(row, 0, "chats.id")?),
        user_id: UserId::from_uuid(uuid(row, 1, "chats.user_id")?),
        title: ChatTitle::parse(text(row, 2, "chats.title")?).map_err(|e| corrupt("chats.title", e))?,
        visibility: Visibility::parse(text(row, 3, "chats.visibility")?).map_err(|e| corrupt("chats.visibility", e))?,
        model: text(row, 4, "chats.model")?.to_owned(),
        created_at: Timestamp::from_millis(integer(row, 5, "chats.created_at")?),
        updated_at: Timestamp::from_millis(integer(row, 6, "chats.updated_at")?),
    })
}

/// Reads a row of `sql::message_columns!`.
fn message_from_row(row: &Row<'_>) -> Result<Message, StoreError> {
    let role = text(row, 2, "messages.role")?;
    let role = Role::parse(role).ok_or_else(|| corrupt("messages.role", format_args!("unknown role {role:?}")))?;
    let status = text(row, 4, "messages.status")?;
    let status = MessageStatus::parse(status)
        .ok_or_else(|| corrupt("messages.status", format_args!("unknown status {status:?}")))?;
    let input = optional_count(row, 6, "messages.input_tokens")?;
    let output = optional_count(row, 7, "messages.output_tokens")?;
    let usage = match (input, output) {
        (Some(input_tokens), Some(output_tokens)) => Some(Usage {
            input_tokens,
            output_tokens,
        }),
        (None, None) => None,
        _ => return Err(corrupt("messages.input_tokens", "only one of the token counts is set")),
    };
    let stream_id = optional_text(row, 8, "messages.stream_id")?
        .map(|s| Uuid::try_parse(s).map(StreamId::from_uuid))
        .transpose()
        .map_err(|e| corrupt("messages.stream_id", e))?;
    Ok(Message {
        id: MessageId::from_uuid(uuid(row, 0, "messages.id")?),
        chat_id: ChatId::from_uuid(uuid(row, 1, "messages.chat_id")?),
        role,
        parts: parts_from_json(text(row, 3, "messages.parts")?).map_err(|e| corrupt("messages.parts", e))?,
        status,
        model: optional_text(row, 5, "messages.model")?.map(str::to_owned),
        usage,
        stream_id,
        created_at: Timestamp::from_millis(integer(row, 9, "messages.created_at")?),
    })
}

/// Reads a row of `sql::VOTES_BY_CHAT`.
fn vote_from_row(row: &Row<'_>) -> Result<Vote, StoreError> {
    Ok(Vote {
        message_id: MessageId::from_uuid(uuid(row, 0, "votes.message_id")?),
        user_id: UserId::from_uuid(uuid(row, 1, "votes.user_id")?),
        chat_id: ChatId::from_uuid(uuid(row, 2, "votes.chat_id")?),
        kind: VoteKind::parse(text(row, 3, "votes.kind")?).map_err(|e| corrupt("votes.kind", e))?,
        updated_at: Timestamp::from_millis(integer(row, 4, "votes.updated_at")?),
    })
}

/// A count that must not be negative.
fn count(row: &Row<'_>, i: usize, column: &str) -> Result<u64, StoreError> {
    u64::try_from(integer(row, i, column)?).map_err(|e| corrupt(column, e))
}

/// A count that must not be negative, or NULL.
fn optional_count(row: &Row<'_>, i: usize, column: &str) -> Result<Option<u64>, StoreError> {
    match value(row, i)? {
        ValueRef::Null => Ok(None),
        _ => count(row, i, column).map(Some),
    }
}

/// A token count as an SQLite INTEGER (saturating: no real count comes near `i64::MAX`).
fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Every row of a query, read with `read`.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_error)?;
    let mut rows = stmt.query(params).map_err(map_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_error)? {
        out.push(read(row)?);
    }
    Ok(out)
}

/// The first row of a query, read with `read`, or `None`.
pub(super) fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_error)?;
    let mut rows = stmt.query(params).map_err(map_error)?;
    rows.next().map_err(map_error)?.map(read).transpose()
}

/// A message as its row's parameters, ready to insert on the writer.
struct MessageRow {
    message: Message,
    parts: String,
    text: String,
}

impl MessageRow {
    fn new(message: &Message) -> Self {
        Self {
            message: message.clone(),
            parts: parts_to_json(&message.parts),
            text: message.text(),
        }
    }

    /// Inserts the message and moves its chat's `updated_at` up to it: two statements in the
    /// caller's savepoint (a batch on D1). `NotFound` when the chat does not exist.
    fn insert(&self, conn: &Connection) -> Result<(), StoreError> {
        let m = &self.message;
        let chat = UuidText::new(m.chat_id.as_uuid());
        self.with_columns(&[], |params| change_one(conn, sql::INSERT_MESSAGE, params))?;
        change_one(conn, sql::BUMP_CHAT, params![chat, m.created_at.as_millis()])
    }

    /// Inserts the message as part of a send's turn, only under the turn's mark (`?12` user,
    /// `?13` day, `?14` mark): the statements of D1's batch, run in the caller's savepoint.
    fn insert_for_turn(&self, conn: &Connection, mark: &[&dyn ToSql; 3]) -> Result<(), StoreError> {
        let m = &self.message;
        self.with_columns(mark, |params| change_one(conn, sql::INSERT_FOR_TURN, params))?;
        let bump = [
            &UuidText::new(m.chat_id.as_uuid()) as &dyn ToSql,
            &m.created_at.as_millis(),
        ];
        let params: Vec<&dyn ToSql> = bump.into_iter().chain(mark.iter().copied()).collect();
        change_one(conn, sql::BUMP_CHAT_FOR_TURN, params.as_slice())
    }

    /// Calls `f` with the message's eleven columns (`?1`…`?11` of the insert statements) and
    /// then `extra`.
    fn with_columns<R>(&self, extra: &[&dyn ToSql], f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        let m = &self.message;
        let (id, chat) = (UuidText::new(m.id.as_uuid()), UuidText::new(m.chat_id.as_uuid()));
        let (input, output) = (
            m.usage.map(|u| tokens(u.input_tokens)),
            m.usage.map(|u| tokens(u.output_tokens)),
        );
        let stream = m.stream_id.as_ref().map(|s| UuidText::new(s.as_uuid()));
        let created = m.created_at.as_millis();
        let columns: [&dyn ToSql; 11] = [
            &id,
            &chat,
            &m.role.as_str(),
            &self.parts,
            &self.text,
            &m.status.as_str(),
            &m.model.as_deref(),
            &input,
            &output,
            &stream,
            &created,
        ];
        let params: Vec<&dyn ToSql> = columns.into_iter().chain(extra.iter().copied()).collect();
        f(&params)
    }
}

/// Adds one message to the user's count for the day unless it has reached `limit`; `None` then.
fn count_message(conn: &Connection, user: UserId, day: i64, limit: u64) -> Result<Option<u64>, StoreError> {
    if limit == 0 {
        return Ok(None);
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // No row comes back when the conflict's WHERE refuses the update: the limit is reached.
    let params = params![UuidText::new(user.as_uuid()), day, limit];
    query_one(conn, sql::COUNT_MESSAGE, params, |row| {
        count(row, 0, "usage_daily.messages")
    })
}

/// Runs a write of one row, and turns "no row changed" into `NotFound`.
fn change_one(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(map_error)?;
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let user = user.clone();
        self.write(move |conn| {
            let u = &user.user;
            let params = params![
                UuidText::new(u.id.as_uuid()),
                u.email.as_ref().map(Email::as_str),
                u.name.as_ref().map(DisplayName::as_str),
                u.kind.as_str(),
                user.password_hash.as_deref(),
                user.daily_message_limit,
                u.created_at.as_millis(),
            ];
            conn.prepare_cached(sql::INSERT_USER)
                .and_then(|mut s| s.execute(params))
                .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.read(move |conn| query_one(conn, sql::USER_BY_ID, [UuidText::new(id.as_uuid())], user_from_row))
            .await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let email = email.clone();
        self.read(move |conn| query_one(conn, sql::USER_BY_EMAIL, [email.as_str()], user_from_row))
            .await
    }

    async fn upgrade_guest(
        &self,
        id: UserId,
        email: &Email,
        name: Option<&DisplayName>,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let (email, name, hash) = (email.clone(), name.cloned(), password_hash.to_owned());
        self.write(move |conn| {
            let params = params![
                UuidText::new(id.as_uuid()),
                email.as_str(),
                name.as_ref().map(DisplayName::as_str),
                hash,
            ];
            change_one(conn, sql::UPGRADE_GUEST, params)
        })
        .await
    }
}

#[async_trait]
impl ChatStore for SqliteStore {
    async fn insert_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        let chat = chat.clone();
        self.write(move |conn| {
            let params = params![
                UuidText::new(chat.id.as_uuid()),
                UuidText::new(chat.user_id.as_uuid()),
                chat.title.as_str(),
                chat.visibility.as_str(),
                chat.model,
                chat.created_at.as_millis(),
                chat.updated_at.as_millis(),
            ];
            let inserted = conn
                .prepare_cached(sql::INSERT_CHAT)
                .and_then(|mut s| s.execute(params))
                .map_err(map_error)?;
            // Nothing inserted: the id was a deleted chat's.
            if inserted == 0 {
                return Err(StoreError::Conflict("chat"));
            }
            Ok(())
        })
        .await
    }

    async fn chat(&self, id: ChatId) -> Result<Option<Chat>, StoreError> {
        self.read(move |conn| query_one(conn, sql::CHAT_BY_ID, [UuidText::new(id.as_uuid())], chat_from_row))
            .await
    }

    async fn update_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        let chat = chat.clone();
        self.write(move |conn| {
            let params = params![
                UuidText::new(chat.id.as_uuid()),
                chat.title.as_str(),
                chat.visibility.as_str(),
                chat.model,
                chat.updated_at.as_millis(),
            ];
            change_one(conn, sql::UPDATE_CHAT, params)
        })
        .await
    }

    async fn delete_chat(&self, id: ChatId) -> Result<(), StoreError> {
        // One job of the writer: its savepoint keeps both statements or neither.
        self.write(move |conn| {
            let id = UuidText::new(id.as_uuid());
            conn.prepare_cached(sql::RETIRE_CHAT_ID)
                .and_then(|mut s| s.execute([&id]))
                .map_err(map_error)?;
            change_one(conn, sql::DELETE_CHAT, [&id])
        })
        .await
    }

    async fn discard_empty_chat(&self, id: ChatId) -> Result<(), StoreError> {
        self.write(move |conn| change_one(conn, sql::DISCARD_EMPTY_CHAT, [UuidText::new(id.as_uuid())]))
            .await
    }

    async fn count_chats(&self, owner: UserId) -> Result<u64, StoreError> {
        let owner = UuidText::new(owner.as_uuid());
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached(sql::COUNT_CHATS)
                .and_then(|mut s| s.query_row(params![owner], |r| r.get(0)))
                .map_err(map_error)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn list_chats(&self, query: &ChatListQuery) -> Result<Vec<Chat>, StoreError> {
        let owner = UuidText::new(query.owner.as_uuid());
        let fetch = i64::from(query.limit.get()) + 1;
        let after = query.after.map(|c| (c.at.as_millis(), UuidText::new(&c.id)));
        let pattern = query.search.as_ref().map(|s| sql::contains_pattern(s.as_str()));
        self.read(move |conn| {
            let text = match (&after, &pattern) {
                (None, None) => sql::LIST_CHATS,
                (Some(_), None) => sql::LIST_CHATS_AFTER,
                (None, Some(_)) => sql::SEARCH_CHATS,
                (Some(_), Some(_)) => sql::SEARCH_CHATS_AFTER,
            };
            let mut stmt = conn.prepare_cached(text).map_err(map_error)?;
            let mut rows = match (&after, &pattern) {
                (None, None) => stmt.query(params![owner, fetch]),
                (Some((at, id)), None) => stmt.query(params![owner, fetch, at, id]),
                (None, Some(p)) => stmt.query(params![owner, fetch, p]),
                (Some((at, id)), Some(p)) => stmt.query(params![owner, fetch, at, id, p]),
            }
            .map_err(map_error)?;
            let mut chats = Vec::with_capacity(usize::try_from(fetch).unwrap_or(0));
            while let Some(row) = rows.next().map_err(map_error)? {
                chats.push(chat_from_row(row)?);
            }
            Ok(chats)
        })
        .await
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn insert_message(&self, message: &Message) -> Result<(), StoreError> {
        let row = MessageRow::new(message);
        self.write(move |conn| row.insert(conn)).await
    }

    async fn insert_turn(&self, turn: &Turn<'_>) -> Result<Option<u64>, StoreError> {
        let quota = turn.quota;
        let (question, answer) = (turn.question.map(MessageRow::new), MessageRow::new(turn.answer));
        let replaces = turn.replaces;
        if quota.limit == 0 {
            return Ok(None);
        }
        // The statements of D1's batch, guards in the SQL, in one job of the writer (so one
        // savepoint: a failure after the count undoes it too).
        self.write(move |conn| {
            let (user, mark) = (
                UuidText::new(quota.user.as_uuid()),
                UuidText::new(answer.message.id.as_uuid()),
            );
            let limit = i64::try_from(quota.limit).unwrap_or(i64::MAX);
            let replaced = replaces.map(|r| UuidText::new(r.as_uuid()));
            let counted = query_one(
                conn,
                sql::COUNT_TURN,
                params![user, quota.day, limit, mark, replaced],
                |row| count(row, 0, "usage_daily.messages"),
            )?;
            let Some(total) = counted else {
                // Refused: the limit is reached, or the message to replace is gone.
                if let Some(r) = &replaced
                    && query_one(conn, sql::MESSAGE_BY_ID, [r], |_| Ok(()))?.is_none()
                {
                    return Err(StoreError::NotFound);
                }
                return Ok(None);
            };
            let guard: [&dyn ToSql; 3] = [&user, &quota.day, &mark];
            if let Some(r) = &replaced {
                change_one(conn, sql::DELETE_FOR_TURN, params![r, user, quota.day, mark])?;
            }
            if let Some(q) = &question {
                q.insert_for_turn(conn, &guard)?;
            }
            answer.insert_for_turn(conn, &guard)?;
            Ok(Some(total))
        })
        .await
    }

    async fn update_message(&self, message: &Message) -> Result<(), StoreError> {
        let (message, parts, text) = (message.clone(), parts_to_json(&message.parts), message.text());
        self.write(move |conn| {
            let m = &message;
            let params = params![
                UuidText::new(m.id.as_uuid()),
                parts,
                text,
                m.status.as_str(),
                m.model.as_deref(),
                m.usage.map(|u| tokens(u.input_tokens)),
                m.usage.map(|u| tokens(u.output_tokens)),
            ];
            change_one(conn, sql::UPDATE_MESSAGE, params)
        })
        .await
    }

    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        self.read(move |conn| {
            query_one(
                conn,
                sql::MESSAGE_BY_ID,
                [UuidText::new(id.as_uuid())],
                message_from_row,
            )
        })
        .await
    }

    async fn list_messages(&self, query: &MessageListQuery) -> Result<Vec<Message>, StoreError> {
        let chat = UuidText::new(query.chat_id.as_uuid());
        let fetch = i64::from(query.limit.get()) + 1;
        let before = query.before.map(|c| (c.at.as_millis(), UuidText::new(&c.id)));
        self.read(move |conn| match &before {
            None => query_all(conn, sql::LIST_MESSAGES, params![chat, fetch], message_from_row),
            Some((at, id)) => query_all(
                conn,
                sql::LIST_MESSAGES_BEFORE,
                params![chat, fetch, at, id],
                message_from_row,
            ),
        })
        .await
    }

    async fn context(&self, chat_id: ChatId, limit: Limit) -> Result<Vec<(Role, String)>, StoreError> {
        let chat = UuidText::new(chat_id.as_uuid());
        let limit = i64::from(limit.get());
        let mut newest_first = self
            .read(move |conn| {
                query_all(conn, sql::CONTEXT_MESSAGES, params![chat, limit], |row| {
                    let role = text(row, 0, "messages.role")?;
                    let role = Role::parse(role).ok_or_else(|| corrupt("messages.role", role))?;
                    Ok((role, text(row, 1, "messages.text")?.to_owned()))
                })
            })
            .await?;
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn delete_message(&self, id: MessageId) -> Result<(), StoreError> {
        self.write(move |conn| change_one(conn, sql::DELETE_MESSAGE, [UuidText::new(id.as_uuid())]))
            .await
    }

    async fn delete_messages_after(&self, chat_id: ChatId, after: Cursor) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let params = params![
                UuidText::new(chat_id.as_uuid()),
                after.at.as_millis(),
                UuidText::new(&after.id)
            ];
            let deleted = conn
                .prepare_cached(sql::DELETE_MESSAGES_AFTER)
                .and_then(|mut s| s.execute(params))
                .map_err(map_error)?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn streaming_messages(&self) -> Result<Vec<Message>, StoreError> {
        self.read(|conn| query_all(conn, sql::STREAMING_MESSAGES, [], message_from_row))
            .await
    }

    async fn upsert_vote(&self, vote: &Vote) -> Result<(), StoreError> {
        let vote = vote.clone();
        self.write(move |conn| {
            let params = params![
                UuidText::new(vote.message_id.as_uuid()),
                UuidText::new(vote.user_id.as_uuid()),
                UuidText::new(vote.chat_id.as_uuid()),
                vote.kind.as_str(),
                vote.updated_at.as_millis(),
            ];
            change_one(conn, sql::UPSERT_VOTE, params)
        })
        .await
    }

    async fn votes(&self, chat_id: ChatId) -> Result<Vec<Vote>, StoreError> {
        self.read(move |conn| {
            query_all(
                conn,
                sql::VOTES_BY_CHAT,
                [UuidText::new(chat_id.as_uuid())],
                vote_from_row,
            )
        })
        .await
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn count_message(&self, user: UserId, day: i64, limit: u64) -> Result<Option<u64>, StoreError> {
        self.write(move |conn| count_message(conn, user, day, limit)).await
    }

    async fn add_tokens(&self, user: UserId, day: i64, usage: Usage) -> Result<(), StoreError> {
        self.write(move |conn| {
            let params = params![
                UuidText::new(user.as_uuid()),
                day,
                tokens(usage.input_tokens),
                tokens(usage.output_tokens),
            ];
            conn.prepare_cached(sql::ADD_TOKENS)
                .and_then(|mut s| s.execute(params))
                .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn daily_usage(&self, user: UserId, day: i64) -> Result<DailyUsage, StoreError> {
        self.read(move |conn| {
            let params = params![UuidText::new(user.as_uuid()), day];
            let usage = query_one(conn, sql::DAILY_USAGE, params, |row| {
                Ok(DailyUsage {
                    messages: count(row, 0, "usage_daily.messages")?,
                    input_tokens: count(row, 1, "usage_daily.input_tokens")?,
                    output_tokens: count(row, 2, "usage_daily.output_tokens")?,
                })
            })?;
            Ok(usage.unwrap_or_default())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::migrate::migrate;

    fn plan(conn: &Connection, query: &str, params: impl rusqlite::Params) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {query}")).unwrap();
        let rows = stmt.query_map(params, |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("\n")
    }

    #[test]
    fn chat_lists_walk_the_owner_index_without_sorting() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let owner = UuidText::new(&Uuid::from_u128(1));
        let id = UuidText::new(&Uuid::from_u128(2));
        let plans = [
            plan(&conn, sql::LIST_CHATS, params![owner, 21]),
            plan(&conn, sql::LIST_CHATS_AFTER, params![owner, 21, 5, id]),
            plan(&conn, sql::SEARCH_CHATS, params![owner, 21, "%a%"]),
            plan(&conn, sql::SEARCH_CHATS_AFTER, params![owner, 21, 5, id, "%a%"]),
        ];
        for p in &plans {
            assert!(p.contains("chats_by_owner_recency"), "{p}");
            assert!(!p.contains("TEMP B-TREE"), "{p}");
        }
        // The cursor is a range of the index, not a filter over all the owner's chats.
        for p in [&plans[1], &plans[3]] {
            assert!(p.contains("(updated_at,id)<(?,?)"), "{p}");
        }
        // Each chat's messages are searched through their index, not by a scan.
        for p in [&plans[2], &plans[3]] {
            assert!(p.contains("messages_by_chat"), "{p}");
        }
    }

    #[test]
    fn message_lists_walk_the_chat_index_without_sorting() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let chat = UuidText::new(&Uuid::from_u128(1));
        let id = UuidText::new(&Uuid::from_u128(2));
        let all = plan(&conn, sql::LIST_MESSAGES, params![chat, 21]);
        let before = plan(&conn, sql::LIST_MESSAGES_BEFORE, params![chat, 21, 5, id]);
        for p in [&all, &before] {
            assert!(p.contains("messages_by_chat"), "{p}");
            assert!(!p.contains("TEMP B-TREE"), "{p}");
        }
        assert!(before.contains("(created_at,id)<(?,?)"), "{before}");
    }

    #[test]
    fn uuid_text_sorts_like_uuids() {
        let mut ids: Vec<Uuid> = (0..64u128)
            .map(|n| Uuid::from_u128(n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)))
            .collect();
        let mut texts: Vec<[u8; 36]> = ids.iter().map(|u| UuidText::new(u).0).collect();
        ids.sort();
        texts.sort();
        let sorted: Vec<[u8; 36]> = ids.iter().map(|u| UuidText::new(u).0).collect();
        assert_eq!(texts, sorted);
    }

    #[test]
    fn constraint_messages_name_the_rule() {
        assert_eq!(conflict_rule("UNIQUE constraint failed: users.email"), Some("email"));
        assert_eq!(conflict_rule("UNIQUE constraint failed: users.id"), Some("user"));
        assert_eq!(conflict_rule("UNIQUE constraint failed: chats.id"), Some("chat"));
        assert_eq!(conflict_rule("UNIQUE constraint failed: messages.id"), Some("message"));
        assert_eq!(conflict_rule("FOREIGN KEY constraint failed"), None);
    }
}
