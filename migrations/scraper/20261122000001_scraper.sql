-- Scrape runs, raw documents (Load), companies with history and financials
-- (Transform), and the outbox of company events.
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TABLE scrape_runs (
    id                 uuid PRIMARY KEY,
    job                text NOT NULL,
    kind               text NOT NULL DEFAULT 'scrape' CHECK (kind IN ('scrape', 'transform')),
    status             text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    spec               jsonb NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    heartbeat_at       timestamptz,
    pages_fetched      integer NOT NULL DEFAULT 0,
    pages_unchanged    integer NOT NULL DEFAULT 0,
    pages_failed       integer NOT NULL DEFAULT 0,
    companies_created  integer NOT NULL DEFAULT 0,
    companies_updated  integer NOT NULL DEFAULT 0,
    errors             jsonb NOT NULL DEFAULT '[]',
    failure            text
);
CREATE INDEX scrape_runs_job_idx ON scrape_runs (job, created_at DESC);
CREATE INDEX scrape_runs_status_idx ON scrape_runs (status, created_at DESC);

CREATE TABLE raw_documents (
    id             bigserial PRIMARY KEY,
    url            text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('company_list', 'company', 'financials', 'company_html')),
    idno           text,
    http_status    integer NOT NULL,
    content_type   text,
    etag           text,
    last_modified  text,
    headers        jsonb NOT NULL DEFAULT '{}',
    sha256         text NOT NULL,
    size_bytes     integer NOT NULL,
    body           bytea NOT NULL,
    fetched_at     timestamptz NOT NULL DEFAULT now(),
    run_id         uuid REFERENCES scrape_runs (id) ON DELETE SET NULL,
    parse_status   text NOT NULL DEFAULT 'pending' CHECK (parse_status IN ('pending', 'parsed', 'failed')),
    parse_error    text,
    parser_version integer
);
CREATE INDEX raw_documents_url_idx ON raw_documents (url, id DESC);
CREATE INDEX raw_documents_idno_idx ON raw_documents (idno, id DESC);
CREATE INDEX raw_documents_failed_idx ON raw_documents (id) WHERE parse_status <> 'parsed';

CREATE TABLE companies (
    idno                text PRIMARY KEY,
    name                text NOT NULL,
    legal_form          text,
    status              text NOT NULL CHECK (status IN ('active', 'inactive')),
    registered_at       date,
    address             jsonb NOT NULL,
    activities          jsonb NOT NULL DEFAULT '[]',
    founders            jsonb NOT NULL DEFAULT '[]',
    administrators      jsonb NOT NULL DEFAULT '[]',
    source_url          text NOT NULL,
    source_fetched_at   timestamptz NOT NULL,
    source_document_id  bigint REFERENCES raw_documents (id) ON DELETE SET NULL,
    parser_version      integer NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- Maintained on write: unaccented name, address and activities.
    search              tsvector NOT NULL,
    name_key            text NOT NULL,
    city_key            text
);
CREATE INDEX companies_search_idx ON companies USING gin (search);
CREATE INDEX companies_name_idx ON companies (name_key, idno);
CREATE INDEX companies_registered_idx ON companies (registered_at DESC, idno);
CREATE INDEX companies_city_idx ON companies (city_key);
CREATE INDEX companies_activities_idx ON companies USING gin (activities jsonb_path_ops);

CREATE TABLE company_history (
    id           bigserial PRIMARY KEY,
    idno         text NOT NULL REFERENCES companies (idno) ON DELETE CASCADE,
    field        text NOT NULL,
    old          jsonb,
    new          jsonb,
    observed_at  timestamptz NOT NULL DEFAULT now(),
    run_id       uuid
);
CREATE INDEX company_history_idno_idx ON company_history (idno, id DESC);

CREATE TABLE financials (
    idno                text NOT NULL,
    year                integer NOT NULL,
    revenue             double precision,
    net_profit          double precision,
    total_assets        double precision,
    equity              double precision,
    "values"            jsonb NOT NULL,
    source_document_id  bigint REFERENCES raw_documents (id) ON DELETE SET NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (idno, year)
);

CREATE TABLE scraper_outbox (
    id           bigserial PRIMARY KEY,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX scraper_outbox_pending_idx ON scraper_outbox (id) WHERE published_at IS NULL;
