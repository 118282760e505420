//! `/health` (the process answers; no dependency is checked) and the one `/ready` body: `{"status":"ready"|"unavailable","checks":{"<dependency>":"ok"|"unavailable"}}`,
//! 200 when every dependency answers, 503 naming the ones that do not. Why a check
//! failed is logged, never returned: a driver's error text can carry host names,
//! user names and versions.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// `GET /health`: `{"status":"ok"}` whenever the process answers.
pub async fn health() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

/// Whether the process can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadyStatus {
    /// Every dependency answers.
    Ready,
    /// At least one dependency does not.
    Unavailable,
}

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// It answered.
    Ok,
    /// It did not answer, or answered with an error, in time.
    Unavailable,
}

/// The body of `/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready` when every check is `ok`.
    pub status: ReadyStatus,
    /// Each dependency by name.
    pub checks: BTreeMap<String, CheckStatus>,
}

impl Readiness {
    /// The readiness of a process with these dependency checks.
    pub fn from_checks<N: Into<String>>(
        checks: impl IntoIterator<Item = (N, CheckStatus)>,
    ) -> Self {
        let checks: BTreeMap<String, CheckStatus> =
            checks.into_iter().map(|(n, s)| (n.into(), s)).collect();
        let status = if checks.values().all(|s| *s == CheckStatus::Ok) {
            ReadyStatus::Ready
        } else {
            ReadyStatus::Unavailable
        };
        Readiness { status, checks }
    }

    /// Whether every dependency answered.
    pub fn is_ready(&self) -> bool {
        self.status == ReadyStatus::Ready
    }

    /// The dependencies that did not answer.
    pub fn failing(&self) -> impl Iterator<Item = &str> {
        self.checks
            .iter()
            .filter(|(_, s)| **s != CheckStatus::Ok)
            .map(|(n, _)| n.as_str())
    }
}

impl IntoResponse for Readiness {
    fn into_response(self) -> Response {
        let status = if self.is_ready() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, axum::Json(self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn body_json(response: Response) -> serde_json::Value {
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        serde_json::from_slice(&body).unwrap_or_default()
    }

    #[tokio::test]
    async fn one_failing_dependency_makes_a_503_naming_it() {
        let r = Readiness::from_checks([
            ("postgres", CheckStatus::Ok),
            ("redis", CheckStatus::Unavailable),
        ]);
        assert!(!r.is_ready());
        assert_eq!(r.failing().collect::<Vec<_>>(), ["redis"]);
        let response = r.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = body_json(response).await;
        assert_eq!(
            body,
            json!({"status": "unavailable", "checks": {"postgres": "ok", "redis": "unavailable"}})
        );
    }

    #[tokio::test]
    async fn all_answering_is_a_200() {
        let response =
            Readiness::from_checks([("kubernetes-api", CheckStatus::Ok)]).into_response();
        assert_eq!(response.status(), StatusCode::OK);
        let body = body_json(response).await;
        assert_eq!(
            body,
            json!({"status": "ready", "checks": {"kubernetes-api": "ok"}})
        );
        let none = Readiness::from_checks(Vec::<(String, CheckStatus)>::new());
        assert!(none.is_ready(), "a process with no dependencies is ready");
    }
}
