//! Reading D1 rows (arrays of JSON values, columns in `alleato_sql`'s order) as domain values.

use alleato_core::auth::{DisplayName, Email, User, UserKind, UserRecord};
use alleato_core::chats::{Chat, ChatTitle, Visibility};
use alleato_core::id::{ChatId, MessageId, StreamId, UserId};
use alleato_core::llm::Usage;
use alleato_core::messages::{Message, MessageStatus, Role, Vote, VoteKind, parts_from_json};
use alleato_core::store::StoreError;
use alleato_core::time::Timestamp;
use serde_json::Value;
use uuid::Uuid;

use super::corrupt;

/// One row: its columns in the statement's order.
pub(crate) struct Row<'a>(pub(crate) &'a [Value]);

impl<'a> Row<'a> {
    fn value(&self, i: usize, column: &str) -> Result<&'a Value, StoreError> {
        self.0.get(i).ok_or_else(|| corrupt(column, "missing column"))
    }

    pub(crate) fn text(&self, i: usize, column: &str) -> Result<&'a str, StoreError> {
        self.value(i, column)?
            .as_str()
            .ok_or_else(|| corrupt(column, "not text"))
    }

    pub(crate) fn optional_text(&self, i: usize, column: &str) -> Result<Option<&'a str>, StoreError> {
        match self.value(i, column)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(corrupt(column, "not text")),
        }
    }

    pub(crate) fn integer(&self, i: usize, column: &str) -> Result<i64, StoreError> {
        self.value(i, column)?
            .as_i64()
            .ok_or_else(|| corrupt(column, "not an integer"))
    }

    pub(crate) fn optional_integer(&self, i: usize, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(i, column)? {
            Value::Null => Ok(None),
            _ => self.integer(i, column).map(Some),
        }
    }

    /// A count that must not be negative.
    pub(crate) fn count(&self, i: usize, column: &str) -> Result<u64, StoreError> {
        u64::try_from(self.integer(i, column)?).map_err(|e| corrupt(column, e))
    }

    pub(crate) fn uuid(&self, i: usize, column: &str) -> Result<Uuid, StoreError> {
        Uuid::try_parse(self.text(i, column)?).map_err(|e| corrupt(column, e))
    }
}

/// Reads a row of `users` columns.
pub(crate) fn user(row: &Row<'_>) -> Result<UserRecord, StoreError> {
    let email = row
        .optional_text(1, "users.email")?
        .map(Email::parse)
        .transpose()
        .map_err(|e| corrupt("users.email", e))?;
    let name = row
        .optional_text(2, "users.name")?
        .map(DisplayName::parse)
        .transpose()
        .map_err(|e| corrupt("users.name", e))?;
    let kind = row.text(3, "users.kind")?;
    let kind = UserKind::parse(kind).ok_or_else(|| corrupt("users.kind", format_args!("unknown kind {kind:?}")))?;
    let limit = row
        .optional_integer(5, "users.daily_message_limit")?
        .map(u32::try_from)
        .transpose()
        .map_err(|e| corrupt("users.daily_message_limit", e))?;
    Ok(UserRecord {
        user: User {
            id: UserId::from_uuid(row.uuid(0, "users.id")?),
            email,
            name,
            kind,
            created_at: Timestamp::from_millis(row.integer(6, "users.created_at")?),
        },
        password_hash: row.optional_text(4, "users.password_hash")?.map(str::to_owned),
        daily_message_limit: limit,
    })
}

/// Reads a row of `chats` columns.
pub(crate) fn chat(row: &Row<'_>) -> Result<Chat, StoreError> {
    Ok(Chat {
        id: ChatId::from_uuid(row.uuid(0, "chats.id")?),
        user_id: UserId::from_uuid(row.uuid(1, "chats.user_id")?),
        title: ChatTitle::parse(row.text(2, "chats.title")?).map_err(|e| corrupt("chats.title", e))?,
        visibility: Visibility::parse(row.text(3, "chats.visibility")?).map_err(|e| corrupt("chats.visibility", e))?,
        model: row.text(4, "chats.model")?.to_owned(),
        created_at: Timestamp::from_millis(row.integer(5, "chats.created_at")?),
        updated_at: Timestamp::from_millis(row.integer(6, "chats.updated_at")?),
    })
}

/// Reads a row of `messages` columns.
pub(crate) fn message(row: &Row<'_>) -> Result<Message, StoreError> {
    let role = row.text(2, "messages.role")?;
    let role = Role::parse(role).ok_or_else(|| corrupt("messages.role", format_args!("unknown role {role:?}")))?;
    let status = row.text(4, "messages.status")?;
    let status = MessageStatus::parse(status)
        .ok_or_else(|| corrupt("messages.status", format_args!("unknown status {status:?}")))?;
    let count = |i, column| -> Result<Option<u64>, StoreError> {
        row.optional_integer(i, column)?
            .map(u64::try_from)
            .transpose()
            .map_err(|e| corrupt(column, e))
    };
    let usage = match (count(6, "messages.input_tokens")?, count(7, "messages.output_tokens")?) {
        (Some(input_tokens), Some(output_tokens)) => Some(Usage {
            input_tokens,
            output_tokens,
        }),
        (None, None) => None,
        _ => return Err(corrupt("messages.input_tokens", "only one of the token counts is set")),
    };
    let stream_id = row
        .optional_text(8, "messages.stream_id")?
        .map(|s| Uuid::try_parse(s).map(StreamId::from_uuid))
        .transpose()
        .map_err(|e| corrupt("messages.stream_id", e))?;
    Ok(Message {
        id: MessageId::from_uuid(row.uuid(0, "messages.id")?),
        chat_id: ChatId::from_uuid(row.uuid(1, "messages.chat_id")?),
        role,
        parts: parts_from_json(row.text(3, "messages.parts")?).map_err(|e| corrupt("messages.parts", e))?,
        status,
        model: row.optional_text(5, "messages.model")?.map(str::to_owned),
        usage,
        stream_id,
        created_at: Timestamp::from_millis(row.integer(9, "messages.created_at")?),
    })
}

/// Reads a row of `alleato_sql::VOTES_BY_CHAT`.
pub(crate) fn vote(row: &Row<'_>) -> Result<Vote, StoreError> {
    Ok(Vote {
        message_id: MessageId::from_uuid(row.uuid(0, "votes.message_id")?),
        user_id: UserId::from_uuid(row.uuid(1, "votes.user_id")?),
        chat_id: ChatId::from_uuid(row.uuid(2, "votes.chat_id")?),
        kind: VoteKind::parse(row.text(3, "votes.kind")?).map_err(|e| corrupt("votes.kind", e))?,
        updated_at: Timestamp::from_millis(row.integer(4, "votes.updated_at")?),
    })
}

/// Reads every row with `read`.
pub(crate) fn all<T>(
    rows: &[Vec<Value>],
    read: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|r| read(&Row(r))).collect()
}
