-- The successor of each spent refresh token, sealed, so that the same token presented again
-- within the reuse interval (two tabs refreshing at once) gets the same successor instead of
-- revoking the session.
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions. The value
-- is the successor's secret XORed with a key derived from the spent token itself, which only its
-- holder knows: the table alone never yields a usable token. NULL for rows spent before this.

ALTER TABLE spent_refresh_tokens ADD COLUMN successor TEXT;
