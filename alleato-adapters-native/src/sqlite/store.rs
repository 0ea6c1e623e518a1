//! The port implementations: binding parameters, reading rows, mapping errors.

use alleato_core::auth::{DisplayName, Email, User, UserKind, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatListQuery, ChatStore, ChatTitle, Visibility};
use alleato_core::id::{ChatId, UserId};
use alleato_core::store::StoreError;
use alleato_core::time::Timestamp;
use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, Row, ToSql, params};
use uuid::Uuid;

use super::{ADAPTER, SqliteStore, sql};

/// A UUID bound as lower-case hyphenated text without allocating. That text sorts like the
/// UUID's bytes, so `ORDER BY id` and `(updated_at, id) < (?, ?)` agree with `Uuid`'s `Ord`.
struct UuidText([u8; uuid::fmt::Hyphenated::LENGTH]);

impl UuidText {
    fn new(id: &Uuid) -> Self {
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
        _ => None,
    }
}

fn corrupt(column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {why}"))
}

fn value<'r>(row: &'r Row<'_>, i: usize) -> Result<ValueRef<'r>, StoreError> {
    row.get_ref(i).map_err(map_error)
}

fn text<'r>(row: &'r Row<'_>, i: usize, column: &str) -> Result<&'r str, StoreError> {
    value(row, i)?.as_str().map_err(|e| corrupt(column, e))
}

fn optional_text<'r>(row: &'r Row<'_>, i: usize, column: &str) -> Result<Option<&'r str>, StoreError> {
    value(row, i)?.as_str_or_null().map_err(|e| corrupt(column, e))
}

fn integer(row: &Row<'_>, i: usize, column: &str) -> Result<i64, StoreError> {
    value(row, i)?.as_i64().map_err(|e| corrupt(column, e))
}

fn uuid(row: &Row<'_>, i: usize, column: &str) -> Result<Uuid, StoreError> {
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

/// The first row of a query, read with `read`, or `None`.
fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_error)?;
    let mut rows = stmt.query(params).map_err(map_error)?;
    rows.next().map_err(map_error)?.map(read).transpose()
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
            conn.prepare_cached(sql::INSERT_CHAT)
                .and_then(|mut s| s.execute(params))
                .map_err(map_error)?;
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
        self.write(move |conn| change_one(conn, sql::DELETE_CHAT, [UuidText::new(id.as_uuid())]))
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
        assert_eq!(conflict_rule("FOREIGN KEY constraint failed"), None);
    }
}
