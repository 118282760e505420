//! openmoney.md: a JSON API with registry list pages, company details and
//! financial statements, and an HTML company page read when the API has no answer.

pub mod parse;

use gleaner_scrapejob::Idno;

use super::{CompanyDocuments, Document, DocumentKind, ParseError, Parsed, Source};
use crate::company::{CompanyRecord, FinancialYear};
use crate::spec::RunSpec;
use parse::PARSER_VERSION;

/// Companies per registry list page.
pub const LIST_PAGE_SIZE: u32 = 100;

/// The parsers the adapter uses; tests swap in older or broken ones.
#[derive(Debug, Clone, Copy)]
pub struct Parsers {
    /// Version recorded on what these parsers produce.
    pub version: i32,
    /// `{apiUrl}/api/companies/{idno}`.
    pub company_json: fn(&[u8]) -> Result<CompanyRecord, ParseError>,
    /// `{baseUrl}/companies/{idno}`.
    pub company_html: fn(&[u8]) -> Result<CompanyRecord, ParseError>,
    /// `{apiUrl}/api/fin-data-v1/{idno}`.
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

/// The openmoney adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenMoney {
    parsers: Parsers,
}

impl OpenMoney {
    /// The adapter with other parsers (tests: a "buggy" parser, then the fix).
    pub fn with_parsers(parsers: Parsers) -> Self {
        Self { parsers }
    }
}

impl Source for OpenMoney {
    fn parser_version(&self) -> i32 {
        self.parsers.version
    }

    fn list_page(&self, spec: &RunSpec, page: u32) -> Document {
        Document::new(
            format!(
                "{}/api/companies?page={page}&size={LIST_PAGE_SIZE}",
                spec.api_root()
            ),
            DocumentKind::CompanyList,
        )
    }

    fn company_documents(&self, spec: &RunSpec, idno: &Idno) -> CompanyDocuments {
        CompanyDocuments {
            record: vec![
                Document::new(
                    format!("{}/api/companies/{idno}", spec.api_root()),
                    DocumentKind::Company,
                ),
                Document::new(
                    format!("{}/companies/{idno}", spec.base_root()),
                    DocumentKind::CompanyHtml,
                ),
            ],
            extra: vec![Document::new(
                format!("{}/api/fin-data-v1/{idno}", spec.api_root()),
                DocumentKind::Financials,
            )],
        }
    }

    fn parse(&self, kind: DocumentKind, body: &[u8]) -> Result<Parsed, ParseError> {
        match kind {
            DocumentKind::CompanyList => {
                parse::parse_company_list(body).map(|list| Parsed::List(list.idnos))
            }
            DocumentKind::Company => {
                (self.parsers.company_json)(body).map(|r| Parsed::Company(Box::new(r)))
            }
            DocumentKind::CompanyHtml => {
                (self.parsers.company_html)(body).map(|r| Parsed::Company(Box::new(r)))
            }
            DocumentKind::Financials => (self.parsers.financials)(body).map(Parsed::Financials),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> RunSpec {
        serde_json::from_value(json!({
            "baseUrl": "https://openmoney.md/", "apiUrl": "https://api.openmoney.md",
            "targets": {"listPages": {"from": 1, "to": 2}}
        }))
        .unwrap()
    }

    #[test]
    fn documents_are_built_from_the_spec_roots() {
        let om = OpenMoney::default();
        let idno = Idno::parse("1003600012345").unwrap();
        assert_eq!(
            om.list_page(&spec(), 3),
            Document::new(
                "https://api.openmoney.md/api/companies?page=3&size=100",
                DocumentKind::CompanyList
            )
        );
        let docs = om.company_documents(&spec(), &idno);
        let urls: Vec<(&str, DocumentKind)> = docs
            .record
            .iter()
            .chain(&docs.extra)
            .map(|d| (d.url.as_str(), d.kind))
            .collect();
        assert_eq!(
            urls,
            [
                (
                    "https://api.openmoney.md/api/companies/1003600012345",
                    DocumentKind::Company
                ),
                (
                    "https://openmoney.md/companies/1003600012345",
                    DocumentKind::CompanyHtml
                ),
                (
                    "https://api.openmoney.md/api/fin-data-v1/1003600012345",
                    DocumentKind::Financials
                ),
            ]
        );
    }

    #[test]
    fn each_kind_goes_to_its_parser() {
        let om = OpenMoney::default();
        let list = br#"{"data":[{"idno":"1003600012345"},{"idno":"12"}],"totalItemCount":2}"#;
        assert_eq!(
            om.parse(DocumentKind::CompanyList, list),
            Ok(Parsed::List(vec![Idno::parse("1003600012345").unwrap()]))
        );
        let company = br#"{"idno":"1003600012345","fullName":"Agro SRL","isActive":true}"#;
        assert!(matches!(
            om.parse(DocumentKind::Company, company),
            Ok(Parsed::Company(r)) if r.name == "Agro SRL"
        ));
        assert!(matches!(
            om.parse(DocumentKind::Financials, br#"[{"year":2022,"CODE_2_010":5}]"#),
            Ok(Parsed::Financials(years)) if years.len() == 1 && years[0].revenue == Some(5.0)
        ));
        assert!(om.parse(DocumentKind::Company, b"<html></html>").is_err());
    }
}
