-- The size of each stream, kept up to date by every append, so that the per-user caps (events
-- and bytes per stream, bytes of all of a user's streams) are read from `streams` alone instead
-- of summing `stream_events` on every append.
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions.

-- How many events the stream holds.
ALTER TABLE streams ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
-- The bytes of their data (UTF-8).
ALTER TABLE streams ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;

UPDATE streams SET
    events = (SELECT COUNT(*) FROM stream_events e WHERE e.stream_id = streams.id),
    bytes = (SELECT COALESCE(SUM(LENGTH(CAST(e.data AS BLOB))), 0) FROM stream_events e WHERE e.stream_id = streams.id);
