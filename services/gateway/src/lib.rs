//! The gateway: Gleaner's single entry point. It routes each request to the
//! service that owns it (a route table in settings), checks access tokens at
//! the edge, limits request rates per user or client address (atomically in
//! Redis, in memory while Redis is away), streams bodies both ways, and
//! serves one Swagger UI over every service's API and one readiness over
//! every service.

pub mod config;
pub mod docs;
pub mod edge;
pub mod headers;
pub mod limiter;
pub mod metrics;
pub mod proxy;
pub mod ready;
pub mod route_table;
pub mod startup;
