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

use gleaner_scrapejob::history::{FinishedRun, runs_to_prune};
use gleaner_scrapejob::schedule::{Schedule, ScheduleError};
use gleaner_scrapejob::scheduling::{Admission, JobClock, Owed, admit, owed_run};
use gleaner_scrapejob::trigger::Trigger;

use super::database::DatabaseJobs;
use crate::jobs::JobError;
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
            let job = StoredJob {
                name,
                spec,
                created_at: row.try_get("created_at")?,
                last_schedule_at: row.try_get("last_schedule_at")?,
                initial_run_done: row.try_get("initial_run_done")?,
            };
            if let Err(e) = self.schedule_job(&job, now, &token, &mut round).await {
                tracing::warn!(job = %job.name, error = %format!("{e:#}"), "scheduling failed");
            }
            round.pruned += self.prune(&job.name, &job.spec).await?;
        }
        Ok(round)
    }

    /// Acts on the run `job` owes at `now` ([`StoredJob::owed`]) as its concurrency policy
    /// says ([`admit`]), and records the occurrence handled.
    async fn schedule_job(
        &self,
        job: &StoredJob,
        now: DateTime<Utc>,
        token: &str,
        round: &mut Round,
    ) -> anyhow::Result<()> {
        let name = job.name.as_str();
        let owed = job.owed(now)?;
        let admission = match &owed.trigger {
            Some(trigger) => {
                let active: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM job_runs WHERE job = $1 AND status IN ('queued', 'running')",
                )
                .bind(name)
                .fetch_all(&self.db)
                .await?;
                Some(admit(job.spec.concurrency_policy, trigger, &active))
            }
            None => None,
        };
        match (&owed.trigger, &admission) {
            (Some(trigger), Some(Admission::Start)) => {
                self.start(job, trigger, token, round).await?
            }
            (Some(trigger), Some(Admission::Replace(old))) => {
                // The scraper has no way to stop a run: the new one starts alongside.
                tracing::warn!(job = name, replaced = ?old, "Replace: the scraper cannot stop runs; the running ones finish on their own");
                self.start(job, trigger, token, round).await?;
            }
            (Some(_), Some(Admission::Skip)) => {
                tracing::info!(job = name, due = ?owed.occurrence, "scheduled run skipped: another run is going (Forbid)");
                round.skipped.push(name.to_owned());
            }
            _ => {}
        }
        if let Some(handled) = owed.handled(admission.as_ref()) {
            sqlx::query("UPDATE scrape_jobs SET last_schedule_at = $2 WHERE name = $1")
                .bind(name)
                .bind(handled)
                .execute(&self.db)
                .await?;
        }
        Ok(())
    }

    /// Starts the run `trigger` stands for. A run the scraper refuses is logged and counts
    /// as started (asking again would be refused again); while the scraper is unavailable
    /// the run stays owed and the next round asks again.
    async fn start(
        &self,
        job: &StoredJob,
        trigger: &Trigger,
        token: &str,
        round: &mut Round,
    ) -> anyhow::Result<()> {
        let name = job.name.as_str();
        match self.jobs.launch(name, &job.spec, trigger, token).await {
            Ok(run) => round.started.push((name.to_owned(), run.id)),
            Err(JobError::Scraper(e @ ScraperError::Refused { .. })) => {
                tracing::error!(job = name, trigger = trigger.kind(), error = %e, "the scraper refuses this job's run; not retried");
            }
            Err(e) => return Err(e.into()),
        }
        if *trigger == Trigger::Initial {
            sqlx::query("UPDATE scrape_jobs SET initial_run_done = true WHERE name = $1")
                .bind(name)
                .execute(&self.db)
                .await?;
        }
        Ok(())
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
                    .bind(run.status.as_str())
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

    /// Delete run records beyond the job's history limits ([`runs_to_prune`]).
    async fn prune(&self, name: &str, spec: &ScrapeJobSpec) -> anyhow::Result<usize> {
        let rows = sqlx::query(
            "SELECT id, status, finished_at, created_at FROM job_runs \
             WHERE job = $1 AND status IN ('succeeded', 'failed', 'cancelled')",
        )
        .bind(name)
        .fetch_all(&self.db)
        .await?;
        let finished = rows
            .iter()
            .map(|r| {
                Ok(FinishedRun {
                    id: r.try_get::<Uuid, _>("id")?,
                    succeeded: r.try_get::<String, _>("status")? == "succeeded",
                    finished_at: r.try_get("finished_at")?,
                    created_at: Some(r.try_get("created_at")?),
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

/// A job as the scheduler reads it from the database.
#[derive(Debug, Clone)]
pub struct StoredJob {
    /// The job's name.
    pub name: String,
    /// Its spec.
    pub spec: ScrapeJobSpec,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The occurrence last handled (run, skipped, or passed over while suspended).
    pub last_schedule_at: Option<DateTime<Utc>>,
    /// Whether its run on creation started (or was refused).
    pub initial_run_done: bool,
}

impl StoredJob {
    /// The run the job owes at `now` ([`owed_run`]). A run asked for through the API starts
    /// at once, so the scheduler owes only scheduled runs and the run on creation.
    pub fn owed(&self, now: DateTime<Utc>) -> Result<Owed, ScheduleError> {
        let schedule = self
            .spec
            .schedule
            .as_deref()
            .map(Schedule::parse)
            .transpose()?;
        Ok(owed_run(&JobClock {
            schedule: schedule.as_ref(),
            suspend: self.spec.suspend,
            last_handled: self.last_schedule_at.unwrap_or(self.created_at),
            run_now: None,
            initial_run_owed: !self.initial_run_done,
            now,
        }))
    }
}

#[cfg(test)]
mod tests {
    use gleaner_scrapejob::schedule_cases::DUE_CASES;
    use gleaner_scrapejob::{ConcurrencyPolicy, Targets};

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("an RFC 3339 time")
    }

    fn job(schedule: Option<&str>, last_schedule_at: Option<&str>) -> StoredJob {
        let mut spec = ScrapeJobSpec::with_targets(Targets {
            idnos: Some(vec!["1003600012345".into()]),
            list_pages: None,
        });
        spec.schedule = schedule.map(str::to_owned);
        StoredJob {
            name: "nightly".into(),
            spec,
            created_at: utc("2000-01-01T00:00:00Z"),
            last_schedule_at: last_schedule_at.map(utc),
            initial_run_done: false,
        }
    }

    /// The schedule cases every backend answers alike (the operator's reconcile gives the
    /// same answers): the scheduler owes the due occurrence's run and records it handled.
    #[test]
    fn the_scheduler_owes_each_shared_case_its_due_run() {
        for case in DUE_CASES {
            let stored = job(Some(case.schedule), Some(case.last_handled));
            let owed = stored.owed(utc(case.now)).expect("a valid schedule");
            let due = case.due.map(utc);
            assert_eq!(owed.trigger, due.map(Trigger::Schedule), "{}", case.name);
            let started = admit::<Uuid>(ConcurrencyPolicy::Forbid, &Trigger::Initial, &[]);
            assert_eq!(owed.handled(Some(&started)), due, "{}", case.name);
        }
    }

    #[test]
    fn the_run_on_creation_is_owed_once_and_not_while_suspended() {
        let now = utc("2026-12-01T00:00:00Z");
        let unscheduled = job(None, None);
        assert_eq!(
            unscheduled.owed(now).expect("owed").trigger,
            Some(Trigger::Initial)
        );
        let done = StoredJob {
            initial_run_done: true,
            ..unscheduled.clone()
        };
        assert_eq!(done.owed(now).expect("owed").trigger, None);
        let mut suspended = unscheduled;
        suspended.spec.suspend = true;
        assert_eq!(suspended.owed(now).expect("owed").trigger, None);
    }
}
