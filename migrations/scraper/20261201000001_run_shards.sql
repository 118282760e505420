-- Sharded and resumable runs. Every shard of a run (one process of `scraper run`, or
-- the only one) keeps its own counters and errors in its own row, so concurrent shards
-- never overwrite each other; a run's counters are the sum of its shards' rows.
ALTER TABLE scrape_runs ADD COLUMN shards integer NOT NULL DEFAULT 1;

CREATE TABLE scrape_run_shards (
    run_id             uuid NOT NULL REFERENCES scrape_runs (id) ON DELETE CASCADE,
    shard              integer NOT NULL CHECK (shard >= 0),
    status             text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    heartbeat_at       timestamptz NOT NULL DEFAULT now(),
    pages_fetched      integer NOT NULL DEFAULT 0,
    pages_unchanged    integer NOT NULL DEFAULT 0,
    pages_failed       integer NOT NULL DEFAULT 0,
    companies_created  integer NOT NULL DEFAULT 0,
    companies_updated  integer NOT NULL DEFAULT 0,
    errors             jsonb NOT NULL DEFAULT '[]',
    failure            text,
    PRIMARY KEY (run_id, shard)
);

-- What a run has finished (a company by IDNO, a list page by URL), written in the same
-- transaction as the counters of that work: a run started again skips it, so nothing
-- is counted or written twice.
CREATE TABLE scrape_run_done (
    run_id  uuid NOT NULL REFERENCES scrape_runs (id) ON DELETE CASCADE,
    item    text NOT NULL,
    PRIMARY KEY (run_id, item)
);
