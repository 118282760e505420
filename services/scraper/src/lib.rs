//! Gleaner scraper: an ELT pipeline for openmoney.md. Extract documents
//! politely, Load them raw into PostgreSQL, Transform them into company
//! records with full change history; serve company search and detail.

pub mod company;
pub mod config;
pub mod egress;
pub mod export;
pub mod fetch;
pub mod limit;
pub mod metrics;
pub mod names;
pub mod pipeline;
pub mod relations;
pub mod routes;
pub mod run;
pub mod source;
pub mod spec;
pub mod startup;
pub mod state;
pub mod store;
