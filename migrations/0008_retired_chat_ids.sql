-- The ids of deleted chats, kept for good so that none is ever used again.
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions. Clients
-- choose the ids of the chats they create through `POST /chat` (the AI SDK transport). Without
-- this table, another user could create a chat under a deleted chat's id, and links shared to the
-- deleted chat (`/public/chats/:id`) would show that user's chat. Deleting a chat adds its id
-- here in the same batch; creating a chat whose id is here is refused like a taken id.

CREATE TABLE retired_chat_ids (
    id TEXT NOT NULL PRIMARY KEY
) WITHOUT ROWID;
