-- Generation claims: which generation holds each chat, when it runs where no process memory is
-- shared (Cloudflare Workers, where each request may land in another isolate).
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions. The native
-- server keeps its claims in process memory and never writes this table. On the Worker a send
-- claims its chat here with a lease that the running generation renews while it polls for a
-- stop; a generation whose isolate died stops renewing, and its claim can be taken over once the
-- lease has run out. A stop asked from any isolate sets `stop_requested`; the generation sees it
-- at its next poll and deletes the row when its answer is saved.

CREATE TABLE generation_claims (
    chat_id        TEXT    NOT NULL PRIMARY KEY REFERENCES chats (id) ON DELETE CASCADE,
    stream_id      TEXT    NOT NULL UNIQUE,
    stop_requested INTEGER NOT NULL DEFAULT 0 CHECK (stop_requested IN (0, 1)),
    -- Milliseconds since the epoch after which the claim is dead unless renewed.
    lease_until    INTEGER NOT NULL
);
