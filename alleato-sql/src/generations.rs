//! Generation claims (`migrations/0007_generation_claims.sql`), for runtimes whose generations
//! cannot share process memory. Every statement is a single guarded write or read: D1 has no
//! interactive transactions.

/// `?1` chat, `?2` stream, `?3` lease end, `?4` now: claims the chat, or takes over a claim whose
/// lease ended at or before `?4`. 0 rows changed: a live claim holds the chat.
pub const CLAIM_GENERATION: &str = "INSERT INTO generation_claims (chat_id, stream_id, stop_requested, lease_until) \
VALUES (?1, ?2, 0, ?3) \
ON CONFLICT (chat_id) DO UPDATE SET stream_id = excluded.stream_id, stop_requested = 0, \
lease_until = excluded.lease_until WHERE generation_claims.lease_until <= ?4";

/// `?1` chat, `?2` stream, `?3` new lease end → whether a stop was asked; no row when the claim
/// is no longer this stream's (released, or taken over after its lease ended).
pub const RENEW_GENERATION: &str = "UPDATE generation_claims SET lease_until = MAX(lease_until, ?3) \
WHERE chat_id = ?1 AND stream_id = ?2 RETURNING stop_requested";

/// `?1` chat, `?2` stream, `?3` now: asks the live generation of the stream to stop. 0 rows
/// changed: none is running.
pub const REQUEST_GENERATION_STOP: &str = "UPDATE generation_claims SET stop_requested = 1 \
WHERE chat_id = ?1 AND stream_id = ?2 AND lease_until > ?3";

/// `?1` chat, `?2` stream → the end of the stream's claim's lease; no row when the stream holds
/// no claim (released, or taken over). A lease in the past is a generation that died.
pub const GENERATION_LEASE: &str = "SELECT lease_until FROM generation_claims WHERE chat_id = ?1 AND stream_id = ?2";

/// `?1` chat, `?2` stream: releases the stream's claim (nothing when another holds the chat).
pub const RELEASE_GENERATION: &str = "DELETE FROM generation_claims WHERE chat_id = ?1 AND stream_id = ?2";
