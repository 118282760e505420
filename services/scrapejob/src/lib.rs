//! The ScrapeJob vocabulary, defined once for every crate that speaks it: the spec and its
//! limits, validation, the run summary and status, the settings a run reads, and the egress
//! policy that says where a run may connect.

pub mod egress;
