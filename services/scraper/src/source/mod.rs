//! Sources: everything specific to one site sits behind the [`Source`] trait, so the
//! pipeline (extract, load, transform, runs, history, outbox) knows no site's URLs and
//! no site's field names. A ScrapeJob names its source (`spec.source`); the
//! [`Sources`] registry finds the adapter for that name.

pub mod dom;
pub mod openmoney;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use gleaner_scrapejob::Idno;
pub use gleaner_scrapejob::Source as SourceName;

use crate::company::{CompanyRecord, FinancialYear};
use crate::spec::RunSpec;

/// What a raw document holds, whatever the source (stored with the document and a
/// metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// A registry list page: the companies on it.
    CompanyList,
    /// A company's record, in the source's primary format.
    Company,
    /// A company's financial statements.
    Financials,
    /// A company's record as a web page (read when the primary format has no answer).
    CompanyHtml,
}

impl DocumentKind {
    /// Every kind.
    pub const ALL: [DocumentKind; 4] = [
        DocumentKind::CompanyList,
        DocumentKind::Company,
        DocumentKind::Financials,
        DocumentKind::CompanyHtml,
    ];

    /// Name stored in the database and used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::CompanyList => "company_list",
            DocumentKind::Company => "company",
            DocumentKind::Financials => "financials",
            DocumentKind::CompanyHtml => "company_html",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "company_list" => DocumentKind::CompanyList,
            "company" => DocumentKind::Company,
            "financials" => DocumentKind::Financials,
            "company_html" => DocumentKind::CompanyHtml,
            _ => return None,
        })
    }
}

/// Why a document could not be transformed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// Not valid JSON / not the expected shape.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A required field is missing or malformed.
    #[error("{0}")]
    Field(String),
}

/// One document a run fetches: where, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Absolute URL.
    pub url: String,
    /// What the document holds (stored with it, and a metric label).
    pub kind: DocumentKind,
}

impl Document {
    /// A document of `kind` at `url`.
    pub fn new(url: impl Into<String>, kind: DocumentKind) -> Self {
        Self {
            url: url.into(),
            kind,
        }
    }
}

/// The documents a run fetches for one company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyDocuments {
    /// Documents that each hold the whole company record, tried in this order until
    /// one is found (a 404 moves on to the next one).
    pub record: Vec<Document>,
    /// Documents fetched after the record (financial statements, ...); one that does
    /// not exist is normal.
    pub extra: Vec<Document>,
}

/// What a parser read from one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// The companies on a registry list page.
    List(Vec<Idno>),
    /// One company's record.
    Company(Box<CompanyRecord>),
    /// One company's financial statements, oldest year first.
    Financials(Vec<FinancialYear>),
}

/// A site the scraper reads: how to reach its documents and how to read them.
/// Parsing is a pure function of the bytes, so any stored document can be
/// transformed again at will.
pub trait Source: Send + Sync {
    /// Version of the parsers; stored on every record they produce, so documents
    /// parsed by another version are transformed again.
    fn parser_version(&self) -> i32;

    /// Registry list page `page` (from 1) of the site `spec` points at.
    fn list_page(&self, spec: &RunSpec, page: u32) -> Document;

    /// The documents about company `idno`.
    fn company_documents(&self, spec: &RunSpec, idno: &Idno) -> CompanyDocuments;

    /// Read a document of `kind`.
    fn parse(&self, kind: DocumentKind, body: &[u8]) -> Result<Parsed, ParseError>;
}

/// The adapter of each source a spec may name.
#[derive(Clone)]
pub struct Sources(HashMap<SourceName, Arc<dyn Source>>);

impl Sources {
    /// Every source the scraper ships with.
    pub fn builtin() -> Self {
        let mut sources = Self(HashMap::new());
        for name in SourceName::ALL {
            let adapter: Arc<dyn Source> = match name {
                SourceName::Openmoney => Arc::new(openmoney::OpenMoney::default()),
            };
            sources.register(name, adapter);
        }
        sources
    }

    /// Serve specs naming `name` with `adapter` (replacing the one there was).
    pub fn register(&mut self, name: SourceName, adapter: Arc<dyn Source>) {
        self.0.insert(name, adapter);
    }

    /// The adapter for `name`.
    pub fn get(&self, name: SourceName) -> Result<Arc<dyn Source>, UnknownSource> {
        self.0.get(&name).cloned().ok_or(UnknownSource(name))
    }
}

impl Default for Sources {
    fn default() -> Self {
        Self::builtin()
    }
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A spec names a source no adapter serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no adapter serves the source {0}")]
pub struct UnknownSource(pub SourceName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_kinds_read_back_from_their_stored_names() {
        for kind in [
            DocumentKind::CompanyList,
            DocumentKind::Company,
            DocumentKind::Financials,
            DocumentKind::CompanyHtml,
        ] {
            assert_eq!(DocumentKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(DocumentKind::parse("robots"), None);
    }

    struct Nowhere;

    impl Source for Nowhere {
        fn parser_version(&self) -> i32 {
            -1
        }
        fn list_page(&self, _: &RunSpec, page: u32) -> Document {
            Document::new(
                format!("http://127.0.0.1:9/{page}"),
                DocumentKind::CompanyList,
            )
        }
        fn company_documents(&self, _: &RunSpec, _: &Idno) -> CompanyDocuments {
            CompanyDocuments {
                record: vec![],
                extra: vec![],
            }
        }
        fn parse(&self, _: DocumentKind, _: &[u8]) -> Result<Parsed, ParseError> {
            Err(ParseError::Field("nothing here".into()))
        }
    }

    #[test]
    fn a_registered_adapter_serves_its_name() {
        let mut sources = Sources::builtin();
        assert_ne!(
            sources
                .get(SourceName::Openmoney)
                .map(|s| s.parser_version()),
            Ok(-1)
        );
        sources.register(SourceName::Openmoney, Arc::new(Nowhere));
        assert_eq!(
            sources
                .get(SourceName::Openmoney)
                .map(|s| s.parser_version()),
            Ok(-1)
        );
    }

    #[test]
    fn every_source_a_spec_may_name_has_an_adapter() {
        let sources = Sources::builtin();
        for name in SourceName::ALL {
            assert!(sources.get(name).is_ok(), "{name}");
        }
    }
}
