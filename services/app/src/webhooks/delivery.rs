//! The delivery worker: claims due deliveries, sends each attempt signed, records what
//! came of it. At least once: an attempt whose worker died is claimed again when its
//! lease ends, with the same `webhook-id`; receivers deduplicate on it.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use rand::Rng as _;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::signing;
use super::store::{self, Claimed, Failure};
use super::target::{self, ATTEMPT_TIMEOUT};
use gleaner_egress::{EgressPolicy, Url};

/// How long a claimed attempt is this worker's: longer than an attempt may take, so a
/// live worker always records its attempt before another may claim it again.
pub const LEASE: Duration = Duration::from_secs(60);

/// The most of an endpoint's answer that is read (and thrown away).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The wait before each retry (before jitter): the first within 30 s, then growing;
/// 8 retries spread over more than a day, by when a webhook still failing is disabled.
pub const RETRY_SCHEDULE: [Duration; 8] = [
    Duration::from_secs(5),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The wait before the retry after failed attempt `attempt` (1-based) on `schedule`,
/// with up to 20 % jitter so deliveries that failed together do not retry together;
/// `None` when no retry is left.
pub fn retry_delay(schedule: &[Duration], attempt: i32) -> Option<Duration> {
    let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
    let base = *schedule.get(index)?;
    Some(base.mul_f64(1.0 + rand::rng().random_range(0.0..0.2)))
}

/// What an attempt's outcome is counted as.
pub const OUTCOMES: [&str; 5] = ["delivered", "retry", "failed", "disabled", "not_held"];

/// Delivery metrics (names in the README's Metrics section).
#[derive(Clone)]
pub struct DeliveryMetrics {
    attempts: IntCounterVec,
    duration: HistogramVec,
}

impl DeliveryMetrics {
    /// Create and register in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let attempts = IntCounterVec::new(
            Opts::new(
                "app_webhook_deliveries_total",
                "Webhook delivery attempts, by outcome: delivered, retry, failed (no retry left), disabled (the webhook was disabled), not_held (the lease had passed to another worker)",
            ),
            &["outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "app_webhook_attempt_duration_seconds",
                "Time of one webhook delivery attempt, connection included",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["outcome"],
        )?;
        for outcome in OUTCOMES {
            attempts.with_label_values(&[outcome]);
        }
        registry.register(Box::new(attempts.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self { attempts, duration })
    }

    fn observe(&self, outcome: &str, took: Duration) {
        self.attempts.with_label_values(&[outcome]).inc();
        self.duration
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// Answered with this 2xx status.
    Delivered(u16),
    /// Failed: the status if the endpoint answered, and why.
    Failed(Option<u16>, String),
}

/// Sends deliveries; cheap to clone.
#[derive(Clone)]
pub struct DeliveryWorker {
    db: PgPool,
    policy: Arc<EgressPolicy>,
    client: reqwest::Client,
    metrics: DeliveryMetrics,
    concurrency: usize,
    poll_interval: Duration,
    retry_schedule: Arc<[Duration]>,
}

impl DeliveryWorker {
    /// A worker sending through `client` (built by [`target::client`] with `policy`),
    /// at most `concurrency` attempts at once, looking for due deliveries every
    /// `poll_interval`.
    pub fn new(
        db: PgPool,
        policy: Arc<EgressPolicy>,
        client: reqwest::Client,
        metrics: DeliveryMetrics,
        concurrency: usize,
        poll_interval: Duration,
    ) -> Self {
        Self {
            db,
            policy,
            client,
            metrics,
            concurrency: concurrency.max(1),
            poll_interval,
            retry_schedule: Arc::new(RETRY_SCHEDULE),
        }
    }

    /// Retry on `schedule` instead of [`RETRY_SCHEDULE`] (the benchmark compresses it, to
    /// count losses without waiting hours).
    pub fn with_retry_schedule(mut self, schedule: &[Duration]) -> Self {
        self.retry_schedule = schedule.into();
        self
    }

    /// Send one attempt: `POST` the body with the Standard Webhooks headers.
    pub async fn send(&self, claimed: &Claimed) -> AttemptResult {
        let url = match Url::parse(&claimed.url) {
            Ok(url) => url,
            Err(e) => return AttemptResult::Failed(None, format!("invalid URL: {e}")),
        };
        // The settings may have changed since the webhook was created.
        if let Err(refusal) = self.policy.check_url(&url) {
            return AttemptResult::Failed(None, format!("refused: {refusal}"));
        }
        let Some(key) = signing::key_of(&claimed.secret) else {
            return AttemptResult::Failed(None, "the webhook's secret is unreadable".into());
        };
        let id = claimed.id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let body = claimed.body();
        let signature = signing::sign(&key, &id, timestamp, &body);
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(mut response) => {
                let status = response.status();
                // Read a short answer so the connection can be reused; a long or slow one
                // is dropped (and its connection with it).
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    let mut read = 0usize;
                    while let Ok(Some(chunk)) = response.chunk().await {
                        read += chunk.len();
                        if read > MAX_ANSWER_BYTES {
                            break;
                        }
                    }
                })
                .await;
                if status.is_success() {
                    AttemptResult::Delivered(status.as_u16())
                } else if status.is_redirection() {
                    AttemptResult::Failed(
                        Some(status.as_u16()),
                        format!("HTTP {status}: redirects are not followed"),
                    )
                } else {
                    AttemptResult::Failed(Some(status.as_u16()), format!("HTTP {status}"))
                }
            }
            Err(e) => AttemptResult::Failed(None, describe(&e)),
        }
    }

    /// Send a claimed attempt and record what came of it; returns the outcome's name.
    pub async fn attempt(&self, claimed: Claimed) -> sqlx::Result<&'static str> {
        let started = std::time::Instant::now();
        let result = self.send(&claimed).await;
        let outcome = match result {
            AttemptResult::Delivered(status) => {
                if store::record_delivered(&self.db, &claimed, status).await? {
                    "delivered"
                } else {
                    "not_held"
                }
            }
            AttemptResult::Failed(status, error) => {
                let retry_in = retry_delay(&self.retry_schedule, claimed.attempt);
                match store::record_failed(&self.db, &claimed, status, &error, retry_in).await? {
                    Failure::Retry => "retry",
                    Failure::GaveUp => "failed",
                    Failure::Disabled => {
                        tracing::warn!(webhook = %claimed.webhook_id, "webhook disabled after a day of failed deliveries");
                        "disabled"
                    }
                    Failure::NotHeld => "not_held",
                }
            }
        };
        tracing::debug!(delivery = %claimed.id, webhook = %claimed.webhook_id, attempt = claimed.attempt, outcome, "webhook attempt");
        self.metrics.observe(outcome, started.elapsed());
        Ok(outcome)
    }

    /// One round, waited for: claim up to the concurrency's worth of due deliveries, send
    /// them all and record what came of each; returns the outcomes.
    pub async fn run_once(&self) -> sqlx::Result<Vec<&'static str>> {
        let claimed = store::claim(&self.db, self.concurrency as i64, LEASE).await?;
        let attempts = claimed.into_iter().map(|c| self.attempt(c));
        futures::future::join_all(attempts)
            .await
            .into_iter()
            .collect()
    }

    /// Claim what is due (as many as there are free slots) and start sending it;
    /// returns how many were claimed.
    async fn round(&self, slots: &Arc<Semaphore>, tasks: &mut JoinSet<()>) -> sqlx::Result<usize> {
        let free = slots.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let claimed = store::claim(&self.db, free as i64, LEASE).await?;
        let n = claimed.len();
        for delivery in claimed {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let worker = self.clone();
            tasks.spawn(async move {
                if let Err(e) = worker.attempt(delivery).await {
                    // The lease runs out and the attempt is made again.
                    tracing::warn!(error = %e, "recording a webhook attempt failed");
                }
                drop(permit);
            });
        }
        Ok(n)
    }

    /// Send deliveries until `stop`; attempts in flight are finished (each takes at most
    /// the attempt timeout) before it returns.
    pub async fn run(self, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        let mut backoff = self.poll_interval;
        loop {
            while tasks.try_join_next().is_some() {}
            let wait = match self.round(&slots, &mut tasks).await {
                // Claimed some with slots to spare: look again at once, more may be due.
                Ok(n) if n > 0 && slots.available_permits() > 0 => Duration::ZERO,
                Ok(_) => {
                    backoff = self.poll_interval;
                    self.poll_interval
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "claiming webhook deliveries failed");
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
                // A slot came free while all were busy.
                Some(_) = tasks.join_next(), if slots.available_permits() == 0 => {}
            }
        }
        let _ = tokio::time::timeout(ATTEMPT_TIMEOUT + Duration::from_secs(5), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }
}

/// A request error, said plainly: refused by the egress policy, timed out, or could not
/// connect.
fn describe(e: &reqwest::Error) -> String {
    if let Some(refusal) = target::refusal_in(e) {
        return format!("refused: {refusal}");
    }
    if e.is_timeout() {
        return format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    if e.is_connect() {
        return "could not connect".into();
    }
    "the request failed".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_within_30_s_and_spread_over_a_day() {
        let first = retry_delay(&RETRY_SCHEDULE, 1).expect("a first retry");
        assert!(first >= Duration::from_secs(5) && first < Duration::from_secs(30));
        let mut total = Duration::ZERO;
        let mut retries = 0;
        for attempt in 1.. {
            match retry_delay(&RETRY_SCHEDULE, attempt) {
                Some(d) => {
                    assert!(d >= RETRY_SCHEDULE[retries]);
                    assert!(d <= RETRY_SCHEDULE[retries].mul_f64(1.2));
                    total += d;
                    retries += 1;
                }
                None => break,
            }
        }
        assert!(retries >= 5);
        assert!(total > Duration::from_secs(24 * 3600), "{total:?}");
        assert_eq!(retry_delay(&RETRY_SCHEDULE, 0), None);
        assert_eq!(retry_delay(&RETRY_SCHEDULE, -1), None);
    }
}
