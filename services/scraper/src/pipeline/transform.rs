//! Transform: a stored document parsed by its source and what it says written (a
//! company with its history and event, financials), or its parse failure recorded.

use chrono::{DateTime, Utc};
use gleaner_scrapejob::Idno;
use tracing::Instrument;

use super::Pipeline;
use crate::run::{Run, Tally};
use crate::source::{DocumentKind, Parsed, Source};
use crate::store::companies::{self, Provenance, Write};
use crate::store::raw;

/// A stored document to transform.
pub(super) struct StoredDoc<'a> {
    pub(super) id: i64,
    pub(super) kind: DocumentKind,
    pub(super) url: &'a str,
    pub(super) fetched_at: DateTime<Utc>,
    pub(super) idno: Option<&'a str>,
    pub(super) body: &'a [u8],
}

/// What the transform made of a document.
pub(super) enum Read {
    /// Parsed, and what it says written; the IDNOs a list page names (none for
    /// other documents).
    Done(Vec<Idno>),
    /// It does not parse: recorded on the document and reported as a failure.
    Unreadable,
}

impl Pipeline {
    /// Transform a stored document by id.
    pub(super) async fn transform_stored(
        &self,
        run: &Run,
        tally: &Tally,
        source: &dyn Source,
        id: i64,
    ) -> sqlx::Result<Read> {
        // A document gone, or of a kind this version does not know: nothing to read.
        let Some(doc) = raw::get(&self.db, id).await? else {
            return Ok(Read::Done(Vec::new()));
        };
        let Some(kind) = DocumentKind::parse(&doc.kind) else {
            return Ok(Read::Done(Vec::new()));
        };
        let stored = StoredDoc {
            id,
            kind,
            url: &doc.url,
            fetched_at: doc.fetched_at,
            idno: doc.idno.as_deref(),
            body: &doc.body,
        };
        self.transform(run, tally, source, &stored).await
    }

    /// Parse one document and write what it says (the IDNOs of a list page are returned),
    /// or record and report that it does not parse.
    pub(super) async fn transform(
        &self,
        run: &Run,
        tally: &Tally,
        source: &dyn Source,
        doc: &StoredDoc<'_>,
    ) -> sqlx::Result<Read> {
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
    ) -> sqlx::Result<Read> {
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
                return Ok(Read::Unreadable);
            }
        }
        raw::mark_parsed(&self.db, doc.id, version).await?;
        Ok(Read::Done(listed))
    }

    /// Transform the newest stored copy of every document a re-transform covers.
    pub(super) async fn transform_all(
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
