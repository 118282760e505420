//! Gleaner identity service: users, roles, bcrypt, EdDSA access tokens,
//! rotating refresh tokens, revocation, sessions in Redis, and a
//! transactional outbox of user events.

pub mod accounts;
pub mod audit;
pub mod config;
pub mod domain;
pub mod keys;
pub mod metrics;
pub mod password;
pub mod routes;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod throttle;
pub mod tokens;
pub mod user_cache;
pub mod users;
