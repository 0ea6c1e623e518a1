-- Users and chats.
--
-- SQLite dialect, applied as is by `wrangler d1 migrations apply` on Cloudflare D1 and by the
-- native adapter (which records it in the same `d1_migrations` ledger). No PRAGMA and no
-- BEGIN/COMMIT here: each runner wraps a migration in its own transaction.
--
-- Ids are UUIDs as lower-case hyphenated TEXT, whose text order is the UUIDs' byte order.
-- Timestamps are INTEGER milliseconds since the Unix epoch.

CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    -- Normalised (lower-cased) by the core; NULL for guests, and NULLs never collide.
    email               TEXT    UNIQUE,
    name                TEXT,
    kind                TEXT    NOT NULL CHECK (kind IN ('regular', 'guest')),
    -- Argon2id PHC string; NULL for guests.
    password_hash       TEXT,
    -- Per-user override of the daily message quota; NULL means the default.
    daily_message_limit INTEGER CHECK (daily_message_limit IS NULL OR daily_message_limit >= 0),
    created_at          INTEGER NOT NULL
);

CREATE TABLE chats (
    id          TEXT    NOT NULL PRIMARY KEY,
    -- Everything a chat owns references it with ON DELETE CASCADE in turn, so deleting a user
    -- or a chat is one statement.
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT    NOT NULL,
    visibility  TEXT    NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'public')),
    model       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Chat lists: one owner's chats, newest first, paged by the keyset (updated_at, id).
CREATE INDEX chats_by_owner_recency ON chats (user_id, updated_at DESC, id DESC);
