//! What the webhooks API shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A webhook, as listed (the secret is shown only when it is created).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Webhook {
    /// Webhook id.
    pub id: Uuid,
    /// Where deliveries are sent (`POST`).
    pub url: String,
    /// The owner's note.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Whether it was disabled after its deliveries failed for 24 hours (nothing more is
    /// sent to it; delete it and create it again once the endpoint works).
    pub disabled: bool,
}

/// A webhook just created, with its signing secret: the only time it is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` + base64 of the HMAC-SHA256 signing key: verify `webhook-signature`
    /// with it. Returned only here.
    pub secret: String,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An absolute `https` URL (`http` only where the service allows it), at most 2048
    /// characters, without user name or password.
    pub url: String,
    /// A note for the owner, at most 1000 characters.
    pub description: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet: in flight or waiting for its next attempt.
    Pending,
    /// An attempt was answered with a 2xx.
    Delivered,
    /// Given up: its attempts ran out, or the webhook was disabled.
    Failed,
}

/// One event sent (or to be sent) to a webhook.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Delivery {
    /// Delivery id; also the `webhook-id` header of every attempt.
    pub id: Uuid,
    /// The event: `company.changed` or `webhook.test`.
    pub event: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// The HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<i32>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the next attempt is due (`null` once delivered or failed).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the delivery was made.
    pub created_at: DateTime<Utc>,
}
