//! The database backend's scheduler: follows the runs it started, starts runs that are
//! due (the run on creation, cron schedules) under each job's `suspend` and
//! `concurrencyPolicy`, and prunes run records beyond the history limits.
//!
//! One replica schedules at a time: each round holds a PostgreSQL advisory lock, so app
//! replicas never start the same run twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gleaner_scrapejob::ScrapeJobSpec;
use serde_json::Value;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::database::{DatabaseJobs, Trigger};
use crate::jobs::JobError;
use crate::schedule::{Decision, FinishedRun, due_occurrence, on_due, runs_to_prune};
use crate::scraper::{ScraperClient, ScraperError};
use crate::service_auth::ServiceToken;

/// Advisory lock key of the scheduler ("gleaner-app-scheduler").
const LOCK_KEY: i64 = 0x676c_6561_6e65_7201;
/// A run the scraper never heard of is given up after this long.
const LOST_RUN_AFTER: chrono::Duration = chrono::Duration::minutes(10);

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Whether this replica held the lock (else it did nothing).
    pub leader: bool,
    /// Runs started.
    pub started: Vec<(String, Uuid)>,
    /// Scheduled runs skipped by `concurrencyPolicy: Forbid`.
    pub skipped: Vec<String>,
    /// Run records pruned.
    pub pruned: usize,
}

/// The scheduler of the database backend.
#[derive(Clone)]
pub struct Scheduler {
    db: PgPool,
    jobs: DatabaseJobs,
    scraper: ScraperClient,
    service: ServiceToken,
    interval: Duration,
}

impl Scheduler {
    /// A scheduler acting with the app's own token.
    pub fn new(
        db: PgPool,
        jobs: DatabaseJobs,
        scraper: ScraperClient,
        service: ServiceToken,
        interval: Duration,
    ) -> Self {
        Self {
            db,
            jobs,
            scraper,
            service,
            interval,
        }
    }

    /// A round every `interval` (the first after one interval) until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            if let Err(e) = self.round(Utc::now()).await {
                tracing::warn!(error = %format!("{e:#}"), "scheduler round failed");
            }
        }
    }

    /// One round at time `now`, if this replica gets the lock.
    pub async fn round(&self, now: DateTime<Utc>) -> anyhow::Result<Round> {
        let mut lock = self.db.acquire().await?;
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut *lock)
            .await?;
        if !leader {
            return Ok(Round::default());
        }
        let result = self.round_locked(now).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *lock)
            .await;
        if unlocked.is_err() {
            // The lock lives as long as the connection: close it rather than keep it.
            lock.detach();
        }
        result
    }

    async fn round_locked(&self, now: DateTime<Utc>) -> anyhow::Result<Round> {
        let mut round = Round {
            leader: true,
            ..Round::default()
        };
        let token = self.service.token().await?;
        self.follow_runs(&token, now).await?;
        let jobs = sqlx::query(
            "SELECT name, spec, created_at, last_schedule_at, initial_run_done FROM scrape_jobs ORDER BY name",
        )
        .fetch_all(&self.db)
        .await?;
        for row in jobs {
            let name: String = row.try_get("name")?;
            let spec: ScrapeJobSpec = match serde_json::from_value(row.try_get::<Value, _>("spec")?)
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(job = %name, error = %e, "stored spec is unreadable; job skipped");
                    continue;
                }
            };
            let created_at: DateTime<Utc> = row.try_get("created_at")?;
            let last: Option<DateTime<Utc>> = row.try_get("last_schedule_at")?;
            let initial_done: bool = row.try_get("initial_run_done")?;
            if let Err(e) = self
                .schedule_job(
                    &name,
                    &spec,
                    created_at,
                    last,
                    initial_done,
                    now,
                    &token,
                    &mut round,
                )
                .await
            {
                tracing::warn!(job = %name, error = %format!("{e:#}"), "scheduling failed");
            }
            round.pruned += self.prune(&name, &spec).await?;
        }
        Ok(round)
    }

    #[allow(clippy::too_many_arguments)]
    async fn schedule_job(
        &self,
        name: &str,
        spec: &ScrapeJobSpec,
        created_at: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
        initial_done: bool,
        now: DateTime<Utc>,
        token: &str,
        round: &mut Round,
    ) -> anyhow::Result<()> {
        if spec.suspend {
            // Occurrences while suspended are not made up for after resuming.
            sqlx::query("UPDATE scrape_jobs SET last_schedule_at = $2 WHERE name = $1")
                .bind(name)
                .bind(now)
                .execute(&self.db)
                .await?;
            return Ok(());
        }
        let Some(schedule) = &spec.schedule else {
            if !initial_done {
                let started = match self.jobs.launch(name, spec, Trigger::Create, token).await {
                    Ok(run) => Some(run.id),
                    // Refused (not unavailable): asking again would be refused again.
                    Err(JobError::Scraper(e @ ScraperError::Refused { .. })) => {
                        tracing::error!(job = name, error = %e, "the scraper refuses this job's run; not retried");
                        None
                    }
                    Err(e) => return Err(e.into()),
                };
                sqlx::query("UPDATE scrape_jobs SET initial_run_done = true WHERE name = $1")
                    .bind(name)
                    .execute(&self.db)
                    .await?;
                if let Some(id) = started {
                    round.started.push((name.to_owned(), id));
                }
            }
            return Ok(());
        };
        let cron = gleaner_scrapejob::schedule::parse_cron(schedule)?;
        let Some(due) = due_occurrence(&cron, last.unwrap_or(created_at), now) else {
            return Ok(());
        };
        let active: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM job_runs WHERE job = $1 AND status IN ('queued', 'running')",
        )
        .bind(name)
        .fetch_all(&self.db)
        .await?;
        match on_due(spec.concurrency_policy, &active) {
            Decision::Skip => {
                tracing::info!(job = name, due = %due, "scheduled run skipped: another run is going (Forbid)");
                round.skipped.push(name.to_owned());
            }
            Decision::Replace(old) => {
                // The scraper has no way to stop a run: the new one starts alongside.
                tracing::warn!(job = name, replaced = ?old, "Replace: the scraper cannot stop runs; the running ones finish on their own");
                self.start_scheduled(name, spec, token, round).await?;
            }
            Decision::Start => self.start_scheduled(name, spec, token, round).await?,
        }
        sqlx::query("UPDATE scrape_jobs SET last_schedule_at = $2 WHERE name = $1")
            .bind(name)
            .bind(due)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Start a scheduled run. A run the scraper refuses is logged and counts as this
    /// occurrence's (asking again would be refused again); when the scraper is
    /// unavailable the occurrence stays due and the next round tries again.
    async fn start_scheduled(
        &self,
        name: &str,
        spec: &ScrapeJobSpec,
        token: &str,
        round: &mut Round,
    ) -> anyhow::Result<()> {
        match self.jobs.launch(name, spec, Trigger::Schedule, token).await {
            Ok(run) => {
                round.started.push((name.to_owned(), run.id));
                Ok(())
            }
            Err(JobError::Scraper(e @ ScraperError::Refused { .. })) => {
                tracing::error!(job = name, error = %e, "the scraper refuses this job's scheduled run");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Copy the state of runs still going from the scraper.
    async fn follow_runs(&self, token: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
        let active = sqlx::query(
            "SELECT id, created_at FROM job_runs WHERE status IN ('queued', 'running')",
        )
        .fetch_all(&self.db)
        .await?;
        for row in active {
            let id: Uuid = row.try_get("id")?;
            let created_at: DateTime<Utc> = row.try_get("created_at")?;
            match self.scraper.run(token, id).await? {
                Some(run) => {
                    sqlx::query(
                        "UPDATE job_runs SET status = $2, started_at = $3, finished_at = $4, pages_fetched = $5, \
                           pages_failed = $6, companies_created = $7, companies_updated = $8 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(&run.status)
                    .bind(run.started_at)
                    .bind(run.finished_at)
                    .bind(run.pages_fetched)
                    .bind(run.pages_failed)
                    .bind(run.companies_created)
                    .bind(run.companies_updated)
                    .execute(&self.db)
                    .await?;
                }
                None if now - created_at > LOST_RUN_AFTER => {
                    tracing::warn!(run_id = %id, "the scraper does not know this run; marked failed");
                    sqlx::query(
                        "UPDATE job_runs SET status = 'failed', finished_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(&self.db)
                    .await?;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Delete run records beyond the job's history limits.
    async fn prune(&self, name: &str, spec: &ScrapeJobSpec) -> anyhow::Result<usize> {
        let rows = sqlx::query(
            "SELECT id, status, COALESCE(finished_at, created_at) AS finished_at FROM job_runs \
             WHERE job = $1 AND status IN ('succeeded', 'failed', 'cancelled')",
        )
        .bind(name)
        .fetch_all(&self.db)
        .await?;
        let finished = rows
            .iter()
            .map(|r| {
                Ok(FinishedRun {
                    id: r.try_get("id")?,
                    succeeded: r.try_get::<String, _>("status")? == "succeeded",
                    finished_at: r.try_get("finished_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let prune = runs_to_prune(
            &finished,
            spec.successful_runs_history_limit,
            spec.failed_runs_history_limit,
        );
        if prune.is_empty() {
            return Ok(0);
        }
        sqlx::query("DELETE FROM job_runs WHERE id = ANY($1)")
            .bind(&prune)
            .execute(&self.db)
            .await?;
        Ok(prune.len())
    }
}
