//! The [`SessionStore`] port on D1: the `sessions` and `spent_refresh_tokens` tables of
//! `migrations/0006_sessions.sql`, with the native adapter's statements. A rotation is one
//! `batch()` (one transaction) whose guards are in its statements, so two refreshes with one
//! token, on any two isolates, never both rotate.

use alleato_core::auth::{SPENT_REFRESH_KEPT, Session, SessionStore};
use alleato_core::id::{SessionId, UserId};
use alleato_core::store::StoreError;
use alleato_core::time::Timestamp;
use alleato_sql as sql;
use async_trait::async_trait;

use super::model::Row;
use super::{Arg, D1Store, Query, id};

#[async_trait]
impl SessionStore for D1Store {
    async fn create_session(&self, s: &Session) -> Result<(), StoreError> {
        let args = vec![
            id(s.id.as_uuid()),
            id(s.user.as_uuid()),
            s.refresh_hash.as_str().into(),
            s.expires_at.as_millis().into(),
        ];
        // A gone user breaks a foreign key, which the adapter reads as `NotFound`.
        self.run(Query::new(sql::INSERT_SESSION, args)).await.map(drop)
    }

    async fn session(&self, sid: SessionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let row = self
            .row(Query::new(
                sql::SESSION_BY_ID,
                vec![id(sid.as_uuid()), now.as_millis().into()],
            ))
            .await?;
        row.map(|r| {
            let row = Row(&r);
            Ok(Session {
                id: sid,
                user: UserId::from_uuid(row.uuid(0, "sessions.user_id")?),
                refresh_hash: row.text(1, "sessions.refresh_hash")?.to_owned(),
                expires_at: Timestamp::from_millis(row.integer(2, "sessions.expires_at")?),
            })
        })
        .transpose()
    }

    async fn rotate_refresh(
        &self,
        sid: SessionId,
        presented: &str,
        next: &str,
        successor: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (key, now) = (id(sid.as_uuid()), Arg::Int(now.as_millis()));
        let kept = Arg::Int(i64::try_from(SPENT_REFRESH_KEPT).unwrap_or(i64::MAX));
        let outcomes = self
            .batch(vec![
                Query::new(
                    sql::SPEND_REFRESH,
                    vec![key.clone(), presented.into(), now.clone(), successor.into()],
                ),
                Query::new(
                    sql::ROTATE_REFRESH,
                    vec![
                        key.clone(),
                        presented.into(),
                        next.into(),
                        expires_at.as_millis().into(),
                        now,
                    ],
                ),
                Query::new(sql::TRIM_SPENT_REFRESH, vec![key, kept]),
            ])
            .await?;
        Ok(outcomes.get(1).is_some_and(|o| o.changes == 1))
    }

    async fn is_spent(&self, sid: SessionId, hash: &str) -> Result<bool, StoreError> {
        let row = self
            .row(Query::new(sql::IS_SPENT_REFRESH, vec![id(sid.as_uuid()), hash.into()]))
            .await?;
        Ok(row.is_some())
    }

    async fn spent_successor(
        &self,
        sid: SessionId,
        hash: &str,
        since: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .row(Query::new(
                sql::SPENT_REFRESH_SUCCESSOR,
                vec![id(sid.as_uuid()), hash.into(), since.as_millis().into()],
            ))
            .await?;
        row.map(|r| Ok(Row(&r).text(0, "spent_refresh_tokens.successor")?.to_owned()))
            .transpose()
    }

    async fn delete_session(&self, sid: SessionId) -> Result<(), StoreError> {
        self.run(Query::new(sql::DELETE_SESSION, vec![id(sid.as_uuid())]))
            .await
            .map(drop)
    }

    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        let gone = self
            .run(Query::new(sql::DELETE_USER_SESSIONS, vec![id(user.as_uuid())]))
            .await?;
        Ok(gone as u64)
    }
}
