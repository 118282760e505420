//! `/metrics`: the Prometheus text exposition of a registry.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, Registry, TextEncoder};

/// Every metric of `registry` as Prometheus text.
pub fn encode_metrics(registry: &Registry) -> Result<String, prometheus::Error> {
    let mut buf = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buf)?;
    String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

/// The `/metrics` response for `registry` (500, logged, if it cannot be encoded).
pub fn metrics_response(registry: &Registry) -> Response {
    match encode_metrics(registry) {
        Ok(text) => (
            [(header::CONTENT_TYPE, TextEncoder::new().format_type())],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus::{IntCounterVec, Opts};

    use super::*;

    #[tokio::test]
    async fn serves_the_text_format() {
        let registry = Registry::new();
        let c = IntCounterVec::new(Opts::new("things_total", "Things"), &["kind"])
            .unwrap_or_else(|e| panic!("static metric definition: {e}"));
        registry
            .register(Box::new(c.clone()))
            .unwrap_or_else(|e| panic!("unique name: {e}"));
        c.with_label_values(&["a"]).inc();
        let response = metrics_response(&registry);
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/plain; version=0.0.4")
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(r#"things_total{kind="a"} 1"#), "{text}");
    }
}
