//! Identity integration tests: the real application on port 0, a fresh
//! PostgreSQL database and a private Redis per test.

mod helpers;

mod accounts;
mod admin;
mod audit;
mod auth;
mod faults;
mod ops;
mod outbox;
mod security;
mod tokens;
mod user_cache;
