//! The [`SessionStore`] port on SQLite: the `sessions` and `spent_refresh_tokens` tables of
//! `migrations/0006_sessions.sql`. Every write is one statement, or a rotation's three
//! statements in one transaction of the writer, each guarded in its SQL: the same statements
//! run as one `batch()` on D1.

use alleato_core::auth::{SPENT_REFRESH_KEPT, Session, SessionStore};
use alleato_core::id::{SessionId, UserId};
use alleato_core::store::StoreError;
use alleato_core::time::Timestamp;
use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::store::{UuidText, integer, map_error, query_one, text, uuid};
use alleato_sql as sql;

/// How many ended sessions one purge statement deletes at most.
const PURGE_CHUNK: i64 = 512;

impl SqliteStore {
    /// Deletes the sessions ended at `now` (with their spent hashes) and returns how many went.
    /// Call it now and then: ended sessions are never read, but they take room until then.
    ///
    /// # Errors
    /// `Unavailable` or `Backend` when the database fails.
    pub async fn purge_ended_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = now.as_millis();
        let mut purged = 0;
        loop {
            // Chunk by chunk, each its own job of the writer, so that other writes commit
            // between them.
            let gone = self
                .write(move |conn| execute(conn, sql::PURGE_ENDED_SESSIONS, params![now, PURGE_CHUNK]))
                .await?;
            purged += gone as u64;
            if (gone as i64) < PURGE_CHUNK {
                return Ok(purged);
            }
        }
    }
}

fn execute(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(map_error)
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let s = session.clone();
        self.write(move |conn| {
            let row = params![
                UuidText::new(s.id.as_uuid()),
                UuidText::new(s.user.as_uuid()),
                s.refresh_hash,
                s.expires_at.as_millis()
            ];
            // A gone user breaks a foreign key: `map_error` makes that `NotFound`.
            execute(conn, sql::INSERT_SESSION, row).map(drop)
        })
        .await
    }

    async fn session(&self, id: SessionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.read(move |conn| {
            let key = UuidText::new(id.as_uuid());
            query_one(conn, sql::SESSION_BY_ID, params![key, now.as_millis()], |row| {
                Ok(Session {
                    id,
                    user: UserId::from_uuid(uuid(row, 0, "sessions.user_id")?),
                    refresh_hash: text(row, 1, "sessions.refresh_hash")?.to_owned(),
                    expires_at: Timestamp::from_millis(integer(row, 2, "sessions.expires_at")?),
                })
            })
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        id: SessionId,
        presented: &str,
        next: &str,
        successor: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (presented, next, successor) = (presented.to_owned(), next.to_owned(), successor.to_owned());
        let kept = i64::try_from(SPENT_REFRESH_KEPT).unwrap_or(i64::MAX);
        self.write(move |conn| {
            let key = UuidText::new(id.as_uuid());
            let now = now.as_millis();
            execute(conn, sql::SPEND_REFRESH, params![key, presented, now, successor])?;
            let rotated = execute(
                conn,
                sql::ROTATE_REFRESH,
                params![key, presented, next, expires_at.as_millis(), now],
            )?;
            execute(conn, sql::TRIM_SPENT_REFRESH, params![key, kept])?;
            Ok(rotated == 1)
        })
        .await
    }

    async fn is_spent(&self, id: SessionId, hash: &str) -> Result<bool, StoreError> {
        let hash = hash.to_owned();
        self.read(move |conn| {
            let key = UuidText::new(id.as_uuid());
            Ok(query_one(conn, sql::IS_SPENT_REFRESH, params![key, hash], |_| Ok(()))?.is_some())
        })
        .await
    }

    async fn spent_successor(&self, id: SessionId, hash: &str, since: Timestamp) -> Result<Option<String>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |conn| {
            let key = UuidText::new(id.as_uuid());
            query_one(
                conn,
                sql::SPENT_REFRESH_SUCCESSOR,
                params![key, hash, since.as_millis()],
                |row| Ok(text(row, 0, "spent_refresh_tokens.successor")?.to_owned()),
            )
        })
        .await
    }

    async fn delete_session(&self, id: SessionId) -> Result<(), StoreError> {
        self.write(move |conn| execute(conn, sql::DELETE_SESSION, [UuidText::new(id.as_uuid())]).map(drop))
            .await
    }

    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        self.write(move |conn| execute(conn, sql::DELETE_USER_SESSIONS, [UuidText::new(user.as_uuid())]))
            .await
            .map(|n| n as u64)
    }
}
