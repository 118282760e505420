//! Sharded runs against the mock API: one Indexed Job per run, and a status that adds up
//! the shards' termination messages while the run goes and once it ends.

use std::sync::Arc;

use gleaner_operator::controller::{Context, reconcile};
use gleaner_operator::crd::{LastRun, RunResult, ScrapeJobStatus};
use gleaner_operator::metrics::Metrics;
use gleaner_operator::run::{RunRequest, RunSettings, SecretRef, Trigger};
use http::{Method, Request, Response};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

use crate::support::mock_api::{
    ApiHandle, NAME, NOW, NS, UID, events_uri, expect, job_list, jobs_uri, owned_job, scenario,
    scrapejob, status_uri, verify,
};

fn sharded_context() -> (Arc<Context>, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let now: Timestamp = NOW.parse().unwrap();
    let settings = RunSettings {
        redis_secret: Some(SecretRef {
            name: "gleaner-scraper-redis".into(),
            key: "url".into(),
        }),
        ..RunSettings::default()
    };
    let ctx =
        Context::new(client, settings, Metrics::new(), "test-replica").with_clock(move || now);
    (Arc::new(ctx), handle)
}

fn env_value<'a>(env: &'a [Value], name: &str) -> Option<&'a Value> {
    env.iter().find(|e| e["name"] == name)
}

#[tokio::test]
async fn four_shards_run_as_one_indexed_job() {
    let (ctx, handle) = sharded_context();
    let sj = scrapejob(|sj| sj.spec.shards = 4);
    let run = RunRequest::new(NAME, UID, Trigger::Initial);
    let job_name = run.job_name.clone();
    let run_id = run.run_id.clone();
    let sj_reply = serde_json::to_value(&sj).unwrap();
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, jobs_uri()).reply(200, job_list(vec![])),
            expect(Method::POST, format!("/apis/batch/v1/namespaces/{NS}/jobs?"))
                .body({
                    let job_name = job_name.clone();
                    move |job| {
                        assert_eq!(job["metadata"]["name"], job_name.as_str());
                        let spec = &job["spec"];
                        assert_eq!(spec["completionMode"], "Indexed");
                        assert_eq!(spec["completions"], 4);
                        assert_eq!(spec["parallelism"], 4);
                        // One failing shard fails the Job (and so the run).
                        assert_eq!(spec["backoffLimit"], 0);
                        assert!(spec.get("backoffLimitPerIndex").is_none());
                        assert_eq!(spec["activeDeadlineSeconds"], 3600);
                        assert_eq!(spec["podReplacementPolicy"], "Failed");
                        let pod = &spec["template"]["spec"];
                        assert_eq!(pod["restartPolicy"], "Never");
                        let env = pod["containers"][0]["env"].as_array().unwrap();
                        assert_eq!(env_value(env, "SCRAPE_SHARDS").unwrap()["value"], "4");
                        assert_eq!(
                            env_value(env, "SCRAPE_RUN_ID").unwrap()["value"],
                            run_id.as_str()
                        );
                        // Kubernetes sets each pod's index itself.
                        assert!(env_value(env, "JOB_COMPLETION_INDEX").is_none());
                        let redis = env_value(env, "REDIS_URL").unwrap();
                        assert!(redis.get("value").is_none(), "{redis}");
                        assert_eq!(
                            redis["valueFrom"]["secretKeyRef"],
                            json!({"name": "gleaner-scraper-redis", "key": "url", "optional": false})
                        );
                        assert_eq!(
                            env_value(env, "DATABASE_URL").unwrap()["valueFrom"]["secretKeyRef"]
                                ["name"],
                            "gleaner-scraper-db"
                        );
                    }
                })
                .reply(201, json!("echo")),
            expect(Method::PATCH, status_uri())
                .body(move |patch| {
                    assert_eq!(patch["status"]["phase"], "Running");
                    assert_eq!(patch["status"]["lastRun"]["name"], job_name.as_str());
                    assert_eq!(patch["status"]["lastRun"]["result"], "Running");
                })
                .reply(200, sj_reply),
            expect(Method::POST, events_uri())
                .body(|ev| assert_eq!(ev["reason"], "RunStarted"))
                .reply(201, json!("echo")),
        ],
    );
    reconcile(Arc::new(sj), ctx).await.unwrap();
    verify(s).await;
}

/// A pod of shard `index` whose container ended with `exit_code` and `message`.
fn shard_pod(job: &str, index: u32, exit_code: i32, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{job}-{index}-x7k2p"), "namespace": NS,
            "creationTimestamp": "2026-11-22T03:00:06Z",
            "labels": {"batch.kubernetes.io/job-name": job,
                       "batch.kubernetes.io/job-completion-index": index.to_string()},
            "annotations": {"batch.kubernetes.io/job-completion-index": index.to_string()}
        },
        "status": {"containerStatuses": [{
            "name": "scraper", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {
                "exitCode": exit_code,
                "reason": if exit_code == 0 { "Completed" } else { "Error" },
                "message": message
            }}
        }]}
    })
}

fn shard_line(run_id: &str, status: &str, n: u64, failure: Option<&str>) -> String {
    let mut line = json!({
        "run_id": run_id, "status": status,
        "started_at": format!("2026-11-22T03:00:0{n}Z"),
        "finished_at": format!("2026-11-22T03:00:2{n}Z"),
        "pages_fetched": 10 * n, "pages_unchanged": n, "pages_failed": 1,
        "companies_created": 4 * n, "companies_updated": n
    });
    if let Some(f) = failure {
        line["failure"] = json!(f);
    }
    line.to_string()
}

/// Reconciles a ScrapeJob with `shards: 4` whose run's Job ended with `job_status`, its four
/// pods as given, and returns the status patch (an event is published too).
async fn finished_sharded_run(job_status: Value, pods: impl Fn(&str, &str) -> Vec<Value>) -> Value {
    sharded_run_status(job_status, pods, true).await
}

/// Reconciles a ScrapeJob with `shards: 4` whose running run's Job has `job_status` and the
/// pods `pods(job name, run id)`; returns the status patch. `event`: whether the reconcile
/// publishes an event (a run that ends does, one that goes on does not).
async fn sharded_run_status(
    job_status: Value,
    pods: impl Fn(&str, &str) -> Vec<Value>,
    event: bool,
) -> Value {
    let (ctx, handle) = sharded_context();
    let run = RunRequest::new(NAME, UID, Trigger::Initial);
    let sj = scrapejob(|sj| {
        sj.spec.shards = 4;
        sj.status = Some(ScrapeJobStatus {
            last_run: Some(LastRun {
                name: run.job_name.clone(),
                run_id: Some(run.run_id.clone()),
                started_at: Some(Time("2026-11-22T03:00:05Z".parse().unwrap())),
                result: Some(RunResult::Running),
                ..LastRun::default()
            }),
            ..ScrapeJobStatus::default()
        });
    });
    let mut job = owned_job(&run.job_name, &run.run_id, job_status);
    job["spec"] = json!({"completionMode": "Indexed", "completions": 4, "parallelism": 4,
        "template": {"spec": {"containers": [{"name": "scraper"}]}}});
    let patched = Arc::new(std::sync::Mutex::new(Value::Null));
    let sj_reply = serde_json::to_value(&sj).unwrap();
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, jobs_uri()).reply(200, job_list(vec![job])),
            expect(
                Method::GET,
                format!(
                    "/api/v1/namespaces/{NS}/pods?&labelSelector=batch.kubernetes.io%2Fjob-name%3D{}",
                    run.job_name
                ),
            )
            .reply(
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {},
                       "items": pods(&run.job_name, &run.run_id)}),
            ),
            expect(Method::PATCH, status_uri())
                .body({
                    let patched = patched.clone();
                    move |patch| *patched.lock().unwrap() = patch.clone()
                })
                .reply(200, sj_reply),
        ]
        .into_iter()
        .chain(event.then(|| expect(Method::POST, events_uri()).reply(201, json!("echo"))))
        .collect(),
    );
    reconcile(Arc::new(sj), ctx).await.unwrap();
    verify(s).await;
    patched.lock().unwrap().clone()
}

/// The status of an Indexed Job of 4 that completed: every index succeeded.
fn completed_job_status() -> Value {
    json!({
        "startTime": "2026-11-22T03:00:06Z",
        "completionTime": "2026-11-22T03:00:30Z",
        "succeeded": 4, "completedIndexes": "0-3",
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-22T03:00:30Z"}]
    })
}

/// Succeeded pods of indexes `0..count`; index i fetched 10 × (i + 1) pages.
fn succeeded_shard_pods(job: &str, run_id: &str, count: u32) -> Vec<Value> {
    (0..count)
        .map(|i| {
            shard_pod(
                job,
                i,
                0,
                &shard_line(run_id, "succeeded", u64::from(i) + 1, None),
            )
        })
        .collect()
}

#[tokio::test]
async fn four_succeeded_shards_add_up_in_the_status() {
    let patch = finished_sharded_run(completed_job_status(), |job, run_id| {
        succeeded_shard_pods(job, run_id, 4)
    })
    .await;
    let status = &patch["status"];
    assert_eq!(status["phase"], "Succeeded");
    let last = &status["lastRun"];
    assert_eq!(last["result"], "Succeeded");
    // 10+20+30+40 pages, 4 failed, 4*(1+2+3+4) created, 1+2+3+4 updated.
    assert_eq!(last["pagesFetched"], 100);
    assert_eq!(last["pagesUnchanged"], 10);
    assert_eq!(last["pagesFailed"], 4);
    assert_eq!(last["companiesCreated"], 40);
    assert_eq!(last["companiesUpdated"], 10);
    assert_eq!(last["companiesWritten"], 50);
    assert_eq!(last["startedAt"], "2026-11-22T03:00:05Z");
    // The last shard to finish ends the run.
    assert_eq!(last["finishedAt"], "2026-11-22T03:00:24Z");
    assert!(last.get("message").is_none());
}

#[tokio::test]
async fn a_completed_sharded_job_whose_shard_pod_is_gone_keeps_its_verdict() {
    // Shard 3's pod was cleaned up before this reconcile: Kubernetes saw every index
    // succeed, so the run succeeded (without counters it can no longer add up).
    let patch = finished_sharded_run(completed_job_status(), |job, run_id| {
        succeeded_shard_pods(job, run_id, 3)
    })
    .await;
    let status = &patch["status"];
    assert_eq!(status["phase"], "Succeeded", "{status}");
    assert_eq!(status["lastRun"]["result"], "Succeeded");
    assert!(status["lastRun"].get("message").is_none(), "{status}");
}

#[tokio::test]
async fn one_failed_shard_fails_the_run_in_the_status() {
    let patch = finished_sharded_run(
        json!({
            "startTime": "2026-11-22T03:00:06Z",
            "succeeded": 2, "failed": 1, "completedIndexes": "0,3",
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit",
                            "lastTransitionTime": "2026-11-22T03:00:28Z"}]
        }),
        |job, run_id| {
            vec![
                shard_pod(job, 0, 0, &shard_line(run_id, "succeeded", 1, None)),
                shard_pod(
                    job,
                    1,
                    1,
                    &shard_line(run_id, "failed", 2, Some("the database went away")),
                ),
                // Stopped by Kubernetes when shard 1 failed.
                shard_pod(
                    job,
                    2,
                    1,
                    &shard_line(run_id, "cancelled", 3, Some("cancelled")),
                ),
                shard_pod(job, 3, 0, &shard_line(run_id, "succeeded", 4, None)),
            ]
        },
    )
    .await;
    let status = &patch["status"];
    assert_eq!(status["phase"], "Failed");
    let last = &status["lastRun"];
    assert_eq!(last["result"], "Failed");
    assert_eq!(last["pagesFetched"], 100);
    assert_eq!(last["companiesWritten"], 50);
    assert_eq!(
        last["message"],
        "BackoffLimitExceeded: Job has reached the specified backoff limit; \
         shard 1/4: the database went away; shard 2/4: cancelled"
    );
    let failed = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .unwrap();
    assert_eq!(failed["status"], "True");
    assert_eq!(failed["reason"], "RunFailed");
}

#[tokio::test]
async fn a_sharded_run_reports_its_finished_shards_while_it_goes() {
    let patch = sharded_run_status(
        json!({"startTime": "2026-11-22T03:00:06Z", "active": 3, "succeeded": 1, "completedIndexes": "2"}),
        |job, run_id| {
            let mut running = shard_pod(job, 0, 0, "");
            running["status"]["containerStatuses"][0]["state"] = json!({"running": {}});
            vec![
                running,
                shard_pod(job, 2, 0, &shard_line(run_id, "succeeded", 3, None)),
            ]
        },
        false,
    )
    .await;
    let status = &patch["status"];
    assert_eq!(status["phase"], "Running");
    let last = &status["lastRun"];
    assert_eq!(last["result"], "Running");
    assert_eq!(last["pagesFetched"], 30);
    assert_eq!(last["companiesWritten"], 15);
    assert!(last.get("finishedAt").is_none());
}
