//! Jobs as ScrapeJob resources (in a cluster): the operator runs them, and a run started
//! through the API is the operator's run-now annotation.

use std::sync::Arc;

use async_trait::async_trait;
use gleaner_common::pagination::PageRequest;
use gleaner_egress::EgressPolicy;
use gleaner_scrapejob::ScrapeJobSpec;
use gleaner_scrapejob::crd::ScrapeJob;
use gleaner_scrapejob::trigger::Trigger;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Job, JobBackend, JobError, JobStatus, LastRun, merge_patch, parse_spec};
use crate::runs::{Phase, Run, RunStatus};

/// The Kubernetes backend, in one namespace.
#[derive(Clone)]
pub struct KubeJobs {
    api: Api<ScrapeJob>,
    /// Where the scraper's runs may connect: every spec written must have allowed sources.
    egress: Arc<EgressPolicy>,
}

impl KubeJobs {
    /// ScrapeJobs in `namespace`, written only with sources `egress` allows.
    pub fn new(client: Client, namespace: &str, egress: Arc<EgressPolicy>) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            egress,
        }
    }
}

fn api_error(name: &str, e: kube::Error) -> JobError {
    match &e {
        kube::Error::Api(status) if status.code == 404 => JobError::NotFound(name.to_owned()),
        kube::Error::Api(status) if status.code == 409 && status.reason == "AlreadyExists" => {
            JobError::Exists(name.to_owned())
        }
        kube::Error::Api(status) if status.code == 409 => JobError::Conflict(format!(
            "the scrape job {name:?} changed meanwhile; try again"
        )),
        kube::Error::Api(status) if status.code == 422 => {
            JobError::Invalid(vec![gleaner_common::FieldError::new(
                "spec",
                status.message.clone(),
            )])
        }
        _ => JobError::Kubernetes(e),
    }
}

/// A Kubernetes time as the API shows times.
fn time(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let nanos = u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0);
    chrono::DateTime::from_timestamp(t.0.as_second(), nanos)
}

/// A job from its resource: the operator's status, in the API's shape.
fn job_from(sj: ScrapeJob) -> Job {
    let name = sj.name_any();
    let status = sj.status.clone().unwrap_or_default();
    // The operator's phase, except that a suspension shows at once, before the operator
    // has seen it (a run in progress still shows as Running, as the operator keeps it).
    let phase = match status.phase {
        Some(Phase::Running) => Phase::Running,
        _ if sj.spec.suspend => Phase::Suspended,
        phase => phase.unwrap_or(Phase::Pending),
    };
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let last_run = status.last_run.map(|r| LastRun {
        name: r.run_id.clone().unwrap_or(r.name),
        started_at: r.started_at.and_then(|t| time(&t)),
        finished_at: r.finished_at.and_then(|t| time(&t)),
        result: r.result.map_or(RunStatus::Queued, crate::runs::status_of),
        pages_fetched: clamp(r.pages_fetched),
        pages_failed: clamp(r.pages_failed),
        companies_created: clamp(r.companies_created),
        companies_updated: clamp(r.companies_updated),
    });
    Job {
        name,
        spec: sj.spec,
        status: JobStatus {
            phase,
            last_run,
            next_run_at: status.next_run_at.and_then(|t| time(&t)),
        },
    }
}

#[async_trait]
impl JobBackend for KubeJobs {
    async fn create(&self, name: &str, spec: ScrapeJobSpec, _token: &str) -> Result<Job, JobError> {
        // A job without schedule gets its run on creation from the operator.
        let sj = ScrapeJob::new(name, spec);
        let created = self
            .api
            .create(&PostParams::default(), &sj)
            .await
            .map_err(|e| api_error(name, e))?;
        Ok(job_from(created))
    }

    async fn list(&self, page: PageRequest) -> Result<(Vec<Job>, i64), JobError> {
        let mut all = self
            .api
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error("", e))?
            .items;
        all.sort_by_key(|sj| sj.name_any());
        let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let items = all
            .into_iter()
            .skip(offset)
            .take(page.per_page as usize)
            .map(job_from)
            .collect();
        Ok((items, total))
    }

    async fn get(&self, name: &str) -> Result<Job, JobError> {
        let sj = self.api.get(name).await.map_err(|e| api_error(name, e))?;
        Ok(job_from(sj))
    }

    async fn patch(&self, name: &str, patch: Map<String, Value>) -> Result<Job, JobError> {
        let mut sj = self.api.get(name).await.map_err(|e| api_error(name, e))?;
        let mut spec = serde_json::to_value(&sj.spec).map_err(anyhow::Error::from)?;
        merge_patch(&mut spec, &Value::Object(patch));
        sj.spec = parse_spec(spec, &self.egress).map_err(JobError::Invalid)?;
        // A replace carries the resourceVersion read above: a concurrent change is a 409,
        // never lost.
        let replaced = self
            .api
            .replace(name, &PostParams::default(), &sj)
            .await
            .map_err(|e| api_error(name, e))?;
        Ok(job_from(replaced))
    }

    async fn delete(&self, name: &str) -> Result<(), JobError> {
        self.api
            .delete(name, &DeleteParams::default())
            .await
            .map_err(|e| api_error(name, e))?;
        Ok(())
    }

    async fn start_run(&self, name: &str, _token: &str) -> Result<Run, JobError> {
        let sj = self.api.get(name).await.map_err(|e| api_error(name, e))?;
        let uid = sj
            .uid()
            .ok_or_else(|| JobError::Internal(anyhow::anyhow!("ScrapeJob {name} has no uid")))?;
        let token = Uuid::new_v4().simple().to_string();
        self.api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(ScrapeJob::run_now_patch(&token)),
            )
            .await
            .map_err(|e| api_error(name, e))?;
        // The operator starts the run this token asks for under this id.
        Ok(Run::queued(Trigger::RunNow(token).run_id(&uid), name))
    }
}
