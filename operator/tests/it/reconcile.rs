//! Reconciling one ScrapeJob against the mock API: the Job a run needs, the finalizer, the
//! status written only when it changes, an invalid spec, deletion, and backoff on errors.

use std::sync::Arc;
use std::time::Duration;

use gleaner_operator::controller::{FINALIZER, error_policy, reconcile};
use gleaner_operator::crd::{LastRun, RunResult, ScrapeJobStatus};
use gleaner_operator::run::{RunRequest, Trigger};
use http::Method;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use crate::support::mock_api::{
    NAME, NOW, NS, UID, context, events_uri, expect, job_list, jobs_uri, owned_job, scenario,
    scrapejob, status_uri, verify,
};

#[tokio::test]
async fn first_reconcile_creates_the_job_and_patches_status() {
    let (ctx, handle) = context();
    let sj = scrapejob(|_| {});
    let run = RunRequest::new(NAME, UID, Trigger::Initial);
    let job_name = run.job_name.clone();
    let run_id = run.run_id.clone();
    let sj_reply = serde_json::to_value(&sj).unwrap();
    let jobs_post = format!("/apis/batch/v1/namespaces/{NS}/jobs?");
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, jobs_uri()).reply(200, job_list(vec![])),
            expect(Method::POST, jobs_post)
                .body({
                    let job_name = job_name.clone();
                    move |job| {
                        assert_eq!(job["metadata"]["name"], job_name.as_str());
                        assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], UID);
                        assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
                        assert_eq!(
                            job["metadata"]["labels"]["gleaner.dev/run-id"],
                            run_id.as_str()
                        );
                        assert_eq!(
                            job["metadata"]["annotations"]["gleaner.dev/trigger"],
                            "initial"
                        );
                        assert_eq!(job["spec"]["activeDeadlineSeconds"], 3600);
                        let pod = &job["spec"]["template"]["spec"];
                        let c = &pod["containers"][0];
                        assert_eq!(c["command"], json!(["scraper", "run"]));
                        assert_eq!(c["securityContext"]["runAsNonRoot"], true);
                        let env = c["env"].as_array().unwrap();
                        let tp = env.iter().find(|e| e["name"] == "TRACEPARENT").unwrap();
                        let tp = tp["value"].as_str().unwrap();
                        assert!(
                            tp.starts_with("00-") && tp.ends_with("-01") && tp.len() == 55,
                            "{tp}"
                        );
                        let spec = env.iter().find(|e| e["name"] == "SCRAPEJOB_SPEC").unwrap();
                        let spec: Value =
                            serde_json::from_str(spec["value"].as_str().unwrap()).unwrap();
                        assert_eq!(spec["targets"]["listPages"], json!({"from": 1, "to": 2}));
                    }
                })
                .reply(201, json!("echo")),
            expect(Method::PATCH, status_uri())
                .body({
                    let job_name = job_name.clone();
                    move |patch| {
                        assert_eq!(patch["apiVersion"], "gleaner.dev/v1alpha1");
                        assert_eq!(patch["kind"], "ScrapeJob");
                        let status = &patch["status"];
                        assert_eq!(status["phase"], "Running");
                        assert_eq!(status["observedGeneration"], 1);
                        assert_eq!(status["lastRun"]["name"], job_name.as_str());
                        assert_eq!(status["lastRun"]["result"], "Running");
                        assert_eq!(status["lastRun"]["startedAt"], NOW);
                        let types: Vec<&str> = status["conditions"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|c| c["type"].as_str().unwrap())
                            .collect();
                        assert_eq!(types, ["Ready", "Running"]);
                        assert_eq!(status["conditions"][1]["status"], "True");
                        assert_eq!(status["conditions"][1]["observedGeneration"], 1);
                    }
                })
                .reply(200, sj_reply),
            expect(Method::POST, events_uri())
                .body(|ev| {
                    assert_eq!(ev["reason"], "RunStarted");
                    assert_eq!(ev["type"], "Normal");
                    assert_eq!(ev["regarding"]["name"], NAME);
                    assert_eq!(ev["reportingController"], "gleaner-operator");
                })
                .reply(201, json!("echo")),
        ],
    );
    let action = reconcile(Arc::new(sj), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    verify(s).await;
    assert!(
        ctx.metrics
            .render()
            .contains(r#"operator_reconciles_total{result="success"} 1"#)
    );
}

#[tokio::test]
async fn a_new_scrapejob_first_gets_the_finalizer() {
    let (ctx, handle) = context();
    let sj = scrapejob(|sj| sj.metadata.finalizers = None);
    let reply = serde_json::to_value(scrapejob(|_| {})).unwrap();
    let s = scenario(
        handle,
        vec![
            expect(
                Method::PATCH,
                format!("/apis/gleaner.dev/v1alpha1/namespaces/{NS}/scrapejobs/{NAME}?"),
            )
            .body(|patch| {
                assert_eq!(
                    patch,
                    &json!([
                        {"op": "test", "path": "/metadata/finalizers", "value": null},
                        {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
                    ])
                );
            })
            .reply(200, reply),
        ],
    );
    let action = reconcile(Arc::new(sj), ctx).await.unwrap();
    assert_eq!(action, Action::await_change());
    verify(s).await;
}

#[tokio::test]
async fn a_finished_job_updates_last_run() {
    let (ctx, handle) = context();
    let run = RunRequest::new(NAME, UID, Trigger::Initial);
    let job_name = run.job_name.clone();
    let sj = scrapejob(|sj| {
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
    let job = owned_job(
        &run.job_name,
        &run.run_id,
        json!({
            "startTime": "2026-11-22T03:00:06Z",
            "completionTime": "2026-11-22T03:00:25Z",
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-22T03:00:25Z"}]
        }),
    );
    let summary = json!({
        "run_id": run.run_id, "status": "succeeded",
        "started_at": "2026-11-22T03:00:07Z", "finished_at": "2026-11-22T03:00:24Z",
        "pages_fetched": 42, "pages_unchanged": 5, "pages_failed": 1,
        "companies_created": 30, "companies_updated": 4
    });
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{}-abcde", run.job_name), "namespace": NS},
        "status": {"containerStatuses": [{
            "name": "scraper", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": summary.to_string()}}
        }]}
    });
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
            .reply(200, json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [pod]})),
            expect(Method::PATCH, status_uri())
                .body(move |patch| {
                    let status = &patch["status"];
                    assert_eq!(status["phase"], "Succeeded");
                    let last = &status["lastRun"];
                    assert_eq!(last["name"], job_name.as_str());
                    assert_eq!(last["result"], "Succeeded");
                    assert_eq!(last["startedAt"], "2026-11-22T03:00:05Z");
                    assert_eq!(last["finishedAt"], "2026-11-22T03:00:24Z");
                    assert_eq!(last["pagesFetched"], 42);
                    assert_eq!(last["pagesFailed"], 1);
                    assert_eq!(last["companiesCreated"], 30);
                    assert_eq!(last["companiesUpdated"], 4);
                    assert_eq!(last["companiesWritten"], 34);
                    let conditions = status["conditions"].as_array().unwrap();
                    let succeeded = conditions.iter().find(|c| c["type"] == "Succeeded").unwrap();
                    assert_eq!(succeeded["status"], "True");
                })
                .reply(200, sj_reply),
            expect(Method::POST, events_uri())
                .body(|ev| {
                    assert_eq!(ev["reason"], "RunSucceeded");
                    assert!(ev["note"].as_str().unwrap().contains("42 pages fetched"));
                })
                .reply(201, json!("echo")),
        ],
    );
    reconcile(Arc::new(sj), ctx).await.unwrap();
    verify(s).await;
}

#[tokio::test]
async fn suspend_creates_nothing() {
    let (ctx, handle) = context();
    let sj = scrapejob(|sj| {
        sj.spec.suspend = true;
        sj.spec.schedule = Some("0 * * * *".into());
        sj.metadata.creation_timestamp = Some(Time("2026-11-22T02:30:00Z".parse().unwrap()));
    });
    let sj_reply = serde_json::to_value(&sj).unwrap();
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, jobs_uri()).reply(200, job_list(vec![])),
            expect(Method::PATCH, status_uri())
                .body(|patch| {
                    let status = &patch["status"];
                    assert_eq!(status["phase"], "Suspended");
                    assert!(status.get("nextRunAt").is_none());
                    assert!(status.get("lastRun").is_none());
                    assert_eq!(status["lastScheduledAt"], "2026-11-22T03:00:00Z");
                })
                .reply(200, sj_reply),
        ],
    );
    reconcile(Arc::new(sj), ctx).await.unwrap();
    verify(s).await;
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    let (ctx, handle) = context();
    // First pass computes the status; the second sees it stored and only lists Jobs.
    let sj = scrapejob(|sj| {
        sj.spec.suspend = true;
    });
    let sj_reply = serde_json::to_value(&sj).unwrap();
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, jobs_uri()).reply(200, job_list(vec![])),
            expect(Method::PATCH, status_uri()).reply(200, sj_reply),
        ],
    );
    reconcile(Arc::new(sj.clone()), ctx.clone()).await.unwrap();
    let handle = tokio::time::timeout(Duration::from_secs(2), s)
        .await
        .unwrap()
        .unwrap();

    let mut stored = sj;
    let run = gleaner_operator::plan::plan(&gleaner_operator::plan::Observed {
        egress: &gleaner_scrapejob::egress::default_policy(),
        scrapejob: &stored,
        runs: vec![],
        summary: None,
        now: NOW.parse().unwrap(),
    });
    stored.status = Some(run.status);
    let s = scenario(
        handle,
        vec![expect(Method::GET, jobs_uri()).reply(200, job_list(vec![]))],
    );
    reconcile(Arc::new(stored), ctx).await.unwrap();
    verify(s).await;
}

#[tokio::test]
async fn invalid_spec_sets_ready_false_and_warns() {
    let (ctx, handle) = context();
    let sj = scrapejob(|sj| sj.spec.schedule = Some("75 * * * *".into()));
    let sj_reply = serde_json::to_value(&sj).unwrap();
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, jobs_uri()).reply(200, job_list(vec![])),
            expect(Method::PATCH, status_uri())
                .body(|patch| {
                    let ready = &patch["status"]["conditions"][0];
                    assert_eq!(ready["type"], "Ready");
                    assert_eq!(ready["status"], "False");
                    assert_eq!(ready["reason"], "InvalidSpec");
                    assert!(ready["message"].as_str().unwrap().contains("spec.schedule"));
                })
                .reply(200, sj_reply),
            expect(Method::POST, events_uri())
                .body(|ev| {
                    assert_eq!(ev["type"], "Warning");
                    assert_eq!(ev["reason"], "InvalidSpec");
                })
                .reply(201, json!("echo")),
        ],
    );
    reconcile(Arc::new(sj), ctx).await.unwrap();
    verify(s).await;
}

#[tokio::test]
async fn deletion_cleans_up_runs_and_releases_the_finalizer() {
    let (ctx, handle) = context();
    let sj = scrapejob(|sj| {
        sj.metadata.deletion_timestamp = Some(Time("2026-11-22T03:00:29Z".parse().unwrap()));
    });
    let running = owned_job("nightly-0a1b2c3d", "0a1b2c3d-run", json!({"active": 1}));
    let mut gone = sj.clone();
    gone.metadata.finalizers = None;
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, jobs_uri()).reply(200, job_list(vec![running])),
            expect(
                Method::DELETE,
                format!("/apis/batch/v1/namespaces/{NS}/jobs/nightly-0a1b2c3d?"),
            )
            .body(|opts| assert_eq!(opts["propagationPolicy"], "Background"))
            .reply(
                200,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}),
            ),
            expect(
                Method::PATCH,
                format!("/apis/gleaner.dev/v1alpha1/namespaces/{NS}/scrapejobs/{NAME}?"),
            )
            .body(|patch| {
                assert_eq!(
                    patch,
                    &json!([
                        {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
                        {"op": "remove", "path": "/metadata/finalizers/0"}
                    ])
                );
            })
            .reply(200, serde_json::to_value(&gone).unwrap()),
        ],
    );
    let action = reconcile(Arc::new(sj), ctx).await.unwrap();
    assert_eq!(action, Action::await_change());
    verify(s).await;
}

#[tokio::test]
async fn api_errors_back_off_exponentially_per_object() {
    let (ctx, handle) = context();
    let sj = Arc::new(scrapejob(|_| {}));
    let other = Arc::new(scrapejob(|sj| sj.metadata.name = Some("other".into())));
    let failure = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500});
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, jobs_uri()).reply(500, failure.clone()),
            expect(Method::GET, jobs_uri()).reply(500, failure.clone()),
            expect(Method::GET, jobs_uri()).reply(500, failure),
        ],
    );
    let mut delays = Vec::new();
    for _ in 0..3 {
        let err = reconcile(sj.clone(), ctx.clone()).await.unwrap_err();
        let action = error_policy(sj.clone(), &err, ctx.clone());
        delays.push(action);
    }
    verify(s).await;
    // 1 s, 2 s, 4 s (plus up to 10 % jitter), and another object starts again at 1 s.
    for (action, secs) in delays.iter().zip([1.0, 2.0, 4.0]) {
        let dbg = format!("{action:?}");
        let got = requeue_secs(&dbg);
        assert!(got >= secs && got <= secs * 1.1, "{dbg} for {secs}s");
    }
    let first_other = error_policy(
        other,
        &gleaner_operator::controller::Error::MissingNamespace,
        ctx.clone(),
    );
    let got = requeue_secs(&format!("{first_other:?}"));
    assert!((1.0..=1.1).contains(&got));
    assert!(
        ctx.metrics
            .render()
            .contains(r#"operator_reconciles_total{result="error"} 4"#)
    );
}

/// Reads the delay out of `Action`'s Debug form (the type keeps it private).
fn requeue_secs(debug: &str) -> f64 {
    let start = debug.find("Some(").expect("a requeue") + 5;
    let rest = &debug[start..];
    let end = rest.find(')').unwrap();
    let text = &rest[..end];
    if let Some(ms) = text.strip_suffix("ms") {
        ms.parse::<f64>().unwrap() / 1000.0
    } else if let Some(us) = text.strip_suffix("µs") {
        us.parse::<f64>().unwrap() / 1_000_000.0
    } else if let Some(s) = text.strip_suffix('s') {
        s.parse().unwrap()
    } else {
        panic!("unexpected duration {text}")
    }
}
