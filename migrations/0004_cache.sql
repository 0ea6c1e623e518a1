-- The key-value cache: sessions and cached responses, so that a restart logs nobody out.
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions. The native
-- server keeps its cache here (behind an in-process front); on Cloudflare, Workers KV holds it
-- instead and this table stays empty.

CREATE TABLE kv_cache (
    -- Namespaced by the caller (`session:…`).
    key        TEXT    NOT NULL PRIMARY KEY,
    -- Opaque bytes.
    value      BLOB    NOT NULL,
    -- When the entry expires, in milliseconds: a row with expires_at <= now reads as absent
    -- until a purge deletes it.
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Purging expired entries (expires_at <= ?) is a range of this index.
CREATE INDEX kv_cache_by_expiry ON kv_cache (expires_at);
