//! Gleaner's bundled demo site: an offline stand-in for openmoney.md.
//!
//! It serves the openmoney JSON API and HTML company pages from a
//! deterministic, generated set of invented Moldovan companies, and can misbehave
//! on request (faults, missing API documents, changed companies) for tests.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use gleaner_demo_site::{DemoConfig, DemoSite, Fault};
//! let site = DemoSite::start(DemoConfig::new(42, 50)).await?;
//! let base = site.url(); // http://127.0.0.1:PORT, apiUrl and baseUrl
//! site.fail_next(2, Fault::ServiceUnavailable);
//! let first = &site.companies()[0];
//! let expected = gleaner_demo_site::expected_company(first);
//! # let _ = (base, expected); Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod conditional;
pub mod config;
pub mod control;
pub mod data;
pub mod faults;
pub mod relations;
pub mod render;
pub mod routes;
pub mod server;

pub use config::{DEFAULT_ROBOTS_TXT, DemoConfig};
pub use control::{DemoControl, RequestRecord};
pub use data::{
    Activity, Address, CompanyAdministrator, CompanyFounder, Cuatm, DemoCompany,
    FinancialStatement, PersonAdministrator, PersonFounder, PoolPerson, company, generate,
    idno_for, index_of_idno, is_holding, pool_person,
};
pub use faults::Fault;
pub use relations::{
    CompanyLink, CompanyRelations, ExpectedPerson, PersonRole, Role, expected_links,
    expected_people, linked_idno, person_key, relations,
};
pub use render::{
    FinancialShape, Layout, api_company, api_financials, api_financials_in, api_summary,
    expected_company, expected_financials, html_company, html_company_in, localized_number,
};
pub use routes::router;
pub use server::{DemoSite, DemoSiteHandle, serve};
