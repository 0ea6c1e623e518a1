-- Sessions and their refresh tokens, exact: a rotation is a compare-and-swap guarded in the
-- statement itself, so two refreshes with one token cannot both succeed, and a logout holds at
-- once. (They lived in the key-value cache before, which Cloudflare KV makes eventually
-- consistent; the cache's old `session:` entries are left to expire.)
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions.

CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Hex SHA-256 of the current refresh token.
    refresh_hash TEXT    NOT NULL,
    -- When the session ends unless refreshed, in milliseconds: a row with expires_at <= now
    -- reads as absent until a purge deletes it.
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- Ending every session of a user.
CREATE INDEX sessions_by_user ON sessions (user_id);
-- Purging ended sessions (expires_at <= ?) is a range of this index.
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Refresh tokens a rotation has spent, the latest few per session: presenting one again
-- revokes the session.
CREATE TABLE spent_refresh_tokens (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    hash       TEXT    NOT NULL,
    spent_at   INTEGER NOT NULL,
    PRIMARY KEY (session_id, hash)
) WITHOUT ROWID;
