//! Gleaner's ScrapeJob operator: the `ScrapeJob` resource and the controller that runs it as Jobs.

pub mod crd;
pub mod plan;
pub mod run;
pub mod schedule;
pub mod validation;
