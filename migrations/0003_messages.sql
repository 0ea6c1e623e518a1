-- Messages, votes and daily usage.
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions.

CREATE TABLE messages (
    id            TEXT    NOT NULL PRIMARY KEY,
    chat_id       TEXT    NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    role          TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    -- AI SDK UIMessage parts as a JSON array (alleato_core::messages::parts_to_json).
    parts         TEXT    NOT NULL,
    -- The text parts joined by newlines: what chat search looks into.
    text          TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('complete', 'streaming', 'stopped', 'error')),
    model         TEXT,
    input_tokens  INTEGER,
    output_tokens INTEGER,
    -- The stream a generation is logged in. No foreign key: stream logs expire before messages.
    stream_id     TEXT,
    created_at    INTEGER NOT NULL
);

-- A chat's history, newest first, paged by the keyset (created_at, id).
CREATE INDEX messages_by_chat ON messages (chat_id, created_at DESC, id DESC);
-- Answers left streaming by a crash, found at start-up.
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';

CREATE TABLE votes (
    message_id TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id    TEXT    NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('up', 'down')),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id)
);

CREATE INDEX votes_by_chat ON votes (chat_id);

-- Per-user, per-UTC-day counts: messages sent (the quota) and tokens used.
CREATE TABLE usage_daily (
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Days since 1970-01-01, UTC.
    day           INTEGER NOT NULL,
    messages      INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;
