//! What every Gleaner service needs, written once: settings helpers,
//! telemetry, problem+json errors and extractors, request ids, ops
//! endpoints, access-token verification, PostgreSQL/Redis set-up and the
//! transactional outbox relay.
#![warn(missing_docs)]

pub mod auth;
pub mod client_addr;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod observe;
pub mod openapi;
pub mod outbox;
pub mod pagination;
pub mod ratelimit;
pub mod redis;
pub mod request_context;
pub mod runs;
pub mod server;
pub mod settings;
pub mod telemetry;

pub use error::{ApiError, ApiResult, FieldError};
pub use extract::{Json, Path, Query};

/// Install the process-wide rustls crypto provider (ring) once, before any TLS use.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
