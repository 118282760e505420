//! Gleaner's ScrapeJob operator: the `ScrapeJob` resource and the controller that runs it as Jobs.

pub mod controller;
pub mod crd;
pub mod leader;
pub mod metrics;
pub mod plan;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod validation;
