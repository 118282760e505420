//! An instant in-process API server for benchmarks: answers the reconcile's requests from
//! canned JSON so what is measured is the operator's own work (plus kube's client stack).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use gleaner_operator::controller::FINALIZER;
use gleaner_operator::crd::{PageRange, ScrapeJob, ScrapeJobSpec, Targets};
use gleaner_operator::plan::{Observed, plan};
use gleaner_operator::run::{ObservedRun, RunRequest, Trigger};
use http::{Request, Response};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use serde_json::json;

pub const NOW: &str = "2026-11-22T03:00:30Z";

pub fn now() -> Timestamp {
    NOW.parse().expect("valid time")
}

/// A ScrapeJob as the API server would hold it.
pub fn scrapejob(name: &str, i: usize) -> ScrapeJob {
    let mut sj = ScrapeJob::new(
        name,
        ScrapeJobSpec::with_targets(Targets {
            idnos: Some(vec![format!("10036000{:05}", i % 100_000)]),
            list_pages: Some(PageRange { from: 1, to: 5 }),
        }),
    );
    sj.spec.schedule = Some("0 3 * * *".into());
    sj.metadata.namespace = Some("gleaner".into());
    sj.metadata.uid = Some(format!("00000000-0000-4000-8000-{i:012}"));
    sj.metadata.generation = Some(1);
    sj.metadata.resource_version = Some(format!("{}", 1000 + i));
    sj.metadata.creation_timestamp = Some(Time("2026-11-20T00:00:00Z".parse().expect("time")));
    sj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    sj
}

/// The run Job an earlier reconcile started for `sj`, still running.
pub fn running_job(sj: &ScrapeJob) -> Job {
    let name = sj.metadata.name.clone().unwrap_or_default();
    let uid = sj.metadata.uid.clone().unwrap_or_default();
    let run = RunRequest::new(
        &name,
        &uid,
        Trigger::Schedule(gleaner_operator::schedule::to_utc(now())),
    );
    let mut job = gleaner_operator::run::desired_job(
        sj,
        &run,
        &Default::default(),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    .expect("job");
    job.metadata.creation_timestamp = Some(Time(now()));
    job.status = Some(Default::default());
    job
}

/// `sj` with the status a reconcile would write for these Jobs (the steady state).
pub fn settled(mut sj: ScrapeJob, jobs: &[Job]) -> ScrapeJob {
    let runs = jobs.iter().map(ObservedRun::from_job).collect();
    let p = plan(&Observed {
        egress: &gleaner_scrapejob::egress::default_policy(),
        scrapejob: &sj,
        runs,
        summary: None,
        now: now(),
    });
    sj.status = Some(p.status);
    sj
}

/// A client whose every request is answered at once: Job lists with `jobs`, writes echoed.
pub fn client(jobs: Vec<Job>, sj: &ScrapeJob) -> Client {
    let job_list = Bytes::from(
        serde_json::to_vec(&json!({"apiVersion": "batch/v1", "kind": "JobList",
            "metadata": {"resourceVersion": "1"}, "items": jobs}))
        .expect("json"),
    );
    let pod_list =
        Bytes::from_static(br#"{"apiVersion":"v1","kind":"PodList","metadata":{},"items":[]}"#);
    let sj_bytes = Bytes::from(serde_json::to_vec(sj).expect("json"));
    let canned = Arc::new((job_list, pod_list, sj_bytes));
    let service = tower::service_fn(move |req: Request<Body>| {
        let canned = canned.clone();
        async move {
            let path = req.uri().path().to_owned();
            let method = req.method().clone();
            let body = match (method.as_str(), path.as_str()) {
                ("GET", p) if p.ends_with("/jobs") => canned.0.clone(),
                ("GET", p) if p.ends_with("/pods") => canned.1.clone(),
                ("PATCH", _) => canned.2.clone(),
                _ => req.into_body().collect_bytes().await.unwrap_or_default(),
            };
            Ok::<_, Infallible>(
                Response::builder()
                    .status(if method == "POST" { 201 } else { 200 })
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .expect("response"),
            )
        }
    });
    Client::new(service, "default")
}
