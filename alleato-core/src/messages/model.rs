use crate::id::{ChatId, MessageId, StreamId, UserId};
use crate::llm::Usage;
use crate::page::{Cursor, Limit};
use crate::time::Timestamp;
use crate::validation::FieldError;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
    /// Instructions.
    System,
}

impl Role {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
        }
    }

    /// Reads a role name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

/// One part of a message, as in the AI SDK's `UIMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A file the message refers to.
    File {
        /// Its media type (`image/png`).
        media_type: String,
        /// Where to fetch it (`/api/v1/files/…/download`).
        url: String,
        /// Its name, when known.
        filename: Option<String>,
    },
}

impl Part {
    /// Most characters in one text part.
    pub const MAX_TEXT_CHARS: usize = 32_000;
    /// Most parts in one message.
    pub const MAX_PARTS: usize = 20;
}

/// Checks a user message's parts: 1–20 parts, text parts of 1–32,000 characters, file parts
/// with a media type and a URL of sensible length.
///
/// # Errors
/// Every invalid part, named `parts[i]`.
pub fn parse_user_parts(parts: Vec<Part>) -> Result<Vec<Part>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if parts.is_empty() {
        errors.push(FieldError::new("parts", "must contain at least one part"));
    }
    if parts.len() > Part::MAX_PARTS {
        errors.push(FieldError::new("parts", "must contain at most 20 parts"));
    }
    for (i, p) in parts.iter().enumerate() {
        match p {
            Part::Text { text } => {
                let n = text.chars().count();
                if text.trim().is_empty() {
                    errors.push(FieldError::new(format!("parts[{i}].text"), "must not be empty"));
                } else if n > Part::MAX_TEXT_CHARS {
                    errors.push(FieldError::new(
                        format!("parts[{i}].text"),
                        "must be at most 32000 characters",
                    ));
                }
            }
            Part::File {
                media_type,
                url,
                filename,
            } => {
                if media_type.is_empty() || media_type.len() > 255 || !media_type.contains('/') {
                    errors.push(FieldError::new(format!("parts[{i}].mediaType"), "must be a media type"));
                }
                if url.is_empty() || url.len() > 2048 {
                    errors.push(FieldError::new(
                        format!("parts[{i}].url"),
                        "must be a URL of at most 2048 characters",
                    ));
                }
                if filename.as_ref().is_some_and(|f| f.chars().count() > 255) {
                    errors.push(FieldError::new(
                        format!("parts[{i}].filename"),
                        "must be at most 255 characters",
                    ));
                }
            }
        }
    }
    if !parts.iter().any(|p| matches!(p, Part::Text { .. })) && errors.is_empty() {
        errors.push(FieldError::new("parts", "must contain a text part"));
    }
    if errors.is_empty() { Ok(parts) } else { Err(errors) }
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// Whole.
    Complete,
    /// Being generated now.
    Streaming,
    /// Generation was stopped; the text so far is kept.
    Stopped,
    /// Generation failed; the text so far is kept.
    Error,
}

impl MessageStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Streaming => "streaming",
            Self::Stopped => "stopped",
            Self::Error => "error",
        }
    }

    /// Reads a status name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "complete" => Some(Self::Complete),
            "streaming" => Some(Self::Streaming),
            "stopped" => Some(Self::Stopped),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// A message of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Id (UUID v7: sorts by creation).
    pub id: MessageId,
    /// Its chat.
    pub chat_id: ChatId,
    /// Author.
    pub role: Role,
    /// Content.
    pub parts: Vec<Part>,
    /// Where it stands.
    pub status: MessageStatus,
    /// The model that wrote it (assistant messages).
    pub model: Option<String>,
    /// Tokens it cost (assistant messages).
    pub usage: Option<Usage>,
    /// The stream its generation is logged in (assistant messages).
    pub stream_id: Option<StreamId>,
    /// Creation time.
    pub created_at: Timestamp,
}

impl Message {
    /// Its text parts joined: what the model and the search see.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            if let Part::Text { text } = p {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(text);
            }
        }
        out
    }

    /// Its position in a chat's (created_at, id) order.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: *self.id.as_uuid(),
        }
    }
}

/// What a message list asks storage for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageListQuery {
    /// The chat.
    pub chat_id: ChatId,
    /// At most this many plus one.
    pub limit: Limit,
    /// Only messages before this position (older), newest first.
    pub before: Option<Cursor>,
}

/// A vote's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteKind {
    /// Good answer.
    Up,
    /// Bad answer.
    Down,
}

impl VoteKind {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    /// Reads `up` or `down`.
    ///
    /// # Errors
    /// For any other text.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match s {
            "up" => Ok(Self::Up),
            "down" => Ok(Self::Down),
            _ => Err("must be \"up\" or \"down\""),
        }
    }
}

/// A user's vote on an assistant message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// The chat.
    pub chat_id: ChatId,
    /// The message.
    pub message_id: MessageId,
    /// Who voted.
    pub user_id: UserId,
    /// Up or down.
    pub kind: VoteKind,
    /// When it was last cast.
    pub updated_at: Timestamp,
}

/// A user's use of the service on one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DailyUsage {
    /// Messages sent (generations started).
    pub messages: u64,
    /// Tokens read by the model.
    pub input_tokens: u64,
    /// Tokens written by the model.
    pub output_tokens: u64,
}

/// The stored form of parts: the AI SDK's UIMessage parts as a JSON array, the same on every
/// database.
pub fn parts_to_json(parts: &[Part]) -> String {
    let values: Vec<serde_json::Value> = parts
        .iter()
        .map(|p| match p {
            Part::Text { text } => serde_json::json!({ "type": "text", "text": text }),
            Part::File {
                media_type,
                url,
                filename,
            } => {
                let mut v = serde_json::json!({ "type": "file", "mediaType": media_type, "url": url });
                if let Some(f) = filename {
                    v["filename"] = serde_json::Value::String(f.clone());
                }
                v
            }
        })
        .collect();
    serde_json::Value::Array(values).to_string()
}

/// Reads parts stored by [`parts_to_json`].
///
/// # Errors
/// When the text is not such an array.
pub fn parts_from_json(json: &str) -> Result<Vec<Part>, String> {
    let values: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    values
        .into_iter()
        .map(|v| {
            let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
            match v.get("type").and_then(serde_json::Value::as_str) {
                Some("text") => Ok(Part::Text {
                    text: s("text").ok_or("text part without text")?,
                }),
                Some("file") => Ok(Part::File {
                    media_type: s("mediaType").ok_or("file part without mediaType")?,
                    url: s("url").ok_or("file part without url")?,
                    filename: s("filename"),
                }),
                _ => Err("unknown part type".to_owned()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_through_json() {
        let parts = vec![
            Part::Text {
                text: "héllo \"quoted\" 🚀".into(),
            },
            Part::File {
                media_type: "image/png".into(),
                url: "/api/v1/files/x/download".into(),
                filename: None,
            },
            Part::File {
                media_type: "text/plain".into(),
                url: "/u".into(),
                filename: Some("a.txt".into()),
            },
        ];
        assert_eq!(parts_from_json(&parts_to_json(&parts)).unwrap(), parts);
        assert!(parts_from_json("[{\"type\":\"nope\"}]").is_err());
        assert!(parts_from_json("not json").is_err());
    }

    #[test]
    fn user_parts_are_checked() {
        assert!(parse_user_parts(vec![]).is_err());
        assert!(parse_user_parts(vec![Part::Text { text: "  ".into() }]).is_err());
        assert!(
            parse_user_parts(vec![Part::Text {
                text: "x".repeat(32_001)
            }])
            .is_err()
        );
        assert!(
            parse_user_parts(vec![Part::Text {
                text: "x".repeat(32_000)
            }])
            .is_ok()
        );
        let file = Part::File {
            media_type: "image/png".into(),
            url: "/f".into(),
            filename: None,
        };
        assert!(parse_user_parts(vec![file.clone()]).is_err(), "a text part is required");
        assert!(parse_user_parts(vec![file, Part::Text { text: "look".into() }]).is_ok());
    }
}

/// A daily message quota to charge: one message more for `user` on `day` (days since the epoch,
/// UTC), unless the count has reached `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaCharge {
    /// Whose count.
    pub user: UserId,
    /// Which day.
    pub day: i64,
    /// The count the charge may not pass.
    pub limit: u64,
}

/// The writes of one send, made together by [`MessageStore::insert_turn`](super::MessageStore::insert_turn).
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// The message counted against the user's daily quota.
    pub quota: QuotaCharge,
    /// The user's new message; absent when an answer is regenerated.
    pub question: Option<&'a Message>,
    /// The answer this one replaces (when regenerating), deleted with its votes.
    pub replaces: Option<MessageId>,
    /// The new answer, stored as it is (`streaming`).
    pub answer: &'a Message,
}
