//! The ScrapeJob vocabulary, defined once for every crate that speaks it: the spec and its
//! limits, validation, the run summary and status, the settings a run reads, among them the
//! egress settings that say where a run may connect.
#![warn(missing_docs)]

#[cfg(feature = "crd")]
pub mod crd;
pub mod egress;
pub mod env;
#[cfg(feature = "cron")]
pub mod history;
pub mod idno;
pub mod limits;
#[cfg(feature = "cron")]
pub mod schedule;
#[cfg(feature = "testing")]
pub mod schedule_cases;
#[cfg(feature = "cron")]
pub mod scheduling;
pub mod shard;
pub mod spec;
pub mod summary;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "cron")]
pub mod trigger;

pub use gleaner_egress::{InvalidSourceUrl, SourceUrl};
pub use idno::{Idno, InvalidIdno};
pub use shard::Shard;
pub use spec::{
    ConcurrencyPolicy, FieldError, InvalidSpec, PageRange, ScrapeJobSpec, Source, SpecJsonError,
    Targets, validate_name,
};
pub use summary::{RunStatus, RunSummary};
