-- The change feed (GET /api/v1/changes): every company_history row in commit order.
-- See docs/change-feed.md for why this is correct.
--
-- Each row records the 64-bit id of the transaction that wrote it (xid8, which never
-- wraps around). Readers return only rows whose transaction id is below the xmin of
-- their snapshot (every such transaction has ended, and every later writer gets a
-- larger id), ordered by (xact_id, id): that order never changes under a reader's
-- feet, so a cursor of those two numbers resumes with no gap and no duplicate.
--
-- The writers need no change: the column default is the writer's own transaction id.
-- Rows written before this migration all get the migration's own transaction id, so
-- they come first, in id order.
ALTER TABLE company_history
    ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE INDEX company_history_feed_idx ON company_history (xact_id, id);
