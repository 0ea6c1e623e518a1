#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod generations;

pub use generations::*;

/// The columns of `users`, in the order the store reads them.
macro_rules! user_columns {
    () => {
        "id, email, name, kind, password_hash, daily_message_limit, created_at"
    };
}

/// The columns of `chats`, in the order the store reads them.
macro_rules! chat_columns {
    () => {
        "id, user_id, title, visibility, model, created_at, updated_at"
    };
}

// ---- migrations -------------------------------------------------------------------------------

/// Wrangler's D1 migrations ledger, byte for byte, so one database can be migrated by either.
pub const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS d1_migrations(\
id INTEGER PRIMARY KEY AUTOINCREMENT, \
name TEXT UNIQUE, \
applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)";

/// `?1` name → 1 when that migration is recorded, else 0.
pub const MIGRATION_APPLIED: &str = "SELECT EXISTS (SELECT 1 FROM d1_migrations WHERE name = ?1)";

/// Every recorded migration name, oldest first.
pub const APPLIED_MIGRATIONS: &str = "SELECT name FROM d1_migrations ORDER BY id";

/// `?1` name: records a migration as applied.
pub const RECORD_MIGRATION: &str = "INSERT INTO d1_migrations (name) VALUES (?1)";

// ---- users ------------------------------------------------------------------------------------

/// `?1` id, `?2` email, `?3` name, `?4` kind, `?5` password hash, `?6` daily limit,
/// `?7` created at.
pub const INSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
);

/// `?1` id.
pub const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?1");

/// `?1` normalised email.
pub const USER_BY_EMAIL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE email = ?1");

/// `?1` id, `?2` email, `?3` name, `?4` password hash. Checking "is a guest" and changing it
/// is one statement (D1 has no interactive transactions): 0 rows changed means no such guest.
pub const UPGRADE_GUEST: &str = "UPDATE users \
SET kind = 'regular', email = ?2, name = ?3, password_hash = ?4 \
WHERE id = ?1 AND kind = 'guest'";

// ---- chats ------------------------------------------------------------------------------------

/// `?1` id, `?2` owner, `?3` title, `?4` visibility, `?5` model, `?6` created at,
/// `?7` updated at. A taken id fails on the primary key; a retired id (a deleted chat's)
/// inserts nothing: 0 rows changed.
pub const INSERT_CHAT: &str = concat!(
    "INSERT INTO chats (",
    chat_columns!(),
    ") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE NOT EXISTS (SELECT 1 FROM retired_chat_ids WHERE id = ?1)"
);

/// `?1` id.
pub const CHAT_BY_ID: &str = concat!("SELECT ", chat_columns!(), " FROM chats WHERE id = ?1");

/// `?1` id, `?2` title, `?3` visibility, `?4` model, `?5` updated at.
pub const UPDATE_CHAT: &str = "UPDATE chats SET title = ?2, visibility = ?3, model = ?4, updated_at = ?5 WHERE id = ?1";

/// `?1` id. What a chat owns goes with it through `ON DELETE CASCADE`. Runs after
/// [`RETIRE_CHAT_ID`], in the same batch.
pub const DELETE_CHAT: &str = "DELETE FROM chats WHERE id = ?1";

/// `?1` id: records an existing chat's id as never to be used again (before [`DELETE_CHAT`]).
pub const RETIRE_CHAT_ID: &str = "INSERT OR IGNORE INTO retired_chat_ids (id) SELECT id FROM chats WHERE id = ?1";

/// `?1` id: removes a chat that has no message, leaving its id free (a chat created for a
/// first send that was refused). 0 rows changed when it does not exist or has messages.
pub const DISCARD_EMPTY_CHAT: &str =
    "DELETE FROM chats WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM messages WHERE chat_id = ?1)";

// The four chat-list shapes are separate statements rather than one with optional parameters
// (`?3 IS NULL OR …`), so that the planner turns each cursor into a range of the
// `chats_by_owner_recency` index instead of a scan.

/// `?1` owner → how many chats they have (a range of `chats_by_owner_recency`).
pub const COUNT_CHATS: &str = "SELECT COUNT(*) AS n FROM chats WHERE user_id = ?1";

/// `?1` owner, `?2` limit.
pub const LIST_CHATS: &str = concat!(
    "SELECT ",
    chat_columns!(),
    " FROM chats WHERE user_id = ?1",
    " ORDER BY updated_at DESC, id DESC LIMIT ?2"
);

/// `?1` owner, `?2` limit, `?3` cursor time, `?4` cursor id.
pub const LIST_CHATS_AFTER: &str = concat!(
    "SELECT ",
    chat_columns!(),
    " FROM chats WHERE user_id = ?1 AND (updated_at, id) < (?3, ?4)",
    " ORDER BY updated_at DESC, id DESC LIMIT ?2"
);

// A search matches the title or the text of any of the chat's messages (each message's
// probe is a range of `messages_by_chat`).

/// `?1` owner, `?2` limit, `?3` `LIKE` pattern escaped with `\`.
pub const SEARCH_CHATS: &str = concat!(
    "SELECT ",
    chat_columns!(),
    " FROM chats c WHERE user_id = ?1",
    " AND (title LIKE ?3 ESCAPE '\\'",
    " OR EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.text LIKE ?3 ESCAPE '\\'))",
    " ORDER BY updated_at DESC, id DESC LIMIT ?2"
);

/// `?1` owner, `?2` limit, `?3` cursor time, `?4` cursor id, `?5` `LIKE` pattern escaped
/// with `\`.
pub const SEARCH_CHATS_AFTER: &str = concat!(
    "SELECT ",
    chat_columns!(),
    " FROM chats c WHERE user_id = ?1 AND (updated_at, id) < (?3, ?4)",
    " AND (title LIKE ?5 ESCAPE '\\'",
    " OR EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.text LIKE ?5 ESCAPE '\\'))",
    " ORDER BY updated_at DESC, id DESC LIMIT ?2"
);

// ---- streams ----------------------------------------------------------------------------------

/// The columns of `streams` the hub reads, in order.
macro_rules! stream_columns {
    () => {
        "id, user_id, chat_id, status, created_at"
    };
}

/// `?1` id, `?2` owner, `?3` chat or NULL, `?4` created at. Streams start open.
pub const INSERT_STREAM: &str =
    "INSERT INTO streams (id, user_id, chat_id, status, created_at) VALUES (?1, ?2, ?3, 'open', ?4)";

/// `?1` id.
pub const STREAM_BY_ID: &str = concat!("SELECT ", stream_columns!(), " FROM streams WHERE id = ?1");

/// `?1` id → its status and the sequence number its next event gets.
pub const STREAM_STATE: &str = "SELECT status, \
(SELECT COALESCE(MAX(seq) + 1, 0) FROM stream_events WHERE stream_id = ?1) \
FROM streams WHERE id = ?1";

/// Streams still open: at start-up, those a crash left open.
pub const OPEN_STREAMS: &str = concat!(
    "SELECT ",
    stream_columns!(),
    " FROM streams WHERE status = 'open' ORDER BY created_at, id"
);

/// `?1` id, `?2` closed at. 0 rows changed: no such open stream.
pub const CLOSE_STREAM: &str = "UPDATE streams SET status = 'closed', closed_at = ?2 WHERE id = ?1 AND status = 'open'";

/// `?1` id. Its events go with it through `ON DELETE CASCADE`.
pub const DELETE_STREAM: &str = "DELETE FROM streams WHERE id = ?1";

/// `?1` stream, `?2` sequence number, `?3` data.
pub const INSERT_STREAM_EVENT: &str = "INSERT INTO stream_events (stream_id, seq, data) VALUES (?1, ?2, ?3)";

/// `?1` stream, `?2` the sequence number to start after (-1 for all).
pub const STREAM_EVENTS_AFTER: &str =
    "SELECT seq, data FROM stream_events WHERE stream_id = ?1 AND seq > ?2 ORDER BY seq";

/// `?1` stream, `?2` data: appends one event at the next sequence number, computed by the
/// statement itself, when the stream is open; returns that number (no row: the stream is closed
/// or absent). For D1, where the hub has no writer of its own to number events.
pub const APPEND_STREAM_EVENT: &str = "INSERT INTO stream_events (stream_id, seq, data) \
SELECT ?1, (SELECT COALESCE(MAX(seq) + 1, 0) FROM stream_events WHERE stream_id = ?1), ?2 \
WHERE EXISTS (SELECT 1 FROM streams WHERE id = ?1 AND status = 'open') RETURNING seq";

/// `?1` stream, `?2` events, `?3` their bytes: grows the stream's recorded size when it is open.
/// The first statement of an append's batch, so that the size and the events commit together.
pub const GROW_STREAM: &str =
    "UPDATE streams SET events = events + ?2, bytes = bytes + ?3 WHERE id = ?1 AND status = 'open'";

/// `?1` owner, `?2` a stream or NULL → how many of the owner's streams are open, the bytes of all
/// their events, and the events and bytes of stream `?2` (0 when it is not the owner's).
pub const STREAM_USAGE: &str = "SELECT COALESCE(SUM(status = 'open'), 0) AS open_streams, \
COALESCE(SUM(bytes), 0) AS bytes, \
COALESCE(SUM(CASE WHEN id = ?2 THEN events ELSE 0 END), 0) AS stream_events, \
COALESCE(SUM(CASE WHEN id = ?2 THEN bytes ELSE 0 END), 0) AS stream_bytes \
FROM streams WHERE user_id = ?1";

/// `?1` chat: deletes the chat's streams (and their events).
pub const DELETE_CHAT_STREAMS: &str = "DELETE FROM streams WHERE chat_id = ?1";

/// `?1` cut-off time, `?2` how many at most: deletes closed streams (and their events)
/// closed at or before the cut-off. Run repeatedly until fewer than `?2` go, so that one purge
/// never holds the write lock for long.
pub const PURGE_CLOSED_STREAMS: &str = "DELETE FROM streams WHERE id IN \
(SELECT id FROM streams WHERE status = 'closed' AND closed_at <= ?1 LIMIT ?2)";

// ---- cache ------------------------------------------------------------------------------------

/// `?1` key, `?2` now → the value, unless absent or expired (`expires_at <= ?2`).
pub const CACHE_GET: &str = "SELECT value FROM kv_cache WHERE key = ?1 AND expires_at > ?2";

/// `?1` key, `?2` value, `?3` expires at: inserts or replaces the entry.
pub const CACHE_PUT: &str = "INSERT INTO kv_cache (key, value, expires_at) VALUES (?1, ?2, ?3) \
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

/// `?1` key.
pub const CACHE_DELETE: &str = "DELETE FROM kv_cache WHERE key = ?1";

/// `?1` now, `?2` how many at most: deletes entries expired at `?1`. Run repeatedly until fewer
/// than `?2` go, so that one purge never holds the write lock for long.
pub const PURGE_EXPIRED_CACHE: &str = "DELETE FROM kv_cache WHERE key IN \
(SELECT key FROM kv_cache WHERE expires_at <= ?1 LIMIT ?2)";

// ---- sessions ---------------------------------------------------------------------------------

/// `?1` id, `?2` user id, `?3` refresh hash, `?4` expires at.
pub const INSERT_SESSION: &str = "INSERT INTO sessions (id, user_id, refresh_hash, expires_at) VALUES (?1, ?2, ?3, ?4)";

/// `?1` id, `?2` now → user id, refresh hash, expires at; unless absent or ended (`expires_at
/// <= ?2`).
pub const SESSION_BY_ID: &str =
    "SELECT user_id, refresh_hash, expires_at FROM sessions WHERE id = ?1 AND expires_at > ?2";

// A rotation is the batch SPEND_REFRESH, ROTATE_REFRESH, TRIM_SPENT_REFRESH, in that order (one
// transaction; on D1 one `batch()`). The first two carry the same guard, so they both change
// a row or neither does; the rotation happened when ROTATE_REFRESH changed one row.

/// `?1` id, `?2` presented hash, `?3` now, `?4` sealed successor: remembers the presented hash
/// as spent, with its successor, if it is the live session's current one.
pub const SPEND_REFRESH: &str = "INSERT INTO spent_refresh_tokens (session_id, hash, spent_at, successor) \
SELECT id, refresh_hash, ?3, ?4 FROM sessions WHERE id = ?1 AND refresh_hash = ?2 AND expires_at > ?3 \
ON CONFLICT (session_id, hash) DO NOTHING";

/// `?1` id, `?2` presented hash, `?3` next hash, `?4` new end, `?5` now: the compare-and-swap.
pub const ROTATE_REFRESH: &str = "UPDATE sessions SET refresh_hash = ?3, expires_at = ?4 \
WHERE id = ?1 AND refresh_hash = ?2 AND expires_at > ?5";

/// `?1` id, `?2` how many to keep: forgets all but the latest spent hashes of the session.
pub const TRIM_SPENT_REFRESH: &str = "DELETE FROM spent_refresh_tokens WHERE session_id = ?1 \
AND hash NOT IN (SELECT hash FROM spent_refresh_tokens WHERE session_id = ?1 \
ORDER BY spent_at DESC, hash DESC LIMIT ?2)";

/// `?1` id, `?2` hash → a row when the hash is a spent refresh hash of the session.
pub const IS_SPENT_REFRESH: &str = "SELECT 1 FROM spent_refresh_tokens WHERE session_id = ?1 AND hash = ?2";

/// `?1` id, `?2` hash, `?3` since → the sealed successor of a hash of the session spent at or
/// after `?3`.
pub const SPENT_REFRESH_SUCCESSOR: &str = "SELECT successor FROM spent_refresh_tokens \
WHERE session_id = ?1 AND hash = ?2 AND spent_at >= ?3 AND successor IS NOT NULL";

/// `?1` id: deletes the session (its spent hashes go with it).
pub const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id = ?1";

/// `?1` user id: deletes every session of the user.
pub const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = ?1";

/// `?1` now, `?2` how many at most: deletes sessions ended at `?1`. Run repeatedly until fewer
/// than `?2` go, so that one purge never holds the write lock for long.
pub const PURGE_ENDED_SESSIONS: &str = "DELETE FROM sessions WHERE id IN \
(SELECT id FROM sessions WHERE expires_at <= ?1 LIMIT ?2)";

// ---- messages ---------------------------------------------------------------------------------

/// The columns of `messages` the store reads, in order (`text` is derived from `parts`).
macro_rules! message_columns {
    () => {
        "id, chat_id, role, parts, status, model, input_tokens, output_tokens, stream_id, created_at"
    };
}

/// `?1` id, `?2` chat, `?3` role, `?4` parts JSON, `?5` text, `?6` status, `?7` model,
/// `?8` input tokens, `?9` output tokens, `?10` stream, `?11` created at. Inserts nothing
/// (0 rows) when the chat does not exist; D1 runs it in one batch with [`BUMP_CHAT`].
pub const INSERT_MESSAGE: &str = "INSERT INTO messages \
(id, chat_id, role, parts, text, status, model, input_tokens, output_tokens, stream_id, created_at) \
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
WHERE EXISTS (SELECT 1 FROM chats WHERE id = ?2)";

/// `?1` chat, `?2` a message's time: moves the chat's `updated_at` up to it, never back.
pub const BUMP_CHAT: &str = "UPDATE chats SET updated_at = MAX(updated_at, ?2) WHERE id = ?1";

/// `?1` id, `?2` parts JSON, `?3` text, `?4` status, `?5` model, `?6` input tokens,
/// `?7` output tokens. 0 rows changed: no such message.
pub const UPDATE_MESSAGE: &str = "UPDATE messages \
SET parts = ?2, text = ?3, status = ?4, model = ?5, input_tokens = ?6, output_tokens = ?7 \
WHERE id = ?1";

/// `?1` id.
pub const MESSAGE_BY_ID: &str = concat!("SELECT ", message_columns!(), " FROM messages WHERE id = ?1");

// As for chat lists, the cursor and no-cursor shapes are separate statements, so that the
// cursor is a range of the `messages_by_chat` index.

/// `?1` chat, `?2` limit: a model's context, newest first (the caller reverses it).
pub const CONTEXT_MESSAGES: &str = "SELECT role, text FROM messages \
WHERE chat_id = ?1 AND status <> 'streaming' AND text <> '' ORDER BY created_at DESC, id DESC LIMIT ?2";

/// `?1` chat, `?2` limit.
pub const LIST_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE chat_id = ?1",
    " ORDER BY created_at DESC, id DESC LIMIT ?2"
);

/// `?1` chat, `?2` limit, `?3` cursor time, `?4` cursor id.
pub const LIST_MESSAGES_BEFORE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE chat_id = ?1 AND (created_at, id) < (?3, ?4)",
    " ORDER BY created_at DESC, id DESC LIMIT ?2"
);

/// `?1` id. Its votes go with it through `ON DELETE CASCADE`.
pub const DELETE_MESSAGE: &str = "DELETE FROM messages WHERE id = ?1";

/// `?1` chat, `?2` cursor time, `?3` cursor id: deletes the chat's messages after the cursor.
pub const DELETE_MESSAGES_AFTER: &str = "DELETE FROM messages WHERE chat_id = ?1 AND (created_at, id) > (?2, ?3)";

/// Messages still streaming, oldest first (through the partial index `messages_streaming`).
pub const STREAMING_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE status = 'streaming' ORDER BY created_at, id"
);

// ---- votes ------------------------------------------------------------------------------------

/// `?1` message, `?2` user, `?3` chat, `?4` kind, `?5` updated at. Inserts or changes nothing
/// (0 rows) when the message does not exist. (The `WHERE` also keeps SQLite from reading
/// `ON CONFLICT` as a join constraint.)
pub const UPSERT_VOTE: &str = "INSERT INTO votes (message_id, user_id, chat_id, kind, updated_at) \
SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?1) \
ON CONFLICT (message_id, user_id) DO UPDATE SET kind = excluded.kind, updated_at = excluded.updated_at";

/// `?1` chat.
pub const VOTES_BY_CHAT: &str = "SELECT message_id, user_id, chat_id, kind, updated_at \
FROM votes WHERE chat_id = ?1 ORDER BY message_id, user_id";

// ---- usage ------------------------------------------------------------------------------------

/// `?1` user, `?2` day → the new message count (one statement: atomic).
pub const COUNT_MESSAGE: &str = "INSERT INTO usage_daily (user_id, day, messages) VALUES (?1, ?2, 1) \
ON CONFLICT (user_id, day) DO UPDATE SET messages = messages + 1 WHERE messages < ?3 RETURNING messages";

// ---- a send's turn as one batch (D1) ----------------------------------------------------------
//
// D1 runs a batch as one implicit transaction without letting the caller look at a result in
// between, so the batch's guards live in the SQL: [`COUNT_TURN`] counts the message and marks the
// turn (`usage_daily.turn` = the answer's id), and every later statement writes only when that
// mark is there. A missing chat breaks a foreign key and a taken id a primary key: the statement
// fails and the whole batch, count included, rolls back.

/// `?1` user, `?2` day, `?3` limit, `?4` the answer's id (the mark), `?5` the message the turn
/// replaces or NULL → the new message count, or no row when the limit is reached or the message
/// to replace does not exist (nothing changes then).
pub const COUNT_TURN: &str = "INSERT INTO usage_daily (user_id, day, messages, turn) \
SELECT ?1, ?2, 1, ?4 WHERE ?3 > 0 AND (?5 IS NULL OR EXISTS (SELECT 1 FROM messages WHERE id = ?5)) \
ON CONFLICT (user_id, day) DO UPDATE SET messages = messages + 1, turn = excluded.turn \
WHERE messages < ?3 AND (?5 IS NULL OR EXISTS (SELECT 1 FROM messages WHERE id = ?5)) \
RETURNING messages";

/// `?1` the message to delete, `?2` user, `?3` day, `?4` the turn's mark.
pub const DELETE_FOR_TURN: &str = "DELETE FROM messages WHERE id = ?1 \
AND EXISTS (SELECT 1 FROM usage_daily WHERE user_id = ?2 AND day = ?3 AND turn = ?4)";

/// As [`INSERT_MESSAGE`] (`?1`…`?11`), but without the chat guard (a missing chat breaks the
/// foreign key and fails the batch) and only under the turn's mark: `?12` user, `?13` day,
/// `?14` mark.
pub const INSERT_FOR_TURN: &str = "INSERT INTO messages \
(id, chat_id, role, parts, text, status, model, input_tokens, output_tokens, stream_id, created_at) \
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
WHERE EXISTS (SELECT 1 FROM usage_daily WHERE user_id = ?12 AND day = ?13 AND turn = ?14)";

/// As [`BUMP_CHAT`] (`?1` chat, `?2` time), only under the turn's mark: `?3` user, `?4` day,
/// `?5` mark.
pub const BUMP_CHAT_FOR_TURN: &str = "UPDATE chats SET updated_at = MAX(updated_at, ?2) WHERE id = ?1 \
AND EXISTS (SELECT 1 FROM usage_daily WHERE user_id = ?3 AND day = ?4 AND turn = ?5)";

/// `?1` user, `?2` day, `?3` input tokens, `?4` output tokens.
pub const ADD_TOKENS: &str = "INSERT INTO usage_daily (user_id, day, input_tokens, output_tokens) \
VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, day) DO UPDATE SET \
input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens";

/// `?1` user, `?2` day.
pub const DAILY_USAGE: &str =
    "SELECT messages, input_tokens, output_tokens FROM usage_daily WHERE user_id = ?1 AND day = ?2";

/// A `LIKE` pattern matching titles that contain `text`, with `%`, `_` and the escape
/// character `\` taken literally.
///
/// SQLite's `LIKE` folds ASCII case only, which is the rule of `SearchText::matches`.
#[must_use]
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

// ---- test harnesses ---------------------------------------------------------------------------

/// Empties every table of the schema, children before parents (foreign keys stay satisfied), for
/// test harnesses that run each port contract case on a fresh database they cannot recreate
/// (D1 in workerd). The migrations ledger is kept. A native test checks that it names every table
/// the migrations create.
pub const EMPTY_TABLES: &[&str] = &[
    "DELETE FROM generation_claims",
    "DELETE FROM spent_refresh_tokens",
    "DELETE FROM sessions",
    "DELETE FROM votes",
    "DELETE FROM usage_daily",
    "DELETE FROM messages",
    "DELETE FROM stream_events",
    "DELETE FROM streams",
    "DELETE FROM kv_cache",
    "DELETE FROM retired_chat_ids",
    "DELETE FROM chats",
    "DELETE FROM users",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_the_escape() {
        assert_eq!(contains_pattern("abc"), "%abc%");
        assert_eq!(contains_pattern(r"100% a_b \ c"), r"%100\% a\_b \\ c%");
    }

    #[test]
    fn ledger_is_wranglers() {
        assert_eq!(
            CREATE_LEDGER,
            "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, \
             name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)"
        );
    }
}
