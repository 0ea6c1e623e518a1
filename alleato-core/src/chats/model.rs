use crate::id::{ChatId, UserId};
use crate::page::{Cursor, Limit};
use crate::time::Timestamp;

/// A chat title: 1–200 characters once trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTitle(String);

impl ChatTitle {
    /// Most characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims and checks a title.
    ///
    /// # Errors
    /// When it is empty, too long or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        // Invisible characters are dropped: zero-width spaces and bidi controls would make a title
        // read as another (or reorder the text shown after it).
        let t = crate::validation::strip_invisible(raw);
        let t = t.trim();
        if t.is_empty() {
            return Err("must not be empty");
        }
        if t.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 200 characters");
        }
        if t.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(t.to_owned()))
    }

    /// The title a chat gets when none is given.
    pub fn default_title() -> Self {
        Self("New chat".to_owned())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who may read a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Its owner only.
    #[default]
    Private,
    /// Anyone, signed in or not; only the owner may change it.
    Public,
}

impl Visibility {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
        }
    }

    /// Reads `"private"` or `"public"`.
    ///
    /// # Errors
    /// For any other text.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match s {
            "private" => Ok(Self::Private),
            "public" => Ok(Self::Public),
            _ => Err("must be \"private\" or \"public\""),
        }
    }
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// Id.
    pub id: ChatId,
    /// Owner.
    pub user_id: UserId,
    /// Title.
    pub title: ChatTitle,
    /// Visibility.
    pub visibility: Visibility,
    /// The model its answers come from (an id of the catalog when it was set).
    pub model: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change to the chat or its messages.
    pub updated_at: Timestamp,
}

/// A search text for chat lists: 1–200 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// Trims and checks a search.
    ///
    /// # Errors
    /// When it is empty or longer than 200 characters.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let t = raw.trim();
        if t.is_empty() {
            return Err("must not be empty");
        }
        if t.chars().count() > 200 {
            return Err("must be at most 200 characters");
        }
        Ok(Self(t.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `haystack` contains this text, ignoring ASCII case (the rule SQLite's `LIKE`
    /// follows, which every adapter must match).
    pub fn matches(&self, haystack: &str) -> bool {
        haystack.to_ascii_lowercase().contains(&self.0.to_ascii_lowercase())
    }
}

/// What a chat list asks storage for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatListQuery {
    /// Whose chats.
    pub owner: UserId,
    /// At most this many plus one (the extra one tells that a next page exists).
    pub limit: Limit,
    /// Only chats after this position in (updated_at desc, id desc) order.
    pub after: Option<Cursor>,
    /// Only chats whose title or messages contain this text.
    pub search: Option<SearchText>,
}
