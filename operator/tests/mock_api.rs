//! Reconcile against a mock API server: every request's method, URL and body are checked in
//! order, and every test ends by proving no further request comes (a timeout).

use std::sync::Arc;
use std::time::Duration;

use gleaner_operator::controller::{Context, FINALIZER, error_policy, reconcile};
use gleaner_operator::crd::{
    LastRun, PageRange, RunResult, ScrapeJob, ScrapeJobSpec, ScrapeJobStatus, Targets,
};
use gleaner_operator::metrics::Metrics;
use gleaner_operator::run::{RunRequest, RunSettings, SecretRef, Trigger};
use http::{Method, Request, Response};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::{Client, Resource};
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

const NS: &str = "gleaner";
const NAME: &str = "nightly";
const UID: &str = "5f7c0a2e-1111-4222-8333-944455556666";
const NOW: &str = "2026-11-22T03:00:30Z";

type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// One expected request and the answer to it.
struct Exchange {
    method: Method,
    uri: String,
    check: Box<dyn Fn(&Value) + Send>,
    status: u16,
    reply: Value,
}

fn expect(method: Method, uri: impl Into<String>) -> Exchange {
    Exchange {
        method,
        uri: uri.into(),
        check: Box::new(|_| {}),
        status: 200,
        reply: json!({}),
    }
}

impl Exchange {
    fn body(mut self, check: impl Fn(&Value) + Send + 'static) -> Self {
        self.check = Box::new(check);
        self
    }
    fn reply(mut self, status: u16, reply: Value) -> Self {
        self.status = status;
        self.reply = reply;
        self
    }
}

/// Plays a scenario: answers each expected request in order, asserting what it sees.
fn scenario(mut handle: ApiHandle, exchanges: Vec<Exchange>) -> tokio::task::JoinHandle<ApiHandle> {
    tokio::spawn(async move {
        for (i, ex) in exchanges.into_iter().enumerate() {
            let (request, send) = handle
                .next_request()
                .await
                .unwrap_or_else(|| panic!("request {i} ({} {}) never came", ex.method, ex.uri));
            assert_eq!(
                request.method(),
                ex.method,
                "request {i}: {}",
                request.uri()
            );
            assert_eq!(request.uri().to_string(), ex.uri, "request {i}");
            let bytes = request.into_body().collect_bytes().await.unwrap();
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            };
            (ex.check)(&body);
            let reply = if ex.reply == json!("echo") {
                body
            } else {
                ex.reply
            };
            send.send_response(
                Response::builder()
                    .status(ex.status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap(),
            );
        }
        handle
    })
}

/// Waits for the scenario to finish, then proves nothing else is asked for.
async fn verify(scenario: tokio::task::JoinHandle<ApiHandle>) {
    let mut handle = tokio::time::timeout(Duration::from_secs(2), scenario)
        .await
        .expect("scenario timed out: an expected request never came")
        .expect("scenario failed");
    let extra = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    if let Ok(Some((request, _))) = extra {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}

fn context() -> (Arc<Context>, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let now: Timestamp = NOW.parse().unwrap();
    let ctx = Context::new(
        client,
        RunSettings::default(),
        Metrics::new(),
        "test-replica",
    )
    .with_clock(move || now);
    (Arc::new(ctx), handle)
}

fn scrapejob(configure: impl FnOnce(&mut ScrapeJob)) -> ScrapeJob {
    let mut sj = ScrapeJob::new(
        NAME,
        ScrapeJobSpec::with_targets(Targets {
            idnos: None,
            list_pages: Some(PageRange { from: 1, to: 2 }),
        }),
    );
    sj.metadata.namespace = Some(NS.into());
    sj.metadata.uid = Some(UID.into());
    sj.metadata.generation = Some(1);
    sj.metadata.resource_version = Some("100".into());
    sj.metadata.creation_timestamp = Some(Time("2026-11-22T03:00:00Z".parse().unwrap()));
    sj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    configure(&mut sj);
    sj
}

fn jobs_uri() -> String {
    format!("/apis/batch/v1/namespaces/{NS}/jobs?&labelSelector=gleaner.dev%2Fscrapejob%3D{NAME}")
}

fn status_uri() -> String {
    format!(
        "/apis/gleaner.dev/v1alpha1/namespaces/{NS}/scrapejobs/{NAME}/status?&force=true&fieldManager=gleaner-operator"
    )
}

fn events_uri() -> String {
    format!("/apis/events.k8s.io/v1/namespaces/{NS}/events?")
}

fn job_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "200"}, "items": items})
}

fn owned_job(name: &str, run_id: &str, status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": NS,
            "creationTimestamp": "2026-11-22T03:00:05Z",
            "labels": {"gleaner.dev/scrapejob": NAME, "gleaner.dev/run-id": run_id},
            "ownerReferences": [{
                "apiVersion": "gleaner.dev/v1alpha1", "kind": "ScrapeJob", "name": NAME,
                "uid": UID, "controller": true, "blockOwnerDeletion": true
            }]
        },
        "status": status
    })
}

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

#[test]
fn scrapejob_api_version_is_the_contract() {
    assert_eq!(ScrapeJob::api_version(&()), "gleaner.dev/v1alpha1");
    assert_eq!(ScrapeJob::kind(&()), "ScrapeJob");
}

fn lease_api() -> (
    kube::Api<k8s_openapi::api::coordination::v1::Lease>,
    ApiHandle,
) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    (kube::Api::namespaced(client, NS), handle)
}

fn lease_uri() -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/gleaner-operator")
}

#[tokio::test]
async fn leader_election_creates_a_missing_lease() {
    use gleaner_operator::leader::{LeaderElector, LeaseConfig};
    let (api, handle) = lease_api();
    let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "NotFound", "code": 404, "message": "not found"});
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, lease_uri()).reply(404, not_found),
            expect(
                Method::POST,
                format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases?"),
            )
            .body(|lease| {
                assert_eq!(lease["metadata"]["name"], "gleaner-operator");
                assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
                assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
                assert!(lease["spec"]["renewTime"].is_string());
            })
            .reply(201, json!("echo")),
        ],
    );
    let elector = LeaderElector::new(api, LeaseConfig::new("gleaner-operator", "replica-a"));
    assert!(elector.try_acquire_or_renew().await.unwrap());
    verify(s).await;
}

#[tokio::test]
async fn leader_election_waits_for_a_held_lease_and_takes_an_expired_one() {
    use gleaner_operator::leader::{LeaderElector, LeaseConfig};
    let (api, handle) = lease_api();
    let held = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "gleaner-operator", "namespace": NS, "resourceVersion": "5"},
        "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 15,
                 "renewTime": Timestamp::now().to_string(), "leaseTransitions": 1}});
    let expired = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "gleaner-operator", "namespace": NS, "resourceVersion": "6"},
        "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 15,
                 "renewTime": "2020-01-01T00:00:00.000000Z", "leaseTransitions": 1}});
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, lease_uri()).reply(200, held),
            expect(Method::GET, lease_uri()).reply(200, expired),
            expect(Method::PUT, format!("{}?", lease_uri()))
                .body(|lease| {
                    assert_eq!(lease["metadata"]["resourceVersion"], "6", "optimistic lock");
                    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
                    assert_eq!(lease["spec"]["leaseTransitions"], 2);
                })
                .reply(200, json!("echo")),
        ],
    );
    let elector = LeaderElector::new(api, LeaseConfig::new("gleaner-operator", "replica-a"));
    assert!(
        !elector.try_acquire_or_renew().await.unwrap(),
        "held by replica-b"
    );
    assert!(
        elector.try_acquire_or_renew().await.unwrap(),
        "expired: taken over"
    );
    verify(s).await;
}

// Sharded runs: one Indexed Job; the status adds up the shards' termination messages.

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
