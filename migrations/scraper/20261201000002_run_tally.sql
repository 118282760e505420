-- Counts of finished work as rows of their own, inserted in the transaction of the work
-- they count and never updated: the companies a shard has in flight no longer queue on
-- its one scrape_run_shards row (that lock held every company write until its commit).
-- A shard's counters are its row's plus the sum of its tally rows.
CREATE TABLE scrape_run_tally (
    id                 bigserial PRIMARY KEY,
    run_id             uuid NOT NULL REFERENCES scrape_runs (id) ON DELETE CASCADE,
    shard              integer NOT NULL CHECK (shard >= 0),
    pages_fetched      integer NOT NULL DEFAULT 0,
    pages_unchanged    integer NOT NULL DEFAULT 0,
    pages_failed       integer NOT NULL DEFAULT 0,
    companies_created  integer NOT NULL DEFAULT 0,
    companies_updated  integer NOT NULL DEFAULT 0
);

CREATE INDEX scrape_run_tally_run ON scrape_run_tally (run_id, shard);
