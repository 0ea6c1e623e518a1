-- The mark of a send's writes on D1, which has no interactive transactions.
--
-- SQLite dialect shared with Cloudflare D1; see 0001_initial.sql for the conventions. A send
-- counts the message against the daily quota and stores the question and the answer in one D1
-- batch (one implicit transaction). The counting statement sets `turn` to the answer's id when it
-- counts; every later statement of the batch writes only `WHERE EXISTS` that mark, so a send over
-- the quota changes nothing, and a failing statement rolls the count back with the rest. The
-- native adapter runs the same statements, in one savepoint of its writer.

ALTER TABLE usage_daily ADD COLUMN turn TEXT;
