//! `GET /ready`: the gateway is ready when every upstream is. Redis is not
//! required: without it the rate limits are kept in memory, and `/ready`
//! says so (`degraded`) while still answering 200.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fred::interfaces::ClientLike as _;
use fred::prelude::Pool;
use fred::types::config::Options;
use serde::Serialize;
use utoipa::ToSchema;

use crate::proxy::Upstream;

/// How long an upstream's `/ready` or Redis's `PING` may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/ready` looks at.
#[derive(Clone)]
pub struct ReadyChecks {
    /// The upstreams, each asked for its `/ready`.
    pub upstreams: Arc<[Upstream]>,
    /// Client for the checks.
    pub http: reqwest::Client,
    /// Redis (rate limits).
    pub redis: Pool,
}

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DependencyStatus {
    /// It answered.
    Ok,
    /// It does not answer, and the gateway works around it.
    Degraded,
    /// It does not answer, or is not ready.
    Unavailable,
}

/// The gateway's readiness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GatewayStatus {
    /// Every upstream and Redis answer.
    Ready,
    /// Every upstream answers; Redis does not (rate limits are per replica, in memory).
    Degraded,
    /// An upstream is not ready.
    Unavailable,
}

/// The body of `/ready`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayReadiness {
    /// `ready`, `degraded` (still 200) or `unavailable` (503).
    pub status: GatewayStatus,
    /// Each upstream and `redis`.
    pub checks: BTreeMap<String, DependencyStatus>,
}

/// `GET /ready`.
#[utoipa::path(
    get,
    path = "/ready",
    responses(
        (status = 200, description = "Every upstream is ready (Redis may be degraded)", body = GatewayReadiness),
        (status = 503, description = "An upstream is not ready, or the gateway is shutting down (`shutdown`); the failing ones are named", body = GatewayReadiness),
    ),
    tag = "ops"
)]
pub async fn ready(State(checks): State<ReadyChecks>) -> Response {
    if gleaner_common::server::is_draining() {
        // Shutting down: load balancers stop sending here before the port closes.
        let checks = BTreeMap::from([("shutdown".to_owned(), DependencyStatus::Unavailable)]);
        let body = GatewayReadiness {
            status: GatewayStatus::Unavailable,
            checks,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    let upstreams = futures::future::join_all(checks.upstreams.iter().map(|u| {
        let http = checks.http.clone();
        async move {
            let answered = http
                .get(format!("{}/ready", u.base))
                .timeout(CHECK_TIMEOUT)
                .send()
                .await;
            let status = match answered {
                Ok(r) if r.status().is_success() => DependencyStatus::Ok,
                Ok(r) => {
                    tracing::warn!(upstream = %u.name, status = r.status().as_u16(), "upstream not ready");
                    DependencyStatus::Unavailable
                }
                Err(error) => {
                    tracing::warn!(upstream = %u.name, %error, "upstream readiness check failed");
                    DependencyStatus::Unavailable
                }
            };
            (u.name.to_string(), status)
        }
    }));
    let (mut results, redis_ok) = tokio::join!(upstreams, redis_answers(&checks.redis));
    let redis = if redis_ok {
        DependencyStatus::Ok
    } else {
        DependencyStatus::Degraded
    };
    results.push(("redis".to_owned(), redis));
    let checks: BTreeMap<String, DependencyStatus> = results.into_iter().collect();
    let status = if checks.values().any(|s| *s == DependencyStatus::Unavailable) {
        GatewayStatus::Unavailable
    } else if checks.values().any(|s| *s == DependencyStatus::Degraded) {
        GatewayStatus::Degraded
    } else {
        GatewayStatus::Ready
    };
    let code = if status == GatewayStatus::Unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(GatewayReadiness { status, checks })).into_response()
}

async fn redis_answers(redis: &Pool) -> bool {
    let options = Options {
        fail_fast: true,
        timeout: Some(CHECK_TIMEOUT),
        max_attempts: Some(1),
        ..Default::default()
    };
    redis
        .next()
        .with_options(&options)
        .ping::<String>(None)
        .await
        .is_ok()
}
