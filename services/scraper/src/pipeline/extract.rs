//! Extract and load: the documents of a run's targets fetched politely, each stored raw
//! before anything reads it, then handed to the transform.

use std::collections::{HashSet, VecDeque};

use chrono::Utc;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use gleaner_scrapejob::Idno;
use tracing::Instrument;

use super::Pipeline;
use super::transform::{Read, StoredDoc};
use crate::fetch::{Fetcher, Outcome, Validators};
use crate::run::{Run, Tally};
use crate::source::{Document, DocumentKind, Parsed, Source};
use crate::spec::RunSpec;
use crate::store::raw::{self, Stored};

/// What one scrape works with.
pub(super) struct Scrape<'a> {
    pub(super) run: &'a Run,
    pub(super) source: &'a dyn Source,
    pub(super) fetcher: &'a Fetcher,
    pub(super) spec: &'a RunSpec,
}

/// What happened to one document.
enum DocResult {
    /// Read (or failed for good, reported): the company's record needs no other document.
    Done,
    /// The source does not have it.
    NotFound,
    /// Received and stored, but it does not parse (reported): another document may
    /// say the same.
    Unreadable,
}

impl From<Read> for DocResult {
    fn from(read: Read) -> Self {
        match read {
            Read::Done(_) => DocResult::Done,
            Read::Unreadable => DocResult::Unreadable,
        }
    }
}

impl Pipeline {
    /// Walk this shard's IDNOs and list pages, `concurrency` companies at a time.
    /// Only one list page of IDNOs is held at once, so memory stays flat.
    pub(super) async fn scrape_targets(&self, s: &Scrape<'_>) -> sqlx::Result<()> {
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
                let listed = match self.transform(run, tally, s.source, &stored).await? {
                    Read::Done(listed) => listed,
                    Read::Unreadable => Vec::new(),
                };
                Ok((listed, true))
            }
            Outcome::NotFound => {
                tally.error(&doc.url, "not_found", "list page not found");
                Ok((vec![], false))
            }
            Outcome::NotModified => Ok((vec![], false)),
            Outcome::Disallowed => {
                tally.skipped();
                Ok((vec![], false))
            }
            Outcome::Failed { kind, message } => {
                tally.error(&doc.url, &kind, &message);
                Ok((vec![], false))
            }
        }
    }

    /// One company: its record documents in the source's order until one is read (one
    /// the source does not have, or that does not parse, gives way to the next), then
    /// the others; then its counts are committed and it is noted done.
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
                    // Kept and reported already; the next document may be read.
                    DocResult::Unreadable => missing = None,
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

    /// Fetch (conditionally), store if new, transform if not yet transformed. A copy
    /// already transformed by this parser version is read; one that failed to parse
    /// is parsed again (and is unreadable again if it still fails).
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
                let read = match stored {
                    Stored::New(id) => {
                        let stored = StoredDoc {
                            id,
                            kind: doc.kind,
                            url: &doc.url,
                            fetched_at: Utc::now(),
                            idno: Some(idno.as_str()),
                            body: &fetched.body,
                        };
                        self.transform(run, tally, s.source, &stored).await?
                    }
                    Stored::Unchanged(id) => {
                        tally.count(|c| c.pages_unchanged += 1);
                        if latest.is_some_and(|l| l.id == id && l.is_transformed(version)) {
                            Read::Done(Vec::new())
                        } else {
                            self.transform_stored(run, tally, s.source, id).await?
                        }
                    }
                };
                Ok(read.into())
            }
            Outcome::NotModified => {
                tally.count(|c| {
                    c.pages_fetched += 1;
                    c.pages_unchanged += 1;
                });
                tally.document();
                match latest {
                    Some(l) if !l.is_transformed(version) => Ok(self
                        .transform_stored(run, tally, s.source, l.id)
                        .await?
                        .into()),
                    _ => Ok(DocResult::Done),
                }
            }
            Outcome::NotFound => Ok(DocResult::NotFound),
            Outcome::Disallowed => {
                tally.skipped();
                Ok(DocResult::Done)
            }
            Outcome::Failed { kind: why, message } => {
                tally.error(&doc.url, &why, &message);
                Ok(DocResult::Done)
            }
        }
    }
}
