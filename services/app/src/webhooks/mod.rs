//! Webhooks: a user's own endpoints that receive their notifications as signed HTTP
//! requests (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
//!
//! A delivery is made in the same transaction as the notification it carries, so none is
//! lost and none is made for a notification that was rolled back. The [`delivery`] worker
//! claims due deliveries with `FOR UPDATE SKIP LOCKED` under a lease, sends them through a
//! client that only connects where the egress policy allows, and retries failures with
//! exponential backoff and jitter; a webhook failing for a day is disabled and its owner
//! notified.

pub mod delivery;
pub mod model;
pub mod routes;
pub mod signing;
pub mod store;
pub mod target;

pub use model::{Delivery, DeliveryStatus, Webhook};
