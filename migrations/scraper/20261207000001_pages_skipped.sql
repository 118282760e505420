-- Documents a run did not fetch on purpose (robots.txt disallows them) are counted
-- apart from failed ones: skipping is not a failure, and does not fail a run. The run
-- row, each shard's row and each tally row carry the count, as they do the others.
ALTER TABLE scrape_runs ADD COLUMN pages_skipped integer NOT NULL DEFAULT 0;
ALTER TABLE scrape_run_shards ADD COLUMN pages_skipped integer NOT NULL DEFAULT 0;
ALTER TABLE scrape_run_tally ADD COLUMN pages_skipped integer NOT NULL DEFAULT 0;
