//! The controller: reads the world for one ScrapeJob, asks [`plan`](crate::plan::plan) what
//! to do, and does it through the Kubernetes API.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use gleaner_egress::EgressPolicy;
use gleaner_telemetry::{TraceContext, trace_context};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{Span, field, info, instrument, warn};

use crate::crd::{SCRAPEJOB_LABEL, ScrapeJob, ScrapeJobStatus};
use crate::metrics::Metrics;
use crate::plan::{EventKind, Observed, PlannedEvent, plan, summary_wanted};
use crate::run::{JobBuildError, MANAGER, ObservedRun, RunSettings, desired_job, run_summary};

/// Finalizer that lets the operator stop a ScrapeJob's runs before it goes.
pub const FINALIZER: &str = "gleaner.dev/cleanup";
/// First retry delay after a failed reconcile.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay after repeated failures.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The finalizer helper failed (adding/removing it, or the reconcile inside).
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The run's Job could not be built.
    #[error("building the run's Job: {0}")]
    BuildJob(#[from] JobBuildError),
    /// The ScrapeJob has no namespace (a namespaced resource always has one).
    #[error("ScrapeJob has no namespace")]
    MissingNamespace,
}

impl Error {
    /// Short label of the failure, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::BuildJob(_) => "build_job",
            Error::MissingNamespace => "missing_namespace",
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Publishes events.
    pub recorder: Recorder,
    /// Shapes run Jobs.
    pub run_settings: RunSettings,
    /// Where runs may connect; specs naming other hosts are invalid.
    pub egress: EgressPolicy,
    /// Metrics.
    pub metrics: Metrics,
    /// Consecutive failures per ScrapeJob (namespace/name/uid), for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// The clock (fixed in tests).
    clock: Box<dyn Fn() -> Timestamp + Send + Sync>,
}

impl Context {
    /// A context on the real clock.
    pub fn new(
        client: Client,
        run_settings: RunSettings,
        metrics: Metrics,
        identity: &str,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.to_owned(),
                instance: Some(identity.to_owned()),
            },
        );
        Context {
            client,
            recorder,
            run_settings,
            egress: gleaner_scrapejob::egress::default_policy(),
            metrics,
            failures: Mutex::new(HashMap::new()),
            clock: Box::new(Timestamp::now),
        }
    }

    /// The same context with another egress policy (the default allows openmoney.md only).
    pub fn with_egress(mut self, egress: EgressPolicy) -> Self {
        self.egress = egress;
        self
    }

    /// The same context with a fixed clock.
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one more failure for the object and returns how many in a row.
    pub fn record_failure(&self, key: &str) -> u32 {
        let mut failures = self.failures();
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Forgets the object's failures after a success.
    pub fn record_success(&self, key: &str) {
        self.failures().remove(key);
    }
}

/// The backoff key of a ScrapeJob.
pub fn object_key(sj: &ScrapeJob) -> String {
    format!(
        "{}/{}/{}",
        sj.namespace().unwrap_or_default(),
        sj.name_any(),
        sj.uid().unwrap_or_default()
    )
}

/// Delay before retry number `failures` (1, 2, 4, ... seconds, capped at five minutes),
/// stretched by up to `jitter` (0.0 to 1.0) of itself so failing objects spread out.
pub fn backoff_delay(failures: u32, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let base = BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_CAP);
    base.mul_f64(1.0 + jitter.clamp(0.0, 1.0) * 0.1)
        .min(BACKOFF_CAP)
}

/// Reconciles one ScrapeJob: the root span of its trace.
#[instrument(skip(ctx, obj), fields(trace_id, span_id, scrapejob = %obj.name_any(), namespace = obj.namespace().as_deref().unwrap_or_default()))]
pub async fn reconcile(obj: Arc<ScrapeJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = Span::current();
    let trace = trace_context(&span);
    span.record("trace_id", field::display(trace.trace_id_hex()));
    span.record("span_id", field::display(trace.span_id_hex()));
    let _timer = ctx.metrics.reconcile_timer();
    let key = object_key(&obj);
    let namespace = obj.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<ScrapeJob> = Api::namespaced(ctx.client.clone(), &namespace);

    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(sj) => apply(&sj, &ctx, &trace).await,
            FinalizerEvent::Cleanup(sj) => cleanup(&sj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));

    if result.is_ok() {
        ctx.metrics.reconcile_succeeded();
        ctx.record_success(&key);
    }
    result
}

/// On a failed reconcile: count it and retry after this object's exponential backoff.
pub fn error_policy(obj: Arc<ScrapeJob>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed();
    let failures = ctx.record_failure(&object_key(&obj));
    let delay = backoff_delay(failures, rand::random::<f64>());
    warn!(
        scrapejob = %obj.name_any(),
        error = %error,
        kind = error.kind(),
        failures,
        retry_in_ms = delay.as_millis() as u64,
        "reconcile failed"
    );
    Action::requeue(delay)
}

fn owned_runs(sj: &ScrapeJob, jobs: &[Job]) -> Vec<ObservedRun> {
    let uid = sj.uid();
    jobs.iter()
        .filter(|job| {
            job.owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
        })
        .map(ObservedRun::from_job)
        .collect()
}

fn run_selector(sj: &ScrapeJob) -> ListParams {
    ListParams::default().labels(&format!("{SCRAPEJOB_LABEL}={}", sj.name_any()))
}

async fn apply(sj: &ScrapeJob, ctx: &Context, trace: &TraceContext) -> Result<Action, Error> {
    let namespace = sj.namespace().ok_or(Error::MissingNamespace)?;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let listed = jobs.list(&run_selector(sj)).await?;
    let runs = owned_runs(sj, &listed.items);

    let summary = match summary_wanted(sj, &runs) {
        Some(run) => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
            let lp =
                ListParams::default().labels(&format!("batch.kubernetes.io/job-name={}", run.name));
            let pods = pods.list(&lp).await?;
            run_summary(run, &pods.items).map(|s| (run.name.clone(), s))
        }
        None => None,
    };

    let decision = plan(&Observed {
        egress: &ctx.egress,
        scrapejob: sj,
        runs,
        summary,
        now: ctx.now(),
    });

    for name in &decision.replace {
        delete_job(&jobs, name).await?;
    }
    if let Some(run) = &decision.create {
        let job = desired_job(sj, run, &ctx.run_settings, &trace.traceparent())?;
        match jobs.create(&PostParams::default(), &job).await {
            Ok(_) => {
                info!(job = %run.job_name, run_id = %run.run_id, trigger = run.trigger.kind(), "run started")
            }
            // Created by an earlier attempt: the deterministic name makes this the same run.
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    if sj.status.as_ref() != Some(&decision.status) {
        patch_status(sj, &decision.status, ctx).await?;
    }
    publish(sj, &decision.events, ctx).await;
    for name in &decision.prune {
        delete_job(&jobs, name).await?;
    }
    Ok(Action::requeue(decision.requeue_after))
}

async fn patch_status(
    sj: &ScrapeJob,
    status: &ScrapeJobStatus,
    ctx: &Context,
) -> Result<(), Error> {
    let namespace = sj.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<ScrapeJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let body = json!({
        "apiVersion": ScrapeJob::api_version(&()),
        "kind": ScrapeJob::kind(&()),
        "status": status,
    });
    api.patch_status(
        &sj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

async fn delete_job(jobs: &Api<Job>, name: &str) -> Result<(), Error> {
    match jobs.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Events are best effort: a lost event must not fail (and so repeat) the reconcile.
async fn publish(sj: &ScrapeJob, events: &[PlannedEvent], ctx: &Context) {
    let reference = sj.object_ref(&());
    for ev in events {
        let event = Event {
            type_: match ev.kind {
                EventKind::Normal => EventType::Normal,
                EventKind::Warning => EventType::Warning,
            },
            reason: ev.reason.to_owned(),
            note: Some(ev.note.clone()),
            action: ev.action.to_owned(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(error = %e, reason = ev.reason, "cannot publish event");
        }
    }
}

/// The ScrapeJob is going: stop and delete its runs, then let the finalizer go.
async fn cleanup(sj: &ScrapeJob, ctx: &Context) -> Result<Action, Error> {
    let namespace = sj.namespace().ok_or(Error::MissingNamespace)?;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let listed = jobs.list(&run_selector(sj)).await?;
    let runs = owned_runs(sj, &listed.items);
    for run in runs.iter().filter(|r| !r.deleting) {
        delete_job(&jobs, &run.name).await?;
    }
    info!(
        deleted = runs.len(),
        "ScrapeJob deleted, its runs cleaned up"
    );
    Ok(Action::await_change())
}

/// Runs the controller until `shutdown` completes; `store` receives the ScrapeJob cache.
pub async fn run_controller(
    client: Client,
    settings: &crate::settings::Settings,
    metrics: Metrics,
    identity: &str,
    store: Arc<OnceLock<Store<ScrapeJob>>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (scrapejobs, jobs): (Api<ScrapeJob>, Api<PartialObjectMeta<Job>>) =
        match &settings.watch_namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
    let (reader, writer) = reflector::store();
    let _ = store.set(reader.clone());
    // managedFields are never read; dropping them keeps the cache small.
    let scrapejob_stream = watcher(scrapejobs, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|sj| {
            sj.managed_fields_mut().clear();
        })
        .reflect(writer)
        .touched_objects();
    // Only metadata of Jobs is watched: enough to map a change to its ScrapeJob.
    let job_stream = watcher(
        jobs,
        watcher::Config::default()
            .labels(SCRAPEJOB_LABEL)
            .any_semantic(),
    )
    .default_backoff()
    .touched_objects();

    let ctx = Arc::new(
        Context::new(client, settings.run_settings(), metrics, identity)
            .with_egress(settings.egress_policy()),
    );
    Controller::for_stream(scrapejob_stream, reader)
        .owns_stream(job_stream)
        .with_config(ControllerConfig::default().concurrency(settings.reconcile_concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(scrapejob = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        assert_eq!(backoff_delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(2, 0.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(5, 0.0), Duration::from_secs(16));
        assert_eq!(backoff_delay(9, 0.0), Duration::from_secs(256));
        assert_eq!(backoff_delay(10, 0.0), BACKOFF_CAP);
        assert_eq!(backoff_delay(u32::MAX, 1.0), BACKOFF_CAP);
        let jittered = backoff_delay(3, 1.0);
        assert!(jittered > Duration::from_secs(4) && jittered <= Duration::from_millis(4400));
    }
}
