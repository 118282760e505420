//! A run: Extract each document politely, Load it raw, then Transform it.
//! Also the re-transform of stored documents, with no fetching.
//!
//! What to fetch and how to read it comes from the run's [`Source`]; the pipeline
//! itself knows no site.
//!
//! A sharded run (`scraper run --shard i/N`, or the pods of an Indexed Job) is N
//! processes with one run id. Which targets a shard takes is decided only by
//! [`Shard::owns_page`] and [`Shard::owns_idno`]: shard `i` fetches list pages `from + i`,
//! `from + i + N`, ... and scrapes every company they list, except a company also named
//! in `targets.idnos`, which is skipped on the list page and scraped by the shard that
//! owns its IDNO's hash (whatever page lists it). So every company is scraped once, by
//! one shard. All shards count their requests to a host against one limit
//! ([`crate::limit`]) and their work into their own row of the run ([`crate::run`]).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fred::prelude::Pool;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use gleaner_scrapejob::{Idno, Shard};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::egress::Egress;
use crate::fetch::{Fetcher, Outcome, Politeness, Validators};
use crate::limit::HostLimiter;
use crate::metrics::ScraperMetrics;
use crate::run::{Ending, NewRun, Run, Tally};
use crate::source::{Document, DocumentKind, Parsed, Source, SourceName, Sources};
use crate::spec::RunSpec;
use crate::store::companies::{self, Provenance, Write};
use crate::store::raw::{self, Stored};

/// The summary of a finished run (stdout and `/dev/termination-log` of `scraper run`).
pub use gleaner_scrapejob::RunSummary;

/// Runs scrapes and transforms against one database.
#[derive(Clone)]
pub struct Pipeline {
    db: PgPool,
    metrics: ScraperMetrics,
    sources: Sources,
    /// Base of retry backoff (tests shorten it).
    min_backoff: Duration,
    /// Time limit of one request (tests shorten it).
    request_timeout: Duration,
    /// Where runs may connect.
    egress: Egress,
    /// Where the shards of a run share their per-host rate limit.
    redis: Option<Pool>,
}

/// What one scrape works with.
struct Scrape<'a> {
    run: &'a Run,
    source: &'a dyn Source,
    fetcher: &'a Fetcher,
    spec: &'a RunSpec,
}

/// A stored document to transform.
struct StoredDoc<'a> {
    id: i64,
    kind: DocumentKind,
    url: &'a str,
    fetched_at: DateTime<Utc>,
    idno: Option<&'a str>,
    body: &'a [u8],
}

/// What happened to one document.
enum DocResult {
    Done,
    NotFound,
}

impl Pipeline {
    /// A pipeline with the built-in sources and the default egress policy.
    pub fn new(db: PgPool, metrics: ScraperMetrics) -> Self {
        Self {
            db,
            metrics,
            sources: Sources::builtin(),
            min_backoff: Duration::from_millis(500),
            request_timeout: Duration::from_secs(30),
            egress: Egress::default(),
            redis: None,
        }
    }

    /// Share each run's per-host rate limit through `redis` (with every other process
    /// running a shard of the same run).
    pub fn with_redis(mut self, redis: Pool) -> Self {
        self.redis = Some(redis);
        self
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

    /// Read specs naming `name` with `adapter` (tests: another site, older or broken parsers).
    pub fn with_source(mut self, name: SourceName, adapter: Arc<dyn Source>) -> Self {
        self.sources.register(name, adapter);
        self
    }

    /// Shorter retry backoff (tests).
    pub fn with_min_backoff(mut self, d: Duration) -> Self {
        self.min_backoff = d;
        self
    }

    /// Shorter time limit per request (tests).
    pub fn with_request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Run a scrape to the end. A run id that exists is resumed.
    pub async fn scrape(
        &self,
        run_id: Uuid,
        job: &str,
        spec: &RunSpec,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunSummary> {
        self.scrape_shard(run_id, job, spec, Shard::WHOLE, cancel)
            .await
    }

    /// Run one shard of a scrape to the end; the summary is this shard's. A run id
    /// that exists is resumed (the shard skips what it finished before).
    pub async fn scrape_shard(
        &self,
        run_id: Uuid,
        job: &str,
        spec: &RunSpec,
        shard: Shard,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunSummary> {
        let span = tracing::info_span!("scrape.run", run_id = %run_id, job = %job, shard = %shard, trace_id = tracing::field::Empty);
        let (trace_id, _) = gleaner_common::telemetry::trace_ids(&span);
        span.record("trace_id", trace_id.as_str());
        // Boxed: the future of a whole run is deep.
        Box::pin(self.scrape_in_span(run_id, job, spec, shard, cancel))
            .instrument(span)
            .await
    }

    /// The per-host limit of one shard of `run_id`.
    fn host_limiter(
        &self,
        run_id: Uuid,
        spec: &RunSpec,
        shard: Shard,
    ) -> anyhow::Result<Option<HostLimiter>> {
        let rate = spec.requests_per_second;
        let source = spec.source.as_str();
        let metrics = self.metrics.clone();
        let limiter = match &self.redis {
            Some(redis) => Some(HostLimiter::shared(
                redis.clone(),
                run_id,
                rate,
                shard.count(),
                metrics,
                source,
            )),
            None if !shard.is_whole() => {
                Some(HostLimiter::local(rate, shard.count(), metrics, source))
            }
            None => None,
        };
        limiter
            .transpose()
            .map_err(|e| anyhow::anyhow!("requestsPerSecond: {e}"))
    }

    async fn scrape_in_span(
        &self,
        run_id: Uuid,
        job: &str,
        spec: &RunSpec,
        shard: Shard,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunSummary> {
        let source = self.sources.get(spec.source)?;
        let mut fetcher = Fetcher::new(
            Politeness {
                concurrency: spec.concurrency as usize,
                requests_per_second: spec.requests_per_second,
                max_retries: spec.max_retries,
                respect_robots_txt: spec.respect_robots_txt,
                request_timeout: self.request_timeout,
                min_backoff: self.min_backoff,
            },
            &self.egress,
            self.metrics.clone(),
            spec.source.as_str(),
        )?;
        if let Some(limiter) = self.host_limiter(run_id, spec, shard)? {
            fetcher = fetcher.with_limiter(Arc::new(limiter));
        }
        let new = NewRun::scrape(run_id, job, spec)?;
        let run = Run::start(&self.db, &self.metrics, new, shard).await?;
        if run.succeeded_before() {
            // Its counts stand; it fetches nothing again (what it finished is no longer
            // listed once the run has succeeded).
            tracing::info!("this shard of the run succeeded before; nothing to do");
            return Ok(run.finish(Ending::Completed).await);
        }
        let scrape = Scrape {
            run: &run,
            source: source.as_ref(),
            fetcher: &fetcher,
            spec,
        };
        let work = self.scrape_targets(&scrape);
        let ending = tokio::select! {
            r = tokio::time::timeout(spec.timeout(), work) => match r {
                Ok(Ok(())) => Ending::Completed,
                Ok(Err(e)) => Ending::Aborted(format!("the database failed: {e}")),
                Err(_) => Ending::Aborted(format!("timed out after {}s", spec.timeout_seconds)),
            },
            () = cancel.cancelled() => Ending::Cancelled,
        };
        Ok(run.finish(ending).await)
    }

    /// Walk this shard's IDNOs and list pages, `concurrency` companies at a time.
    /// Only one list page of IDNOs is held at once, so memory stays flat.
    async fn scrape_targets(&self, s: &Scrape<'_>) -> sqlx::Result<()> {
        let limit = s.spec.concurrency.max(1) as usize;
        let shard = s.run.shard();
        let named: Vec<Idno> = s.spec.idnos();
        let named_set: HashSet<&Idno> = named.iter().collect();
        let mut queue: VecDeque<Idno> = named
            .iter()
            .filter(|idno| shard.owns_idno(idno))
            .cloned()
            .collect();
        let mut pages = s
            .spec
            .targets
            .list_pages
            .map(|p| (p.from..=p.to).filter(move |page| shard.owns_page(p.from, *page)))
            .into_iter()
            .flatten();
        let mut seen = HashSet::new();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < limit {
                if let Some(idno) = queue.pop_front() {
                    if seen.insert(idno.clone()) && !s.run.is_done(idno.as_str()) {
                        in_flight.push(self.company(s, idno));
                    }
                } else if let Some(page) = pages.next() {
                    let doc = s.source.list_page(s.spec, page);
                    // The companies in flight go on while the page is read: committing
                    // the page waits for the run's row, which their transactions hold.
                    let read = self.list_page(s, &doc);
                    tokio::pin!(read);
                    let listed = loop {
                        tokio::select! {
                            listed = &mut read => break listed?,
                            Some(result) = in_flight.next(), if !in_flight.is_empty() => result?,
                        }
                    };
                    // A company named in the targets is its IDNO owner's, wherever listed.
                    queue.extend(listed.into_iter().filter(|i| !named_set.contains(i)));
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

    /// A registry list page: stored, and its IDNOs returned. A page this run listed
    /// before it was stopped is read back from its stored copy, not fetched again.
    async fn list_page(&self, s: &Scrape<'_>, doc: &Document) -> sqlx::Result<Vec<Idno>> {
        if s.run.is_done(&doc.url)
            && let Some(listed) = self.stored_list(s.source, &doc.url).await?
        {
            return Ok(listed);
        }
        let tally = Tally::default();
        let (listed, done) = self.fetch_list_page(s, &tally, doc).await?;
        s.run
            .commit(&tally, done.then_some(doc.url.as_str()))
            .await?;
        Ok(listed)
    }

    /// The IDNOs of the stored copy of list page `url`, if it parses.
    async fn stored_list(&self, source: &dyn Source, url: &str) -> sqlx::Result<Option<Vec<Idno>>> {
        let Some(latest) = raw::latest(&self.db, url).await? else {
            return Ok(None);
        };
        let Some(doc) = raw::get(&self.db, latest.id).await? else {
            return Ok(None);
        };
        Ok(match source.parse(DocumentKind::CompanyList, &doc.body) {
            Ok(Parsed::List(idnos)) => Some(idnos),
            _ => None,
        })
    }

    /// Fetch, store and read a list page; whether it was read (so it is done).
    async fn fetch_list_page(
        &self,
        s: &Scrape<'_>,
        tally: &Tally,
        doc: &Document,
    ) -> sqlx::Result<(Vec<Idno>, bool)> {
        let run = s.run;
        match s
            .fetcher
            .fetch(&doc.url, doc.kind, &Validators::default())
            .await
        {
            Outcome::Fetched(fetched) => {
                tally.count(|c| c.pages_fetched += 1);
                tally.document();
                let stored =
                    raw::store(&self.db, &doc.url, doc.kind, None, &fetched, Some(run.id()))
                        .await?;
                let id = match stored {
                    Stored::New(id) => id,
                    Stored::Unchanged(id) => {
                        tally.count(|c| c.pages_unchanged += 1);
                        id
                    }
                };
                let stored = StoredDoc {
                    id,
                    kind: doc.kind,
                    url: &doc.url,
                    fetched_at: Utc::now(),
                    idno: None,
                    body: &fetched.body,
                };
                Ok((self.transform(run, tally, s.source, &stored).await?, true))
            }
            Outcome::NotFound => {
                tally.error(&doc.url, "not_found", "list page not found");
                Ok((vec![], false))
            }
            Outcome::NotModified => Ok((vec![], false)),
            Outcome::Disallowed => {
                tally.error(&doc.url, "disallowed", "robots.txt disallows this URL");
                Ok((vec![], false))
            }
            Outcome::Failed { kind, message } => {
                tally.error(&doc.url, &kind, &message);
                Ok((vec![], false))
            }
        }
    }

    /// One company: the first of its record documents that exists, then the others;
    /// then its counts are committed and it is noted done.
    async fn company(&self, s: &Scrape<'_>, idno: Idno) -> sqlx::Result<()> {
        let span = tracing::info_span!("scrape.company", idno = %idno);
        async {
            let tally = Tally::default();
            let docs = s.source.company_documents(s.spec, &idno);
            let mut missing = None;
            for doc in &docs.record {
                match self.document(s, &tally, doc, &idno).await? {
                    DocResult::Done => {
                        missing = None;
                        break;
                    }
                    DocResult::NotFound => missing = Some(&doc.url),
                }
            }
            if let Some(url) = missing {
                tally.error(
                    url,
                    "not_found",
                    "no document of the source knows this company",
                );
            }
            for doc in &docs.extra {
                // An extra document that does not exist (404) is normal.
                self.document(s, &tally, doc, &idno).await?;
            }
            s.run.commit(&tally, Some(idno.as_str())).await
        }
        .instrument(span)
        .await
    }

    /// Fetch (conditionally), store if new, transform if not yet transformed.
    async fn document(
        &self,
        s: &Scrape<'_>,
        tally: &Tally,
        doc: &Document,
        idno: &Idno,
    ) -> sqlx::Result<DocResult> {
        let run = s.run;
        let version = s.source.parser_version();
        let latest = raw::latest(&self.db, &doc.url).await?;
        let validators = latest.as_ref().map(|l| l.validators()).unwrap_or_default();
        match s.fetcher.fetch(&doc.url, doc.kind, &validators).await {
            Outcome::Fetched(fetched) => {
                tally.count(|c| c.pages_fetched += 1);
                tally.document();
                let stored = raw::store(
                    &self.db,
                    &doc.url,
                    doc.kind,
                    Some(idno.as_str()),
                    &fetched,
                    Some(run.id()),
                )
                .await?;
                match stored {
                    Stored::New(id) => {
                        let stored = StoredDoc {
                            id,
                            kind: doc.kind,
                            url: &doc.url,
                            fetched_at: Utc::now(),
                            idno: Some(idno.as_str()),
                            body: &fetched.body,
                        };
                        self.transform(run, tally, s.source, &stored).await?;
                    }
                    Stored::Unchanged(id) => {
                        tally.count(|c| c.pages_unchanged += 1);
                        if !latest.is_some_and(|l| l.id == id && l.is_transformed(version)) {
                            self.transform_stored(run, tally, s.source, id).await?;
                        }
                    }
                }
                Ok(DocResult::Done)
            }
            Outcome::NotModified => {
                tally.count(|c| {
                    c.pages_fetched += 1;
                    c.pages_unchanged += 1;
                });
                tally.document();
                if let Some(l) = latest
                    && !l.is_transformed(version)
                {
                    self.transform_stored(run, tally, s.source, l.id).await?;
                }
                Ok(DocResult::Done)
            }
            Outcome::NotFound => Ok(DocResult::NotFound),
            Outcome::Disallowed => {
                tally.error(&doc.url, "disallowed", "robots.txt disallows this URL");
                Ok(DocResult::Done)
            }
            Outcome::Failed { kind: why, message } => {
                tally.error(&doc.url, &why, &message);
                Ok(DocResult::Done)
            }
        }
    }

    /// Transform a stored document by id.
    async fn transform_stored(
        &self,
        run: &Run,
        tally: &Tally,
        source: &dyn Source,
        id: i64,
    ) -> sqlx::Result<()> {
        let Some(doc) = raw::get(&self.db, id).await? else {
            return Ok(());
        };
        let Some(kind) = DocumentKind::parse(&doc.kind) else {
            return Ok(());
        };
        let stored = StoredDoc {
            id,
            kind,
            url: &doc.url,
            fetched_at: doc.fetched_at,
            idno: doc.idno.as_deref(),
            body: &doc.body,
        };
        self.transform(run, tally, source, &stored).await?;
        Ok(())
    }

    /// Parse one document and write what it says; the IDNOs of a list page are returned.
    async fn transform(
        &self,
        run: &Run,
        tally: &Tally,
        source: &dyn Source,
        doc: &StoredDoc<'_>,
    ) -> sqlx::Result<Vec<Idno>> {
        let span =
            tracing::debug_span!("transform", document_id = doc.id, kind = doc.kind.as_str());
        self.transform_in_span(run, tally, source, doc)
            .instrument(span)
            .await
    }

    async fn transform_in_span(
        &self,
        run: &Run,
        tally: &Tally,
        source: &dyn Source,
        doc: &StoredDoc<'_>,
    ) -> sqlx::Result<Vec<Idno>> {
        let version = source.parser_version();
        let mut listed = Vec::new();
        match source.parse(doc.kind, doc.body) {
            Ok(Parsed::Company(record)) => {
                let provenance = Provenance {
                    url: doc.url,
                    fetched_at: doc.fetched_at,
                    document_id: doc.id,
                    parser_version: version,
                    run_id: Some(run.id()),
                    shard: Some(run.shard().index()),
                };
                let write = companies::upsert(&self.db, &record, &provenance).await?;
                run.metrics().company(run.source(), write.label());
                match write {
                    Write::Created => tally.count(|c| c.companies_created += 1),
                    Write::Updated(_) => tally.count(|c| c.companies_updated += 1),
                    Write::Unchanged => {}
                }
            }
            Ok(Parsed::Financials(years)) => {
                if let Some(idno) = doc.idno
                    && companies::exists(&self.db, idno).await?
                {
                    companies::upsert_financials(&self.db, idno, &years, doc.id).await?;
                }
            }
            Ok(Parsed::List(idnos)) => listed = idnos,
            Err(e) => {
                raw::mark_failed(&self.db, doc.id, &e.to_string(), version).await?;
                run.metrics().transform_error(run.source());
                tracing::warn!(document_id = doc.id, url = doc.url, error = %e, "transform failed");
                tally.error(doc.url, "parse", &e.to_string());
                return Ok(listed);
            }
        }
        raw::mark_parsed(&self.db, doc.id, version).await?;
        Ok(listed)
    }

    /// Re-run the transform of `source` over stored documents (the newest copy of each
    /// URL, optionally fetched since `since` or of one company). No fetching.
    pub async fn retransform(
        &self,
        run_id: Uuid,
        source: SourceName,
        since: Option<DateTime<Utc>>,
        idno: Option<&str>,
    ) -> anyhow::Result<RunSummary> {
        let span = tracing::info_span!("transform.run", run_id = %run_id);
        async {
            let adapter = self.sources.get(source)?;
            let new = NewRun::transform(run_id, source, since, idno);
            let run = Run::start(&self.db, &self.metrics, new, Shard::WHOLE).await?;
            let ending = match self
                .transform_all(&run, adapter.as_ref(), since, idno)
                .await
            {
                Ok(()) => Ending::Completed,
                Err(e) => Ending::Aborted(format!("the database failed: {e}")),
            };
            Ok(run.finish(ending).await)
        }
        .instrument(span)
        .await
    }

    async fn transform_all(
        &self,
        run: &Run,
        source: &dyn Source,
        since: Option<DateTime<Utc>>,
        idno: Option<&str>,
    ) -> sqlx::Result<()> {
        let docs = raw::latest_ids(&self.db, since, idno).await?;
        // Companies before their financials: financials need the company row.
        let (company_docs, other_docs): (Vec<_>, Vec<_>) = docs
            .into_iter()
            .partition(|(_, kind)| DocumentKind::parse(kind) != Some(DocumentKind::Financials));
        for (id, _) in company_docs.into_iter().chain(other_docs) {
            run.pending().document();
            self.transform_stored(run, run.pending(), source, id)
                .await?;
            run.progress().await?;
        }
        Ok(())
    }
}
