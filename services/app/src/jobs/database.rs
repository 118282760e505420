//! Jobs kept in the app's database; runs started on the scraper's internal endpoint.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gleaner_common::pagination::PageRequest;
use gleaner_egress::EgressPolicy;
use gleaner_scrapejob::ScrapeJobSpec;
use gleaner_scrapejob::schedule::Schedule;
use gleaner_scrapejob::trigger::Trigger;
use serde_json::{Map, Value};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::{Job, JobBackend, JobError, JobStatus, LastRun, merge_patch, parse_spec};
use crate::runs::{Run, RunStatus, job_phase};
use crate::scraper::{ScraperClient, ScraperError};

/// The `job_runs.trigger` value of a run started by `trigger`.
fn trigger_column(trigger: &Trigger) -> &'static str {
    match trigger {
        Trigger::Initial => "create",
        Trigger::RunNow(_) => "manual",
        Trigger::Schedule(_) => "schedule",
    }
}

/// The database backend.
#[derive(Clone)]
pub struct DatabaseJobs {
    db: PgPool,
    scraper: ScraperClient,
    /// Where the scraper's runs may connect: every stored spec's sources must be allowed.
    egress: Arc<EgressPolicy>,
}

const JOB_SELECT: &str = "SELECT j.name, j.spec, \
      (SELECT count(*) FROM job_runs a WHERE a.job = j.name AND a.status IN ('queued', 'running')) AS active, \
      r.id AS run_id, r.status AS run_status, r.started_at, r.finished_at, r.pages_fetched, r.pages_failed, \
      r.companies_created, r.companies_updated \
    FROM scrape_jobs j LEFT JOIN LATERAL \
      (SELECT * FROM job_runs r WHERE r.job = j.name ORDER BY r.created_at DESC LIMIT 1) r ON true";

impl DatabaseJobs {
    /// A backend on the app's database, starting runs on `scraper`, keeping only specs
    /// whose sources `egress` allows.
    pub fn new(db: PgPool, scraper: ScraperClient, egress: Arc<EgressPolicy>) -> Self {
        Self {
            db,
            scraper,
            egress,
        }
    }

    fn job_from_row(row: &sqlx::postgres::PgRow, now: DateTime<Utc>) -> Result<Job, JobError> {
        let name: String = row.try_get("name")?;
        let spec_json: Value = row.try_get("spec")?;
        let spec: ScrapeJobSpec = serde_json::from_value(spec_json)
            .map_err(|e| anyhow::anyhow!("stored spec of {name} is unreadable: {e}"))?;
        let active: i64 = row.try_get("active")?;
        let run_id: Option<Uuid> = row.try_get("run_id")?;
        let last_run = match run_id {
            Some(id) => Some(LastRun {
                name: id.to_string(),
                started_at: row.try_get("started_at")?,
                finished_at: row.try_get("finished_at")?,
                result: row
                    .try_get::<String, _>("run_status")?
                    .parse::<RunStatus>()
                    .map_err(|e| sqlx::Error::ColumnDecode {
                        index: "run_status".to_owned(),
                        source: e.into(),
                    })?,
                pages_fetched: row.try_get("pages_fetched")?,
                pages_failed: row.try_get("pages_failed")?,
                companies_created: row.try_get("companies_created")?,
                companies_updated: row.try_get("companies_updated")?,
            }),
            None => None,
        };
        let next_run_at = match (&spec.schedule, spec.suspend) {
            (Some(schedule), false) => Schedule::parse(schedule)
                .ok()
                .and_then(|schedule| schedule.next_after(now)),
            _ => None,
        };
        let status = JobStatus {
            phase: job_phase(spec.suspend, active, last_run.as_ref().map(|r| r.result)),
            last_run,
            next_run_at,
        };
        Ok(Job { name, spec, status })
    }

    /// Record a run of `job` started by `trigger` and start it on the scraper with `token`;
    /// the record is removed again when the scraper refuses it.
    pub async fn launch(
        &self,
        job: &str,
        spec: &ScrapeJobSpec,
        trigger: &Trigger,
        token: &str,
    ) -> Result<Run, JobError> {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO job_runs (id, job, trigger) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(job)
            .bind(trigger_column(trigger))
            .execute(&self.db)
            .await?;
        if let Err(e) = self.scraper.start_run(token, job, spec, id).await {
            sqlx::query("DELETE FROM job_runs WHERE id = $1")
                .bind(id)
                .execute(&self.db)
                .await?;
            return Err(e.into());
        }
        Ok(Run::queued(id, job))
    }

    async fn spec_of(&self, name: &str) -> Result<ScrapeJobSpec, JobError> {
        let spec: Option<Value> =
            sqlx::query_scalar("SELECT spec FROM scrape_jobs WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.db)
                .await?;
        let spec = spec.ok_or_else(|| JobError::NotFound(name.to_owned()))?;
        serde_json::from_value(spec).map_err(|e| {
            JobError::Internal(anyhow::anyhow!("stored spec of {name} is unreadable: {e}"))
        })
    }
}

#[async_trait]
impl JobBackend for DatabaseJobs {
    async fn create(&self, name: &str, spec: ScrapeJobSpec, token: &str) -> Result<Job, JobError> {
        let spec_json = serde_json::to_value(&spec).map_err(anyhow::Error::from)?;
        let created = sqlx::query(
            "INSERT INTO scrape_jobs (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&spec_json)
        .execute(&self.db)
        .await?
        .rows_affected()
            == 1;
        if !created {
            return Err(JobError::Exists(name.to_owned()));
        }
        if spec.schedule.is_none() && !spec.suspend {
            // Claim the run on creation so the scheduler does not start it too.
            let claimed = sqlx::query(
                "UPDATE scrape_jobs SET initial_run_done = true WHERE name = $1 AND NOT initial_run_done",
            )
            .bind(name)
            .execute(&self.db)
            .await?
            .rows_affected()
                == 1;
            if claimed {
                match self.launch(name, &spec, &Trigger::Initial, token).await {
                    Ok(_) => {}
                    // The scraper refuses this spec (e.g. a site outside its egress
                    // allowlist): no job that could never run.
                    Err(e @ JobError::Scraper(ScraperError::Refused { .. })) => {
                        sqlx::query("DELETE FROM scrape_jobs WHERE name = $1")
                            .bind(name)
                            .execute(&self.db)
                            .await?;
                        return Err(e);
                    }
                    Err(e) => {
                        // The job exists; the scheduler starts its first run when the scraper answers.
                        tracing::warn!(job = name, error = %e, "the run on creation did not start; the scheduler will retry");
                        sqlx::query(
                            "UPDATE scrape_jobs SET initial_run_done = false WHERE name = $1",
                        )
                        .bind(name)
                        .execute(&self.db)
                        .await?;
                    }
                }
            }
        }
        self.get(name).await
    }

    async fn list(&self, page: PageRequest) -> Result<(Vec<Job>, i64), JobError> {
        // One snapshot: the page's items and total agree.
        let mut tx = self.db.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{JOB_SELECT} ORDER BY j.name LIMIT $1 OFFSET $2"
        )))
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&mut *tx)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM scrape_jobs")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let now = Utc::now();
        let jobs = rows
            .iter()
            .map(|r| Self::job_from_row(r, now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((jobs, total))
    }

    async fn get(&self, name: &str) -> Result<Job, JobError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{JOB_SELECT} WHERE j.name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.db)
        .await?
        .ok_or_else(|| JobError::NotFound(name.to_owned()))?;
        Self::job_from_row(&row, Utc::now())
    }

    async fn patch(&self, name: &str, patch: Map<String, Value>) -> Result<Job, JobError> {
        let mut tx = self.db.begin().await?;
        let current: Option<Value> =
            sqlx::query_scalar("SELECT spec FROM scrape_jobs WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let mut spec = current.ok_or_else(|| JobError::NotFound(name.to_owned()))?;
        merge_patch(&mut spec, &Value::Object(patch));
        let parsed = parse_spec(spec, &self.egress).map_err(JobError::Invalid)?;
        let canonical = serde_json::to_value(&parsed).map_err(anyhow::Error::from)?;
        sqlx::query(
            "UPDATE scrape_jobs SET spec = $2, generation = generation + 1, updated_at = now() WHERE name = $1",
        )
        .bind(name)
        .bind(&canonical)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get(name).await
    }

    async fn delete(&self, name: &str) -> Result<(), JobError> {
        let deleted = sqlx::query("DELETE FROM scrape_jobs WHERE name = $1")
            .bind(name)
            .execute(&self.db)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(JobError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    async fn start_run(&self, name: &str, token: &str) -> Result<Run, JobError> {
        let spec = self.spec_of(name).await?;
        // Asked for through the API: the run's own id stands for the request.
        let asked = Trigger::RunNow(Uuid::new_v4().simple().to_string());
        self.launch(name, &spec, &asked, token).await
    }
}
