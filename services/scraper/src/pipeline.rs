//! A run: Extract each document politely, Load it raw, then Transform it.
//! Also the re-transform of stored documents, with no fetching.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use gleaner_scrapejob::RunStatus;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::company::{CompanyRecord, FinancialYear};
use crate::egress::Egress;
use crate::fetch::{Fetcher, Outcome, Politeness, Validators};
use crate::metrics::ScraperMetrics;
use crate::parse::{self, DocumentKind, PARSER_VERSION, ParseError};
use crate::spec::RunSpec;
use crate::store::companies::{self, Provenance, Write};
use crate::store::raw::{self, Stored};
use crate::store::runs::{self, Counters, RunError};

/// Companies per registry list page.
pub const LIST_PAGE_SIZE: u32 = 100;
/// Errors kept per run.
const MAX_ERRORS: usize = 200;
/// A running run refreshes its heartbeat this often.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// Progress is written at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The parsers a pipeline uses; tests swap in older or broken ones.
#[derive(Clone, Copy)]
pub struct Parsers {
    /// Version recorded on what these parsers produce.
    pub version: i32,
    /// `/api/companies/{idno}`.
    pub company_json: fn(&[u8]) -> Result<CompanyRecord, ParseError>,
    /// `/companies/{idno}`.
    pub company_html: fn(&[u8]) -> Result<CompanyRecord, ParseError>,
    /// `/api/fin-data-v1/{idno}`.
    pub financials: fn(&[u8]) -> Result<Vec<FinancialYear>, ParseError>,
}

impl Default for Parsers {
    fn default() -> Self {
        Self {
            version: PARSER_VERSION,
            company_json: parse::parse_company_json,
            company_html: parse::parse_company_html,
            financials: parse::parse_financials,
        }
    }
}

/// The summary of a finished run (stdout and `/dev/termination-log` of `scraper run`).
pub use gleaner_scrapejob::RunSummary;

/// The summary of run `run_id` that ended with `status` and these counters.
fn summary(
    run_id: Uuid,
    status: RunStatus,
    started_at: DateTime<Utc>,
    counters: &Counters,
    failure: Option<String>,
) -> RunSummary {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    RunSummary {
        run_id: run_id.to_string(),
        status,
        started_at: Some(stamp(started_at)),
        finished_at: Some(stamp(Utc::now())),
        pages_fetched: count(counters.pages_fetched),
        pages_unchanged: count(counters.pages_unchanged),
        pages_failed: count(counters.pages_failed),
        companies_created: count(counters.companies_created),
        companies_updated: count(counters.companies_updated),
        failure,
    }
}

/// Runs scrapes and transforms against one database.
#[derive(Clone)]
pub struct Pipeline {
    db: PgPool,
    metrics: ScraperMetrics,
    parsers: Parsers,
    /// Base of retry backoff (tests shorten it).
    min_backoff: Duration,
    /// Where runs may connect.
    egress: Egress,
}

/// Live state of one run.
struct RunState {
    id: Uuid,
    counters: Mutex<Counters>,
    errors: Mutex<Vec<RunError>>,
    last_flush: Mutex<Instant>,
}

impl RunState {
    fn new(id: Uuid) -> Self {
        Self {
            id,
            counters: Mutex::new(Counters::default()),
            errors: Mutex::new(Vec::new()),
            last_flush: Mutex::new(Instant::now()),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut c) = self.counters.lock() {
            f(&mut c);
        }
    }

    fn error(&self, url: &str, kind: &str, message: &str) {
        self.count(|c| c.pages_failed += 1);
        if let Ok(mut errors) = self.errors.lock()
            && errors.len() < MAX_ERRORS
        {
            errors.push(RunError {
                url: url.to_string(),
                kind: kind.to_string(),
                message: message.to_string(),
            });
        }
    }

    fn snapshot(&self) -> (Counters, Vec<RunError>) {
        let c = self.counters.lock().map(|c| *c).unwrap_or_default();
        let e = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        (c, e)
    }
}

/// Aborts a background task when the run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What happened to one document.
enum DocResult {
    Done,
    NotFound,
}

fn company_url(spec: &RunSpec, idno: &str) -> String {
    format!("{}/api/companies/{idno}", spec.api_root())
}
fn financials_url(spec: &RunSpec, idno: &str) -> String {
    format!("{}/api/fin-data-v1/{idno}", spec.api_root())
}
fn html_url(spec: &RunSpec, idno: &str) -> String {
    format!("{}/companies/{idno}", spec.base_root())
}
fn list_url(spec: &RunSpec, page: u32) -> String {
    format!(
        "{}/api/companies?page={page}&size={LIST_PAGE_SIZE}",
        spec.api_root()
    )
}

impl Pipeline {
    /// A pipeline with the current parsers and the default egress policy (openmoney.md only).
    pub fn new(db: PgPool, metrics: ScraperMetrics) -> Self {
        Self {
            db,
            metrics,
            parsers: Parsers::default(),
            min_backoff: Duration::from_millis(500),
            egress: Egress::default(),
        }
    }

    /// Connect only where `egress` allows.
    pub fn with_egress(mut self, egress: Egress) -> Self {
        self.egress = egress;
        self
    }

    /// Where runs may connect (specs are checked against it when accepted).
    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// Use other parsers (tests: a "buggy" parser, then the fix).
    pub fn with_parsers(mut self, parsers: Parsers) -> Self {
        self.parsers = parsers;
        self
    }

    /// Shorter retry backoff (tests).
    pub fn with_min_backoff(mut self, d: Duration) -> Self {
        self.min_backoff = d;
        self
    }

    async fn flush(&self, state: &RunState, force: bool) -> sqlx::Result<()> {
        let due = state
            .last_flush
            .lock()
            .map(|mut t| {
                let due = force || t.elapsed() >= PROGRESS_EVERY;
                if due {
                    *t = Instant::now();
                }
                due
            })
            .unwrap_or(true);
        if due {
            let (c, e) = state.snapshot();
            runs::progress(&self.db, state.id, &c, &e).await?;
        }
        Ok(())
    }

    /// Run a scrape to the end. A run id that exists is resumed.
    pub async fn scrape(
        &self,
        run_id: Uuid,
        job: &str,
        spec: &RunSpec,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunSummary> {
        let span = tracing::info_span!("scrape.run", run_id = %run_id, job = %job, trace_id = tracing::field::Empty);
        let (trace_id, _) = gleaner_common::telemetry::trace_ids(&span);
        span.record("trace_id", trace_id.as_str());
        self.scrape_in_span(run_id, job, spec, cancel)
            .instrument(span)
            .await
    }

    async fn scrape_in_span(
        &self,
        run_id: Uuid,
        job: &str,
        spec: &RunSpec,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunSummary> {
        let spec_json = serde_json::to_value(spec)?;
        runs::create(&self.db, run_id, job, "scrape", &spec_json).await?;
        runs::start(&self.db, run_id).await?;
        let started = Instant::now();
        let started_at = Utc::now();
        tracing::info!("run started");
        let state = RunState::new(run_id);
        let fetcher = Fetcher::new(
            Politeness {
                concurrency: spec.concurrency as usize,
                requests_per_second: spec.requests_per_second,
                max_retries: spec.max_retries,
                respect_robots_txt: spec.respect_robots_txt,
                request_timeout: Duration::from_secs(30),
                min_backoff: self.min_backoff,
            },
            &self.egress,
            self.metrics.clone(),
            spec.source.as_str(),
        )?;
        // A slow, polite run may go minutes between documents: keep it
        // visibly alive so it is not taken for a dead one.
        let heartbeat = {
            let db = self.db.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
                loop {
                    tick.tick().await;
                    if let Err(e) = runs::heartbeat(&db, run_id).await {
                        tracing::debug!(error = %e, "run heartbeat failed");
                    }
                }
            })
        };
        let _stop_heartbeat = AbortOnDrop(heartbeat);
        let work = self.scrape_targets(&fetcher, spec, &state);
        let deadline = spec.timeout();
        let failure = tokio::select! {
            r = tokio::time::timeout(deadline, work) => match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("the database failed: {e}")),
                Err(_) => Some(format!("timed out after {}s", spec.timeout_seconds)),
            },
            () = cancel.cancelled() => Some("cancelled".to_string()),
        };
        let (counters, _) = state.snapshot();
        let attempted = counters.pages_fetched + counters.pages_failed;
        let status = match &failure {
            Some(f) if f == "cancelled" => RunStatus::Cancelled,
            Some(_) => RunStatus::Failed,
            None if counters.pages_failed * 2 > attempted => RunStatus::Failed,
            None => RunStatus::Succeeded,
        };
        let failure = failure.or_else(|| {
            (status == RunStatus::Failed)
                .then(|| format!("{} of {attempted} documents failed", counters.pages_failed))
        });
        // Best effort: when the database is gone, the summary still goes out.
        let recorded = async {
            self.flush(&state, true).await?;
            runs::finish(&self.db, run_id, status.as_str(), failure.as_deref()).await
        }
        .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "cannot record the end of the run");
        }
        self.metrics
            .run(spec.source.as_str(), status.as_str(), started.elapsed());
        tracing::info!(
            status = status.as_str(),
            pages_fetched = counters.pages_fetched,
            pages_failed = counters.pages_failed,
            companies_created = counters.companies_created,
            companies_updated = counters.companies_updated,
            "run finished"
        );
        Ok(summary(run_id, status, started_at, &counters, failure))
    }

    /// Walk the IDNOs and list pages, `concurrency` companies at a time.
    /// Only one list page of IDNOs is held at once, so memory stays flat.
    async fn scrape_targets(
        &self,
        fetcher: &Fetcher,
        spec: &RunSpec,
        state: &RunState,
    ) -> sqlx::Result<()> {
        let limit = spec.concurrency.max(1) as usize;
        let mut queue: VecDeque<String> = spec.targets.idnos.iter().flatten().cloned().collect();
        let mut pages = spec
            .targets
            .list_pages
            .map(|p| p.from..=p.to)
            .into_iter()
            .flatten();
        let mut seen = HashSet::new();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < limit {
                if let Some(idno) = queue.pop_front() {
                    if seen.insert(idno.clone()) {
                        in_flight.push(self.process_company(fetcher, spec, idno, state));
                    }
                } else if let Some(page) = pages.next() {
                    let url = list_url(spec, page);
                    queue.extend(self.list_page(fetcher, &url, state).await?);
                } else {
                    break;
                }
            }
            match in_flight.next().await {
                Some(result) => result?,
                None => return Ok(()),
            }
        }
    }

    async fn process_company(
        &self,
        fetcher: &Fetcher,
        spec: &RunSpec,
        idno: String,
        state: &RunState,
    ) -> sqlx::Result<()> {
        self.company(fetcher, spec, &idno, state).await?;
        self.flush(state, false).await
    }

    /// A registry list page: stored, and its IDNOs returned.
    async fn list_page(
        &self,
        fetcher: &Fetcher,
        url: &str,
        state: &RunState,
    ) -> sqlx::Result<Vec<String>> {
        let outcome = fetcher
            .fetch(url, DocumentKind::CompanyList, &Validators::default())
            .await;
        match outcome {
            Outcome::Fetched(doc) => {
                state.count(|c| c.pages_fetched += 1);
                let stored = raw::store(
                    &self.db,
                    url,
                    DocumentKind::CompanyList,
                    None,
                    &doc,
                    Some(state.id),
                )
                .await?;
                let id = match stored {
                    Stored::New(id) => id,
                    Stored::Unchanged(id) => {
                        state.count(|c| c.pages_unchanged += 1);
                        id
                    }
                };
                match parse::parse_company_list(&doc.body) {
                    Ok(list) => {
                        raw::mark_parsed(&self.db, id, self.parsers.version).await?;
                        Ok(list.idnos)
                    }
                    Err(e) => {
                        raw::mark_failed(&self.db, id, &e.to_string(), self.parsers.version)
                            .await?;
                        self.metrics.transform_error("openmoney");
                        state.error(url, "parse", &e.to_string());
                        Ok(vec![])
                    }
                }
            }
            Outcome::NotFound => {
                state.error(url, "not_found", "list page not found");
                Ok(vec![])
            }
            Outcome::NotModified => Ok(vec![]),
            Outcome::Disallowed => {
                state.error(url, "disallowed", "robots.txt disallows this URL");
                Ok(vec![])
            }
            Outcome::Failed { kind, message } => {
                state.error(url, &kind, &message);
                Ok(vec![])
            }
        }
    }

    /// One company: the JSON detail (or the HTML page when the API has no
    /// answer), then its financials.
    async fn company(
        &self,
        fetcher: &Fetcher,
        spec: &RunSpec,
        idno: &str,
        state: &RunState,
    ) -> sqlx::Result<()> {
        let span = tracing::info_span!("scrape.company", idno = %idno);
        async {
            let json = company_url(spec, idno);
            if let DocResult::NotFound = self
                .document(fetcher, &json, DocumentKind::Company, idno, state)
                .await?
            {
                let html = html_url(spec, idno);
                if let DocResult::NotFound = self
                    .document(fetcher, &html, DocumentKind::CompanyHtml, idno, state)
                    .await?
                {
                    state.error(
                        &html,
                        "not_found",
                        "neither the API nor the site knows this company",
                    );
                }
            }
            let fin = financials_url(spec, idno);
            // No financials (404) is normal for many companies.
            self.document(fetcher, &fin, DocumentKind::Financials, idno, state)
                .await?;
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Fetch (conditionally), store if new, transform if not yet transformed.
    async fn document(
        &self,
        fetcher: &Fetcher,
        url: &str,
        kind: DocumentKind,
        idno: &str,
        state: &RunState,
    ) -> sqlx::Result<DocResult> {
        let latest = raw::latest(&self.db, url).await?;
        let validators = latest.as_ref().map(|l| l.validators()).unwrap_or_default();
        match fetcher.fetch(url, kind, &validators).await {
            Outcome::Fetched(doc) => {
                state.count(|c| c.pages_fetched += 1);
                match raw::store(&self.db, url, kind, Some(idno), &doc, Some(state.id)).await? {
                    Stored::New(id) => {
                        self.transform(
                            id,
                            kind,
                            url,
                            Utc::now(),
                            idno,
                            &doc.body,
                            Some(state.id),
                            state,
                        )
                        .await?;
                    }
                    Stored::Unchanged(id) => {
                        state.count(|c| c.pages_unchanged += 1);
                        if !latest
                            .is_some_and(|l| l.id == id && l.is_transformed(self.parsers.version))
                        {
                            self.transform_stored(id, state, Some(state.id)).await?;
                        }
                    }
                }
                Ok(DocResult::Done)
            }
            Outcome::NotModified => {
                state.count(|c| {
                    c.pages_fetched += 1;
                    c.pages_unchanged += 1;
                });
                if let Some(l) = latest
                    && !l.is_transformed(self.parsers.version)
                {
                    self.transform_stored(l.id, state, Some(state.id)).await?;
                }
                Ok(DocResult::Done)
            }
            Outcome::NotFound => Ok(DocResult::NotFound),
            Outcome::Disallowed => {
                state.error(url, "disallowed", "robots.txt disallows this URL");
                Ok(DocResult::Done)
            }
            Outcome::Failed { kind: why, message } => {
                state.error(url, &why, &message);
                Ok(DocResult::Done)
            }
        }
    }

    /// Transform a stored document by id.
    async fn transform_stored(
        &self,
        id: i64,
        state: &RunState,
        run_id: Option<Uuid>,
    ) -> sqlx::Result<()> {
        let Some(doc) = raw::get(&self.db, id).await? else {
            return Ok(());
        };
        let Some(kind) = DocumentKind::parse(&doc.kind) else {
            return Ok(());
        };
        let idno = doc.idno.clone().unwrap_or_default();
        self.transform(
            id,
            kind,
            &doc.url,
            doc.fetched_at,
            &idno,
            &doc.body,
            run_id,
            state,
        )
        .await
    }

    /// Parse one document and write what it says.
    #[allow(clippy::too_many_arguments)]
    async fn transform(
        &self,
        id: i64,
        kind: DocumentKind,
        url: &str,
        fetched_at: DateTime<Utc>,
        idno: &str,
        body: &[u8],
        run_id: Option<Uuid>,
        state: &RunState,
    ) -> sqlx::Result<()> {
        let span = tracing::debug_span!("transform", document_id = id, kind = kind.as_str());
        self.transform_in_span(id, kind, url, fetched_at, idno, body, run_id, state)
            .instrument(span)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn transform_in_span(
        &self,
        id: i64,
        kind: DocumentKind,
        url: &str,
        fetched_at: DateTime<Utc>,
        idno: &str,
        body: &[u8],
        run_id: Option<Uuid>,
        state: &RunState,
    ) -> sqlx::Result<()> {
        let provenance = Provenance {
            url,
            fetched_at,
            document_id: id,
            parser_version: self.parsers.version,
            run_id,
        };
        let result: Result<(), ParseError> = match kind {
            DocumentKind::Company | DocumentKind::CompanyHtml => {
                let parser = if kind == DocumentKind::Company {
                    self.parsers.company_json
                } else {
                    self.parsers.company_html
                };
                match parser(body) {
                    Ok(record) => {
                        let write = companies::upsert(&self.db, &record, &provenance).await?;
                        self.metrics.company("openmoney", write.label());
                        match write {
                            Write::Created => state.count(|c| c.companies_created += 1),
                            Write::Updated(_) => state.count(|c| c.companies_updated += 1),
                            Write::Unchanged => {}
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            DocumentKind::Financials => match (self.parsers.financials)(body) {
                Ok(years) => {
                    if !idno.is_empty() && companies::exists(&self.db, idno).await? {
                        companies::upsert_financials(&self.db, idno, &years, id).await?;
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
            DocumentKind::CompanyList => parse::parse_company_list(body).map(|_| ()),
        };
        match result {
            Ok(()) => raw::mark_parsed(&self.db, id, self.parsers.version).await?,
            Err(e) => {
                raw::mark_failed(&self.db, id, &e.to_string(), self.parsers.version).await?;
                self.metrics.transform_error("openmoney");
                tracing::warn!(document_id = id, url, error = %e, "transform failed");
                state.error(url, "parse", &e.to_string());
            }
        }
        Ok(())
    }

    /// Re-run the transform over stored documents (the newest copy of each
    /// URL, optionally fetched since `since` or of one company). No fetching.
    pub async fn retransform(
        &self,
        run_id: Uuid,
        since: Option<DateTime<Utc>>,
        idno: Option<&str>,
    ) -> anyhow::Result<RunSummary> {
        let span = tracing::info_span!("transform.run", run_id = %run_id);
        async {
            let spec = serde_json::json!({"since": since, "idno": idno});
            runs::create(&self.db, run_id, "transform", "transform", &spec).await?;
            runs::start(&self.db, run_id).await?;
            let started = Instant::now();
            let started_at = Utc::now();
            let state = RunState::new(run_id);
            let docs = raw::latest_ids(&self.db, since, idno).await?;
            // Companies before their financials: financials need the company row.
            let (company_docs, other_docs): (Vec<_>, Vec<_>) =
                docs.into_iter().partition(|(_, kind)| kind != "financials");
            let mut failure = None;
            for (id, _) in company_docs.into_iter().chain(other_docs) {
                if let Err(e) = self.transform_stored(id, &state, Some(run_id)).await {
                    failure = Some(format!("the database failed: {e}"));
                    break;
                }
                if let Err(e) = self.flush(&state, false).await {
                    failure = Some(format!("the database failed: {e}"));
                    break;
                }
            }
            let status = if failure.is_some() {
                RunStatus::Failed
            } else {
                RunStatus::Succeeded
            };
            let (counters, _) = state.snapshot();
            let _ = self.flush(&state, true).await;
            let _ = runs::finish(&self.db, run_id, status.as_str(), failure.as_deref()).await;
            self.metrics
                .run("openmoney", status.as_str(), started.elapsed());
            Ok(summary(run_id, status, started_at, &counters, failure))
        }
        .instrument(span)
        .await
    }
}
