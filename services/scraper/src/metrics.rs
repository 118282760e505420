//! Scraper metrics (names listed in the README's Metrics section).

use std::time::Duration;

use gleaner_scrapejob::{RunStatus, Source};

use crate::fetch::Outcome;
use crate::source::DocumentKind;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Every scraper metric; cheap to clone.
#[derive(Clone)]
pub struct ScraperMetrics {
    documents: IntCounterVec,
    fetch_duration: HistogramVec,
    bytes: IntCounterVec,
    companies: IntCounterVec,
    transform_errors: IntCounterVec,
    runs: IntCounterVec,
    run_duration: HistogramVec,
    ratelimit_local: IntCounterVec,
}

impl ScraperMetrics {
    /// Create and register in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let documents = IntCounterVec::new(
            Opts::new(
                "scraper_documents_fetched_total",
                "Documents requested, by outcome",
            ),
            &["source", "kind", "outcome"],
        )?;
        let fetch_duration = HistogramVec::new(
            HistogramOpts::new(
                "scraper_fetch_duration_seconds",
                "Time of one HTTP request to the source",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["source", "kind"],
        )?;
        let bytes = IntCounterVec::new(
            Opts::new("scraper_bytes_fetched_total", "Body bytes received"),
            &["source"],
        )?;
        let companies = IntCounterVec::new(
            Opts::new(
                "scraper_companies_written_total",
                "Company records written, by change",
            ),
            &["source", "change"],
        )?;
        let transform_errors = IntCounterVec::new(
            Opts::new(
                "scraper_transform_errors_total",
                "Documents that failed to parse",
            ),
            &["source"],
        )?;
        let runs = IntCounterVec::new(
            Opts::new("scraper_runs_total", "Finished runs, by result"),
            &["source", "result"],
        )?;
        let run_duration = HistogramVec::new(
            HistogramOpts::new("scraper_run_duration_seconds", "Wall time of a run").buckets(vec![
                1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
            ]),
            &["source"],
        )?;
        let ratelimit_local = IntCounterVec::new(
            Opts::new(
                "scraper_ratelimit_local_total",
                "Requests a shard allowed by its in-memory share of the rate because Redis was unreachable",
            ),
            &["source"],
        )?;
        registry.register(Box::new(ratelimit_local.clone()))?;
        registry.register(Box::new(documents.clone()))?;
        registry.register(Box::new(fetch_duration.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        registry.register(Box::new(companies.clone()))?;
        registry.register(Box::new(transform_errors.clone()))?;
        registry.register(Box::new(runs.clone()))?;
        registry.register(Box::new(run_duration.clone()))?;
        // Series exist from the start, so dashboards show zeros rather than nothing.
        for source in Source::ALL.map(Source::as_str) {
            for change in ["created", "updated", "unchanged"] {
                companies.with_label_values(&[source, change]);
            }
            for result in [RunStatus::Succeeded, RunStatus::Failed] {
                runs.with_label_values(&[source, result.as_str()]);
            }
            transform_errors.with_label_values(&[source]);
            bytes.with_label_values(&[source]);
            ratelimit_local.with_label_values(&[source]);
            for kind in DocumentKind::ALL.map(DocumentKind::as_str) {
                for outcome in Outcome::LABELS {
                    documents.with_label_values(&[source, kind, outcome]);
                }
            }
        }
        Ok(Self {
            documents,
            fetch_duration,
            bytes,
            companies,
            transform_errors,
            runs,
            run_duration,
            ratelimit_local,
        })
    }

    /// Metrics in a private registry (tests, benches, one-off runs).
    pub fn unregistered() -> Self {
        Self::register(&Registry::new()).unwrap_or_else(|e| panic!("fresh registry: {e}"))
    }

    pub(crate) fn document(&self, source: &str, kind: &str, outcome: &str) {
        self.documents
            .with_label_values(&[source, kind, outcome])
            .inc();
    }
    pub(crate) fn fetch_duration(&self, source: &str, kind: &str, d: Duration) {
        self.fetch_duration
            .with_label_values(&[source, kind])
            .observe(d.as_secs_f64());
    }
    pub(crate) fn bytes(&self, source: &str, n: usize) {
        self.bytes.with_label_values(&[source]).inc_by(n as u64);
    }
    pub(crate) fn company(&self, source: &str, change: &str) {
        self.companies.with_label_values(&[source, change]).inc();
    }
    pub(crate) fn transform_error(&self, source: &str) {
        self.transform_errors.with_label_values(&[source]).inc();
    }
    pub(crate) fn ratelimit_local(&self, source: &str) {
        self.ratelimit_local.with_label_values(&[source]).inc();
    }
    pub(crate) fn run(&self, source: &str, result: &str, d: Duration) {
        self.runs.with_label_values(&[source, result]).inc();
        self.run_duration
            .with_label_values(&[source])
            .observe(d.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Encoder as _;

    #[test]
    fn every_bounded_series_exists_at_zero_before_anything_happens() {
        let registry = Registry::new();
        ScraperMetrics::register(&registry).unwrap();
        let mut text = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut text)
            .unwrap();
        let text = String::from_utf8(text).unwrap();
        for line in [
            r#"scraper_documents_fetched_total{kind="company",outcome="fetched",source="openmoney"} 0"#,
            r#"scraper_documents_fetched_total{kind="company_list",outcome="failed",source="openmoney"} 0"#,
            r#"scraper_documents_fetched_total{kind="company_html",outcome="disallowed",source="openmoney"} 0"#,
            r#"scraper_companies_written_total{change="created",source="openmoney"} 0"#,
            r#"scraper_runs_total{result="failed",source="openmoney"} 0"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}
