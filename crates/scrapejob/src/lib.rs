//! The ScrapeJob vocabulary, defined once for every crate that speaks it: the spec and its
//! limits, validation, the run summary and status, the settings a run reads, and the egress
//! policy that says where a run may connect.

#[cfg(feature = "crd")]
pub mod crd;
pub mod egress;
pub mod env;
pub mod idno;
pub mod limits;
#[cfg(feature = "cron")]
pub mod schedule;
pub mod shard;
pub mod source_url;
pub mod spec;
pub mod summary;
#[cfg(feature = "testing")]
pub mod testing;

pub use idno::{Idno, InvalidIdno};
pub use shard::Shard;
pub use source_url::{InvalidSourceUrl, SourceUrl};
pub use spec::{
    ConcurrencyPolicy, FieldError, InvalidSpec, PageRange, ScrapeJobSpec, Source, SpecJsonError,
    Targets, validate_name,
};
pub use summary::{RunStatus, RunSummary};
