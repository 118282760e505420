//! Log lines: one JSON object per line (the default) or pretty text for humans.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default, for log collectors).
    #[default]
    Json,
    /// Human-readable, coloured when a terminal.
    Pretty,
}

/// The `RUST_LOG` filter, `info` when unset.
pub(crate) fn env_filter() -> anyhow::Result<EnvFilter> {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new("info"))
        .map_err(|e| anyhow::anyhow!("RUST_LOG: {e}"))
}

/// The JSON-lines layer of `service`, writing to `writer`.
pub fn json_layer<S, W>(service: &str, writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(AppendJsonFields)
        .event_format(JsonLines {
            service: service.to_owned(),
        })
        .with_writer(writer)
}

/// A span's fields as one JSON object, as `tracing-subscriber`'s `JsonFields` writes
/// them, except that fields recorded later (`span.record(...)`) are appended to the
/// object instead of parsing it and writing it whole again. A field recorded twice
/// then appears twice; [`JsonLines`] reads the object into a map, where the later
/// value wins, as it did.
struct AppendJsonFields;

impl<'w> FormatFields<'w> for AppendJsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut members = Members::default();
        fields.record(&mut members);
        writer.write_char('{')?;
        writer.write_str(&members.text)?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let mut members = Members::default();
        fields.record(&mut members);
        if members.text.is_empty() {
            return Ok(());
        }
        let text = &mut current.fields;
        match text.strip_suffix('}') {
            Some(rest) => {
                let first = rest == "{";
                text.pop();
                if !first {
                    text.push(',');
                }
                text.push_str(&members.text);
                text.push('}');
            }
            None => {
                text.clear();
                text.push('{');
                text.push_str(&members.text);
                text.push('}');
            }
        }
        Ok(())
    }
}

/// `"name":value` members separated by commas, values as `JsonFields` writes them.
#[derive(Default)]
struct Members {
    text: String,
}

impl Members {
    fn push(&mut self, name: &str, value: Value) {
        if !self.text.is_empty() {
            self.text.push(',');
        }
        // Serialising a string or a `Value` into a `String` cannot fail.
        if let (Ok(name), Ok(value)) = (serde_json::to_string(name), serde_json::to_string(&value))
        {
            self.text.push_str(&name);
            self.text.push(':');
            self.text.push_str(&value);
        }
    }
}

impl Visit for Members {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return; // the `log` crate's metadata, already in the line's own fields
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.push(name, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Value::from(value));
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.push(field.name(), Value::from(value));
    }
}

/// A subscriber for tests: pretty logs to the test writer when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::registry()
            .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
            .with(tracing_subscriber::fmt::layer().with_test_writer())
            .try_init();
    }
}

/// One JSON object per line: `timestamp`, `level`, `service`, `target`, `span` (the
/// innermost span's name), `message`, the event's fields, and the fields of every
/// enclosing span (`request_id`, `trace_id`, `span_id`, `route`, `scrapejob`, ...) at the
/// top level, where log queries expect them.
struct JsonLines {
    service: String,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".to_owned(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".to_owned(), Value::String(meta.level().to_string()));
        line.insert("service".to_owned(), Value::String(self.service.clone()));
        line.insert("target".to_owned(), Value::String(meta.target().to_owned()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                line.insert("span".to_owned(), Value::String(span.name().to_owned()));
                let extensions = span.extensions();
                let fields = extensions
                    .get::<FormattedFields<N>>()
                    .and_then(|f| serde_json::from_str::<Value>(&f.fields).ok());
                if let Some(Value::Object(fields)) = fields {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut FieldVisitor(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn lines(&self) -> Vec<Value> {
            let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
                .collect()
        }
    }

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON lines of service `svc` that `f` logs.
    fn capture(f: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber =
            tracing_subscriber::registry().with(json_layer("svc", move || writer.clone()));
        tracing::subscriber::with_default(subscriber, f);
        buffer.lines()
    }

    #[test]
    fn json_lines_carry_span_fields_at_the_top_level() {
        let lines = capture(|| {
            let outer = tracing::info_span!("reconcile", scrapejob = "nightly");
            let _o = outer.enter();
            let span = tracing::info_span!(
                "http.request",
                request_id = "req-1",
                trace_id = tracing::field::Empty,
                span_id = "def"
            );
            let _e = span.enter();
            span.record("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
            let err = std::io::Error::other("disk full");
            tracing::info!(
                status = 200,
                ok = true,
                error = &err as &dyn std::error::Error,
                "request completed"
            );
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["message"], "request completed");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["service"], "svc");
        assert_eq!(line["span"], "http.request", "the innermost span");
        assert_eq!(line["scrapejob"], "nightly", "outer span fields too");
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(line["span_id"], "def");
        assert_eq!(line["status"], 200);
        assert_eq!(line["ok"], true);
        assert_eq!(line["error"], "disk full");
        let timestamp = line["timestamp"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'),
            "{timestamp}"
        );
    }

    #[test]
    fn fields_recorded_later_are_added_and_the_last_value_wins() {
        let lines = capture(|| {
            let span = tracing::info_span!(
                "http.request",
                request_id = "req-\"quoted\"",
                status = tracing::field::Empty,
                route = tracing::field::Empty,
                user = tracing::field::Empty
            );
            let _e = span.enter();
            span.record("status", 201_u64);
            span.record("route", "/a\nb");
            span.record("status", 204_u64);
            tracing::info!("first");
            span.record("user", tracing::field::debug(Some(7)));
            tracing::info!("second");
        });
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["request_id"], "req-\"quoted\"");
        assert_eq!(lines[0]["status"], 204, "the later value");
        assert_eq!(lines[0]["route"], "/a\nb");
        assert!(lines[0].get("user").is_none());
        assert_eq!(lines[1]["user"], "Some(7)");
        assert_eq!(lines[1]["status"], 204);
    }

    #[test]
    fn a_span_whose_fields_are_all_recorded_later_has_them() {
        let lines = capture(|| {
            let span = tracing::info_span!("job", id = tracing::field::Empty);
            let _e = span.enter();
            span.record("id", 3_i64);
            tracing::info!("done");
        });
        assert_eq!(lines[0]["id"], 3);
        assert_eq!(lines[0]["span"], "job");
    }

    #[test]
    fn an_event_outside_any_span_is_a_line_too() {
        let lines = capture(|| {
            tracing::warn!(count = 3_u64, "alone");
        });
        assert_eq!(lines[0]["message"], "alone");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["count"], 3);
        assert!(lines[0].get("span").is_none());
    }
}
