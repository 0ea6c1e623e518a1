-- Streams: append-only event logs with live followers (resumable generations, and clients' own
-- streams).
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions. The native
-- hub writes every event here before its followers see it, so that a follower can replay a
-- stream after a restart; on Cloudflare a Durable Object per stream holds the log instead.

CREATE TABLE streams (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The chat of a generation; NULL for a client's own stream.
    chat_id    TEXT    REFERENCES chats (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
    created_at INTEGER NOT NULL,
    -- When it was closed: its log is purged 24 hours later.
    closed_at  INTEGER,
    CHECK ((status = 'open') = (closed_at IS NULL))
);

-- Streams left open by a crash (status = 'open'), found at start-up, and closed logs past their
-- retention (status = 'closed' AND closed_at <= ?), purged: both are ranges of this index.
CREATE INDEX streams_by_status ON streams (status, closed_at);
-- Deleting a user or a chat cascades to its streams through these instead of a scan.
CREATE INDEX streams_by_user ON streams (user_id);
CREATE INDEX streams_by_chat ON streams (chat_id);

CREATE TABLE stream_events (
    stream_id TEXT    NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    -- 0, 1, 2… without gaps within a stream.
    seq       INTEGER NOT NULL CHECK (seq >= 0),
    -- One JSON text, as appended.
    data      TEXT    NOT NULL,
    PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;
