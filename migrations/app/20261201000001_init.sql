-- Scrape jobs kept by the app (outside a cluster), the runs it started, watchlists and notifications.

CREATE TABLE scrape_jobs (
    name text PRIMARY KEY,
    spec jsonb NOT NULL,
    generation bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The scheduled time the scheduler last acted on (cron jobs).
    last_schedule_at timestamptz,
    -- A job without schedule runs once on creation; set once that run started (or was suppressed).
    initial_run_done boolean NOT NULL DEFAULT false
);

CREATE TABLE job_runs (
    id uuid PRIMARY KEY,
    job text NOT NULL REFERENCES scrape_jobs (name) ON DELETE CASCADE,
    trigger text NOT NULL CHECK (trigger IN ('create', 'manual', 'schedule')),
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    pages_fetched integer NOT NULL DEFAULT 0,
    pages_failed integer NOT NULL DEFAULT 0,
    companies_created integer NOT NULL DEFAULT 0,
    companies_updated integer NOT NULL DEFAULT 0
);
CREATE INDEX job_runs_job_created ON job_runs (job, created_at DESC);
CREATE INDEX job_runs_active ON job_runs (status) WHERE status IN ('queued', 'running');

CREATE TABLE watchlist (
    user_id uuid NOT NULL,
    idno text NOT NULL CHECK (idno ~ '^[0-9]{13}$'),
    company_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idno)
);
CREATE INDEX watchlist_idno ON watchlist (idno);

CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL,
    idno text NOT NULL,
    company_name text,
    changes jsonb NOT NULL,
    run_id uuid,
    -- The run id, or the event id for a change made outside a run: one notification per
    -- watcher per company per run, however often the event is delivered.
    dedupe_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    UNIQUE (user_id, idno, dedupe_key)
);
CREATE INDEX notifications_user ON notifications (user_id, id DESC);
