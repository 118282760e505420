//! The mock Kubernetes API the reconcile, leader-election and shard tests talk to: every
//! request's method, URL and body are checked in order, and every test ends by proving no
//! further request comes (a timeout).

use std::sync::Arc;
use std::time::Duration;

use gleaner_operator::controller::{Context, FINALIZER};
use gleaner_operator::crd::{PageRange, ScrapeJob, ScrapeJobSpec, Targets};
use gleaner_operator::metrics::Metrics;
use gleaner_operator::run::RunSettings;
use http::{Method, Request, Response};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

pub const NS: &str = "gleaner";
pub const NAME: &str = "nightly";
pub const UID: &str = "5f7c0a2e-1111-4222-8333-944455556666";
pub const NOW: &str = "2026-11-22T03:00:30Z";

pub type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// One expected request and the answer to it.
pub struct Exchange {
    method: Method,
    uri: String,
    check: Box<dyn Fn(&Value) + Send>,
    status: u16,
    reply: Value,
}

pub fn expect(method: Method, uri: impl Into<String>) -> Exchange {
    Exchange {
        method,
        uri: uri.into(),
        check: Box::new(|_| {}),
        status: 200,
        reply: json!({}),
    }
}

impl Exchange {
    pub fn body(mut self, check: impl Fn(&Value) + Send + 'static) -> Self {
        self.check = Box::new(check);
        self
    }
    pub fn reply(mut self, status: u16, reply: Value) -> Self {
        self.status = status;
        self.reply = reply;
        self
    }
}

/// Plays a scenario: answers each expected request in order, asserting what it sees.
pub fn scenario(
    mut handle: ApiHandle,
    exchanges: Vec<Exchange>,
) -> tokio::task::JoinHandle<ApiHandle> {
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
pub async fn verify(scenario: tokio::task::JoinHandle<ApiHandle>) {
    let mut handle = tokio::time::timeout(Duration::from_secs(2), scenario)
        .await
        .expect("scenario timed out: an expected request never came")
        .expect("scenario failed");
    let extra = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    if let Ok(Some((request, _))) = extra {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}

pub fn context() -> (Arc<Context>, ApiHandle) {
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

pub fn scrapejob(configure: impl FnOnce(&mut ScrapeJob)) -> ScrapeJob {
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

pub fn jobs_uri() -> String {
    format!("/apis/batch/v1/namespaces/{NS}/jobs?&labelSelector=gleaner.dev%2Fscrapejob%3D{NAME}")
}

pub fn status_uri() -> String {
    format!(
        "/apis/gleaner.dev/v1alpha1/namespaces/{NS}/scrapejobs/{NAME}/status?&force=true&fieldManager=gleaner-operator"
    )
}

pub fn events_uri() -> String {
    format!("/apis/events.k8s.io/v1/namespaces/{NS}/events?")
}

pub fn job_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "200"}, "items": items})
}

pub fn owned_job(name: &str, run_id: &str, status: Value) -> Value {
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
