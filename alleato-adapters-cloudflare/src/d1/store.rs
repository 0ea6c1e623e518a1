//! The record-storage ports on D1.

use alleato_core::auth::{DisplayName, Email, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatListQuery, ChatStore};
use alleato_core::id::{ChatId, MessageId, UserId};
use alleato_core::llm::Usage;
use alleato_core::messages::{
    DailyUsage, Message, MessageListQuery, MessageStore, Role, Turn, UsageStore, Vote, parts_to_json,
};
use alleato_core::page::{Cursor, Limit};
use alleato_core::store::StoreError;
use alleato_sql as sql;
use async_trait::async_trait;

use super::model::{self, Row};
use super::{Arg, D1Store, Query, corrupt, id};

/// A token count as an INTEGER (saturating: no real count comes near the limit).
fn tokens(n: u64) -> Arg {
    Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A message's eleven `?N` arguments for `INSERT_MESSAGE` and `INSERT_FOR_TURN`.
fn message_args(m: &Message) -> Vec<Arg> {
    vec![
        id(m.id.as_uuid()),
        id(m.chat_id.as_uuid()),
        m.role.as_str().into(),
        parts_to_json(&m.parts).into(),
        m.text().into(),
        m.status.as_str().into(),
        m.model.as_deref().into(),
        m.usage.map_or(Arg::Null, |u| tokens(u.input_tokens)),
        m.usage.map_or(Arg::Null, |u| tokens(u.output_tokens)),
        m.stream_id.as_ref().map_or(Arg::Null, |s| id(s.as_uuid())),
        m.created_at.as_millis().into(),
    ]
}

#[async_trait]
impl UserStore for D1Store {
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let u = &user.user;
        let args = vec![
            id(u.id.as_uuid()),
            u.email.as_ref().map(Email::as_str).into(),
            u.name.as_ref().map(DisplayName::as_str).into(),
            u.kind.as_str().into(),
            user.password_hash.as_deref().into(),
            user.daily_message_limit.map(i64::from).into(),
            u.created_at.as_millis().into(),
        ];
        self.run(Query::new(sql::INSERT_USER, args)).await.map(drop)
    }

    async fn user_by_id(&self, uid: UserId) -> Result<Option<UserRecord>, StoreError> {
        let row = self.row(Query::new(sql::USER_BY_ID, vec![id(uid.as_uuid())])).await?;
        row.map(|r| model::user(&Row(&r))).transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let row = self
            .row(Query::new(sql::USER_BY_EMAIL, vec![email.as_str().into()]))
            .await?;
        row.map(|r| model::user(&Row(&r))).transpose()
    }

    async fn upgrade_guest(
        &self,
        uid: UserId,
        email: &Email,
        name: Option<&DisplayName>,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let args = vec![
            id(uid.as_uuid()),
            email.as_str().into(),
            name.map(DisplayName::as_str).into(),
            password_hash.into(),
        ];
        self.change_one(Query::new(sql::UPGRADE_GUEST, args)).await
    }
}

#[async_trait]
impl ChatStore for D1Store {
    async fn insert_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        let args = vec![
            id(chat.id.as_uuid()),
            id(chat.user_id.as_uuid()),
            chat.title.as_str().into(),
            chat.visibility.as_str().into(),
            chat.model.as_str().into(),
            chat.created_at.as_millis().into(),
            chat.updated_at.as_millis().into(),
        ];
        // Nothing inserted: the id was a deleted chat's.
        match self.run(Query::new(sql::INSERT_CHAT, args)).await? {
            0 => Err(StoreError::Conflict("chat")),
            _ => Ok(()),
        }
    }

    async fn chat(&self, cid: ChatId) -> Result<Option<Chat>, StoreError> {
        let row = self.row(Query::new(sql::CHAT_BY_ID, vec![id(cid.as_uuid())])).await?;
        row.map(|r| model::chat(&Row(&r))).transpose()
    }

    async fn update_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        let args = vec![
            id(chat.id.as_uuid()),
            chat.title.as_str().into(),
            chat.visibility.as_str().into(),
            chat.model.as_str().into(),
            chat.updated_at.as_millis().into(),
        ];
        self.change_one(Query::new(sql::UPDATE_CHAT, args)).await
    }

    async fn delete_chat(&self, cid: ChatId) -> Result<(), StoreError> {
        let outcomes = self
            .batch(vec![
                Query::new(sql::RETIRE_CHAT_ID, vec![id(cid.as_uuid())]),
                Query::new(sql::DELETE_CHAT, vec![id(cid.as_uuid())]),
            ])
            .await?;
        match outcomes.get(1).map(|o| o.changes) {
            Some(n) if n > 0 => Ok(()),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn discard_empty_chat(&self, cid: ChatId) -> Result<(), StoreError> {
        self.change_one(Query::new(sql::DISCARD_EMPTY_CHAT, vec![id(cid.as_uuid())]))
            .await
    }

    async fn count_chats(&self, owner: UserId) -> Result<u64, StoreError> {
        let row = self
            .row(Query::new(sql::COUNT_CHATS, vec![id(owner.as_uuid())]))
            .await?;
        row.map_or(Ok(0), |r| Row(&r).count(0, "COUNT(chats)"))
    }

    async fn list_chats(&self, query: &ChatListQuery) -> Result<Vec<Chat>, StoreError> {
        let owner = id(query.owner.as_uuid());
        let fetch = Arg::Int(i64::from(query.limit.get()) + 1);
        let pattern = query.search.as_ref().map(|s| sql::contains_pattern(s.as_str()));
        let q = match (query.after, pattern) {
            (None, None) => Query::new(sql::LIST_CHATS, vec![owner, fetch]),
            (Some(c), None) => Query::new(
                sql::LIST_CHATS_AFTER,
                vec![owner, fetch, c.at.as_millis().into(), id(&c.id)],
            ),
            (None, Some(p)) => Query::new(sql::SEARCH_CHATS, vec![owner, fetch, p.into()]),
            (Some(c), Some(p)) => Query::new(
                sql::SEARCH_CHATS_AFTER,
                vec![owner, fetch, c.at.as_millis().into(), id(&c.id), p.into()],
            ),
        };
        model::all(&self.rows(q).await?, model::chat)
    }
}

#[async_trait]
impl MessageStore for D1Store {
    async fn insert_message(&self, m: &Message) -> Result<(), StoreError> {
        let bump = vec![id(m.chat_id.as_uuid()), m.created_at.as_millis().into()];
        let outcomes = self
            .batch(vec![
                Query::new(sql::INSERT_MESSAGE, message_args(m)),
                Query::new(sql::BUMP_CHAT, bump),
            ])
            .await?;
        // The insert is guarded by the chat's existence: nothing changed means no chat.
        match outcomes.first() {
            Some(o) if o.changes > 0 => Ok(()),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn insert_turn(&self, turn: &Turn<'_>) -> Result<Option<u64>, StoreError> {
        let quota = turn.quota;
        if quota.limit == 0 {
            return Ok(None);
        }
        let user = id(quota.user.as_uuid());
        let day = Arg::Int(quota.day);
        let mark = id(turn.answer.id.as_uuid());
        let limit = Arg::Int(i64::try_from(quota.limit).unwrap_or(i64::MAX));
        let replaces = turn.replaces.map_or(Arg::Null, |r| id(r.as_uuid()));
        let guard = [user.clone(), day.clone(), mark.clone()];
        let mut batch = vec![Query::new(
            sql::COUNT_TURN,
            vec![user.clone(), day.clone(), limit, mark.clone(), replaces.clone()],
        )];
        if turn.replaces.is_some() {
            let mut args = vec![replaces];
            args.extend(guard.iter().cloned());
            batch.push(Query::new(sql::DELETE_FOR_TURN, args));
        }
        for m in turn.question.into_iter().chain([turn.answer]) {
            let mut args = message_args(m);
            args.extend(guard.iter().cloned());
            batch.push(Query::new(sql::INSERT_FOR_TURN, args));
            let mut bump = vec![id(m.chat_id.as_uuid()), m.created_at.as_millis().into()];
            bump.extend(guard.iter().cloned());
            batch.push(Query::new(sql::BUMP_CHAT_FOR_TURN, bump));
        }
        // A missing chat (foreign key) or a taken id (primary key) fails a statement, and the
        // whole batch, count included, rolls back: NotFound or Conflict("message").
        let outcomes = self.batch(batch).await?;
        let counted = outcomes
            .first()
            .and_then(|o| o.rows.first())
            .map(|row| {
                row.get("messages")
                    .and_then(serde_json::Value::as_u64)
                    .ok_or_else(|| corrupt("usage_daily.messages", "not a count"))
            })
            .transpose()?;
        if counted.is_none()
            && let Some(r) = turn.replaces
            && self.message(r).await?.is_none()
        {
            // COUNT_TURN also refuses when the message to replace is gone.
            return Err(StoreError::NotFound);
        }
        Ok(counted)
    }

    async fn update_message(&self, m: &Message) -> Result<(), StoreError> {
        let args = vec![
            id(m.id.as_uuid()),
            parts_to_json(&m.parts).into(),
            m.text().into(),
            m.status.as_str().into(),
            m.model.as_deref().into(),
            m.usage.map_or(Arg::Null, |u| tokens(u.input_tokens)),
            m.usage.map_or(Arg::Null, |u| tokens(u.output_tokens)),
        ];
        self.change_one(Query::new(sql::UPDATE_MESSAGE, args)).await
    }

    async fn message(&self, mid: MessageId) -> Result<Option<Message>, StoreError> {
        let row = self
            .row(Query::new(sql::MESSAGE_BY_ID, vec![id(mid.as_uuid())]))
            .await?;
        row.map(|r| model::message(&Row(&r))).transpose()
    }

    async fn list_messages(&self, query: &MessageListQuery) -> Result<Vec<Message>, StoreError> {
        let chat = id(query.chat_id.as_uuid());
        let fetch = Arg::Int(i64::from(query.limit.get()) + 1);
        let q = match query.before {
            None => Query::new(sql::LIST_MESSAGES, vec![chat, fetch]),
            Some(c) => Query::new(
                sql::LIST_MESSAGES_BEFORE,
                vec![chat, fetch, c.at.as_millis().into(), id(&c.id)],
            ),
        };
        model::all(&self.rows(q).await?, model::message)
    }

    async fn context(&self, chat_id: ChatId, limit: Limit) -> Result<Vec<(Role, String)>, StoreError> {
        let args = vec![id(chat_id.as_uuid()), Arg::Int(i64::from(limit.get()))];
        let rows = self.rows(Query::new(sql::CONTEXT_MESSAGES, args)).await?;
        let mut newest_first = model::all(&rows, |row| {
            let role = row.text(0, "messages.role")?;
            let role = Role::parse(role).ok_or_else(|| corrupt("messages.role", role))?;
            Ok((role, row.text(1, "messages.text")?.to_owned()))
        })?;
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn delete_message(&self, mid: MessageId) -> Result<(), StoreError> {
        self.change_one(Query::new(sql::DELETE_MESSAGE, vec![id(mid.as_uuid())]))
            .await
    }

    async fn delete_messages_after(&self, chat_id: ChatId, after: Cursor) -> Result<u64, StoreError> {
        let args = vec![id(chat_id.as_uuid()), after.at.as_millis().into(), id(&after.id)];
        let deleted = self.run(Query::new(sql::DELETE_MESSAGES_AFTER, args)).await?;
        Ok(deleted as u64)
    }

    async fn streaming_messages(&self) -> Result<Vec<Message>, StoreError> {
        let rows = self.rows(Query::new(sql::STREAMING_MESSAGES, Vec::new())).await?;
        model::all(&rows, model::message)
    }

    async fn upsert_vote(&self, vote: &Vote) -> Result<(), StoreError> {
        let args = vec![
            id(vote.message_id.as_uuid()),
            id(vote.user_id.as_uuid()),
            id(vote.chat_id.as_uuid()),
            vote.kind.as_str().into(),
            vote.updated_at.as_millis().into(),
        ];
        self.change_one(Query::new(sql::UPSERT_VOTE, args)).await
    }

    async fn votes(&self, chat_id: ChatId) -> Result<Vec<Vote>, StoreError> {
        let rows = self
            .rows(Query::new(sql::VOTES_BY_CHAT, vec![id(chat_id.as_uuid())]))
            .await?;
        model::all(&rows, model::vote)
    }
}

#[async_trait]
impl UsageStore for D1Store {
    async fn count_message(&self, user: UserId, day: i64, limit: u64) -> Result<Option<u64>, StoreError> {
        if limit == 0 {
            return Ok(None);
        }
        let limit = Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX));
        let row = self
            .row(Query::new(
                sql::COUNT_MESSAGE,
                vec![id(user.as_uuid()), Arg::Int(day), limit],
            ))
            .await?;
        row.map(|r| Row(&r).count(0, "usage_daily.messages")).transpose()
    }

    async fn add_tokens(&self, user: UserId, day: i64, usage: Usage) -> Result<(), StoreError> {
        let args = vec![
            id(user.as_uuid()),
            Arg::Int(day),
            tokens(usage.input_tokens),
            tokens(usage.output_tokens),
        ];
        self.run(Query::new(sql::ADD_TOKENS, args)).await.map(drop)
    }

    async fn daily_usage(&self, user: UserId, day: i64) -> Result<DailyUsage, StoreError> {
        let row = self
            .row(Query::new(sql::DAILY_USAGE, vec![id(user.as_uuid()), Arg::Int(day)]))
            .await?;
        let Some(row) = row else {
            return Ok(DailyUsage::default());
        };
        let row = Row(&row);
        Ok(DailyUsage {
            messages: row.count(0, "usage_daily.messages")?,
            input_tokens: row.count(1, "usage_daily.input_tokens")?,
            output_tokens: row.count(2, "usage_daily.output_tokens")?,
        })
    }
}
