//! Logs, traces and W3C propagation: the shared `gleaner-telemetry` crate, which the
//! operator uses too, re-exported so a service needs only this crate.

pub use gleaner_telemetry::*;
