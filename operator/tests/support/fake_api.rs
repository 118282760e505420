//! A small fake Kubernetes API server on 127.0.0.1 for wiring tests: answers LISTs from
//! canned objects, holds WATCHes open, echoes writes, keeps one Lease, records every request.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use gleaner_operator::controller::FINALIZER;
use gleaner_operator::crd::{PageRange, ScrapeJob, ScrapeJobSpec, Targets};
use serde_json::{Value, json};

/// One recorded request: method, path?query, JSON body (Null when none).
pub type Seen = (Method, String, Value);

#[derive(Clone)]
pub struct Fake {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub lease: Arc<Mutex<Option<Value>>>,
    /// Jobs created through the fake, as stored.
    pub jobs: Arc<Mutex<Vec<Value>>>,
    /// Watch events sent to the (metadata) Job watch.
    pub job_events: tokio::sync::broadcast::Sender<Value>,
    /// The finished Job's name and the summary in its pod's termination message.
    pub summary: Arc<Mutex<Option<(String, Value)>>>,
    pub namespace: String,
}

impl Fake {
    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Marks a created Job as completed, gives it a pod with the scraper's summary, and
    /// tells the Job watch, as the Job controller and kubelet would.
    pub fn complete_job(&self, name: &str, summary: &Value) {
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs
            .iter_mut()
            .find(|j| j["metadata"]["name"] == name)
            .expect("job exists");
        job["metadata"]["resourceVersion"] = json!("30");
        job["status"] = json!({
            "startTime": "2026-11-22T03:00:01Z",
            "completionTime": "2026-11-22T03:02:00Z",
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True",
                            "lastTransitionTime": "2026-11-22T03:02:00Z"}]
        });
        *self.summary.lock().unwrap() = Some((name.to_owned(), summary.clone()));
        let meta = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                          "metadata": job["metadata"].clone()});
        let _ = self
            .job_events
            .send(json!({"type": "MODIFIED", "object": meta}));
    }

    /// Whether a request matching `method` and containing `path_part` was seen.
    pub fn saw(&self, method: &Method, path_part: &str) -> bool {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(m, p, _)| m == method && p.contains(path_part))
    }
}

/// The one ScrapeJob the fake lists.
pub fn scrapejob(namespace: &str) -> ScrapeJob {
    let mut sj = ScrapeJob::new(
        "loopback",
        ScrapeJobSpec::with_targets(Targets {
            idnos: Some(vec!["1003600012345".into()]),
            list_pages: Some(PageRange { from: 1, to: 1 }),
        }),
    );
    sj.metadata.namespace = Some(namespace.into());
    sj.metadata.uid = Some("2b0c5a4e-aaaa-4bbb-8ccc-000000000001".into());
    sj.metadata.resource_version = Some("10".into());
    sj.metadata.generation = Some(1);
    sj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    sj
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn not_found(what: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": format!("{what} not found"), "reason": "NotFound", "code": 404}),
    )
}

async fn api(State(fake): State<Fake>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // Subscribe before the request is visible as seen, so a test that waits for the watch
    // and then sends an event cannot lose it.
    let job_watch =
        (method == Method::GET && query.contains("watch=true") && path == "/apis/batch/v1/jobs")
            .then(|| fake.job_events.subscribe());
    fake.seen
        .lock()
        .unwrap()
        .push((method.clone(), format!("{path}?{query}"), body.clone()));

    if let Some(rx) = job_watch {
        // The Job watch: whatever the test sends, one JSON line per event, then held open.
        let events = futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        let mut line = serde_json::to_vec(&event).unwrap();
                        line.push(b'\n');
                        return Some((Ok::<_, std::io::Error>(Bytes::from(line)), rx));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        });
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(events))
            .unwrap();
    }
    if method == Method::GET && query.contains("watch=true") {
        // Hold every other watch open with no events, like a quiet API server.
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(futures::stream::pending::<
                Result<Bytes, std::io::Error>,
            >()))
            .unwrap();
    }
    let ns = fake.namespace.clone();
    let sj = serde_json::to_value(scrapejob(&ns)).unwrap();
    let lease_path = format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases");
    match (method, path.as_str()) {
        (Method::GET, "/version") => json_response(
            StatusCode::OK,
            &json!({"major": "1", "minor": "37", "gitVersion": "v1.37.0-fake",
                    "gitCommit": "fake", "gitTreeState": "clean", "buildDate": "2026-11-01T00:00:00Z",
                    "goVersion": "go1.27", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        (Method::GET, "/apis/gleaner.dev/v1alpha1/scrapejobs") => json_response(
            StatusCode::OK,
            &json!({"apiVersion": "gleaner.dev/v1alpha1", "kind": "ScrapeJobList",
                    "metadata": {"resourceVersion": "11"}, "items": [sj]}),
        ),
        (Method::GET, "/apis/batch/v1/jobs") => json_response(
            StatusCode::OK,
            &json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                    "metadata": {"resourceVersion": "11"}, "items": []}),
        ),
        (Method::GET, p) if p == format!("/apis/batch/v1/namespaces/{ns}/jobs") => {
            let items = fake.jobs.lock().unwrap().clone();
            json_response(
                StatusCode::OK,
                &json!({"apiVersion": "batch/v1", "kind": "JobList",
                        "metadata": {"resourceVersion": "31"}, "items": items}),
            )
        }
        (Method::POST, p) if p == format!("/apis/batch/v1/namespaces/{ns}/jobs") => {
            let mut job = body.clone();
            job["metadata"]["uid"] = json!(format!("job-uid-{}", fake.jobs.lock().unwrap().len()));
            job["metadata"]["resourceVersion"] = json!("20");
            job["metadata"]["creationTimestamp"] = json!("2026-11-22T03:00:00Z");
            fake.jobs.lock().unwrap().push(job.clone());
            json_response(StatusCode::CREATED, &job)
        }
        (Method::GET, p) if p == format!("/api/v1/namespaces/{ns}/pods") => {
            let items: Vec<Value> = match fake.summary.lock().unwrap().clone() {
                Some((job, summary)) if query.contains(&job) => vec![json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("{job}-x1y2z"), "namespace": ns,
                                 "labels": {"batch.kubernetes.io/job-name": job}},
                    "status": {"containerStatuses": [{
                        "name": "scraper", "image": "scraper", "imageID": "", "ready": false,
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                 "message": summary.to_string()}}
                    }]}
                })],
                _ => vec![],
            };
            json_response(
                StatusCode::OK,
                &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}),
            )
        }
        (Method::PATCH, p)
            if p == format!(
                "/apis/gleaner.dev/v1alpha1/namespaces/{ns}/scrapejobs/loopback/status"
            ) =>
        {
            json_response(StatusCode::OK, &sj)
        }
        (Method::POST, p) if p == format!("/apis/events.k8s.io/v1/namespaces/{ns}/events") => {
            json_response(StatusCode::CREATED, &body)
        }
        (Method::GET, p) if p.starts_with(&lease_path) => {
            match fake.lease.lock().unwrap().clone() {
                Some(lease) => json_response(StatusCode::OK, &lease),
                None => not_found("lease"),
            }
        }
        (Method::POST, p) if p == lease_path => {
            let mut lease = body.clone();
            lease["metadata"]["resourceVersion"] = json!("1");
            *fake.lease.lock().unwrap() = Some(lease.clone());
            json_response(StatusCode::CREATED, &lease)
        }
        (Method::PUT, p) if p.starts_with(&lease_path) => {
            let mut lease = body.clone();
            let rv = lease["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            lease["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
            *fake.lease.lock().unwrap() = Some(lease.clone());
            json_response(StatusCode::OK, &lease)
        }
        (m, p) => not_found(&format!("{m} {p}")),
    }
}

/// Starts the fake on 127.0.0.1:0; the server task ends with the test's runtime.
pub async fn start(namespace: &str) -> (SocketAddr, Fake) {
    let fake = Fake {
        seen: Arc::default(),
        lease: Arc::default(),
        jobs: Arc::default(),
        job_events: tokio::sync::broadcast::channel(16).0,
        summary: Arc::default(),
        namespace: namespace.to_owned(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(api).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, fake)
}
