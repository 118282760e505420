//! Telemetry every Gleaner binary shares, written once: the log subscriber (JSON
//! lines or pretty, `RUST_LOG`), OpenTelemetry traces configured by the standard
//! `OTEL_*` variables, W3C trace propagation, the `/ready` body, the Prometheus
//! text exposition and the shutdown signal.
//!
//! It has no database, cache or token dependencies, so the operator can use it.
#![warn(missing_docs)]

pub mod allocator;
mod exposition;
mod logs;
mod readiness;
pub mod settings;
mod shutdown;
mod trace;

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use exposition::{encode_metrics, metrics_response};
pub use logs::{LogFormat, init_for_tests, json_layer};
pub use readiness::{CheckStatus, Readiness, ReadyStatus, health};
pub use settings::LogSettings;
pub use shutdown::shutdown_signal;
pub use trace::{
    TraceContext, inject_context, inject_current_context, set_parent_from_headers,
    set_parent_from_traceparent, trace_context, trace_ids,
};

/// What the standard `OTEL_*` variables ask of traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMode {
    /// `OTEL_SDK_DISABLED=true`: no OpenTelemetry SDK at all.
    Disabled,
    /// Spans get real trace ids (so they propagate and appear in logs) but are not exported.
    Local,
    /// Spans are exported over OTLP (`OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set, and `OTEL_TRACES_EXPORTER` not `none`).
    Export,
}

impl TraceMode {
    /// The mode the variables looked up by `env` ask for.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Self {
        let is = |name: &str, value: &str| {
            env(name).is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
        };
        if is("OTEL_SDK_DISABLED", "true") {
            return TraceMode::Disabled;
        }
        if is("OTEL_TRACES_EXPORTER", "none") {
            return TraceMode::Local;
        }
        let endpoint = [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()));
        if endpoint {
            TraceMode::Export
        } else {
            TraceMode::Local
        }
    }
}

/// Flushes and stops trace export when dropped.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("trace provider shutdown: {e}");
        }
    }
}

/// Install the global subscriber of `service`: the `RUST_LOG` filter (default
/// `info`), log lines in `format`, the W3C trace-context propagator and, unless
/// `OTEL_SDK_DISABLED=true`, an OpenTelemetry layer whose spans are exported over
/// OTLP when an endpoint is configured (see [`TraceMode`]).
pub fn init(service: &str, format: LogFormat) -> anyhow::Result<TelemetryGuard> {
    init_with_mode(
        service,
        format,
        TraceMode::from_env(|k| std::env::var(k).ok()),
    )
}

/// [`init`] with the trace mode given rather than read from the environment.
pub fn init_with_mode(
    service: &str,
    format: LogFormat,
    mode: TraceMode,
) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = match mode {
        TraceMode::Disabled => None,
        TraceMode::Local | TraceMode::Export => {
            let mut resource = Resource::builder();
            if std::env::var("OTEL_SERVICE_NAME").is_err() {
                resource = resource.with_service_name(service.to_owned());
            }
            let mut builder = SdkTracerProvider::builder().with_resource(resource.build());
            if mode == TraceMode::Export {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .build()
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the exporter: {e}"
                        )
                    })?;
                builder = builder.with_batch_exporter(exporter);
            }
            let provider = builder.build();
            global::set_tracer_provider(provider.clone());
            Some(provider)
        }
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service.to_owned())));
    let registry = tracing_subscriber::registry()
        .with(logs::env_filter()?)
        .with(otel);
    match format {
        LogFormat::Json => registry
            .with(json_layer(service, std::io::stdout))
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    }
    .map_err(|e| anyhow::anyhow!("a global subscriber is already installed: {e}"))?;
    Ok(TelemetryGuard { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn trace_export_follows_the_standard_variables() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317");
        assert_eq!(TraceMode::from_env(env(&[])), TraceMode::Local);
        assert_eq!(TraceMode::from_env(env(&[endpoint])), TraceMode::Export);
        assert_eq!(
            TraceMode::from_env(env(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://otel:4317"
            )])),
            TraceMode::Export
        );
        assert_eq!(
            TraceMode::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])),
            TraceMode::Local
        );
        assert_eq!(
            TraceMode::from_env(env(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")])),
            TraceMode::Local
        );
    }

    #[test]
    fn otel_sdk_disabled_turns_tracing_off_whatever_else_is_set() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317");
        assert_eq!(
            TraceMode::from_env(env(&[endpoint, ("OTEL_SDK_DISABLED", "true")])),
            TraceMode::Disabled
        );
        assert_eq!(
            TraceMode::from_env(env(&[("OTEL_SDK_DISABLED", " TRUE ")])),
            TraceMode::Disabled
        );
        assert_eq!(
            TraceMode::from_env(env(&[endpoint, ("OTEL_SDK_DISABLED", "false")])),
            TraceMode::Export
        );
    }
}
