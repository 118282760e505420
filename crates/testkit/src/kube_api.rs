//! A small fake Kubernetes API server on 127.0.0.1 for wiring tests (no cluster can be had
//! here): it keeps ScrapeJob objects (list, get, create, replace, merge-patch, delete),
//! answers the LISTs a controller makes, holds WATCHes open, echoes writes, keeps one
//! Lease, stores created Jobs and records every request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

/// One recorded request: method, path?query, JSON body (Null when none).
pub type Seen = (Method, String, Value);

const SCRAPEJOBS: &str = "/apis/gleaner.dev/v1alpha1/scrapejobs";

/// The fake's state, shared with the test.
#[derive(Clone)]
pub struct FakeKubeApi {
    /// Every request, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The one Lease (leader election).
    pub lease: Arc<Mutex<Option<Value>>>,
    /// ScrapeJobs by name, as stored.
    pub scrapejobs: Arc<Mutex<BTreeMap<String, Value>>>,
    /// batch/v1 Jobs created through the fake, as stored.
    pub jobs: Arc<Mutex<Vec<Value>>>,
    /// Watch events sent to the (metadata) Job watch.
    pub job_events: tokio::sync::broadcast::Sender<Value>,
    /// A finished Job's name and the summary in its pod's termination message.
    pub summary: Arc<Mutex<Option<(String, Value)>>>,
    /// The namespace everything lives in.
    pub namespace: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeKubeApi {
    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// Whether a request matching `method` and containing `path_part` was seen.
    pub fn saw(&self, method: &Method, path_part: &str) -> bool {
        lock(&self.seen)
            .iter()
            .any(|(m, p, _)| m == method && p.contains(path_part))
    }

    /// Store a ScrapeJob (as a JSON object with `metadata.name`).
    pub fn insert_scrapejob(&self, scrapejob: Value) {
        let name = scrapejob["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        lock(&self.scrapejobs).insert(name, scrapejob);
    }

    /// A stored ScrapeJob.
    pub fn scrapejob(&self, name: &str) -> Option<Value> {
        lock(&self.scrapejobs).get(name).cloned()
    }

    /// Set a stored ScrapeJob's status, as the operator would.
    pub fn set_status(&self, name: &str, status: Value) {
        if let Some(sj) = lock(&self.scrapejobs).get_mut(name) {
            sj["status"] = status;
        }
    }

    /// Marks a created Job as completed, gives it a pod with the scraper's summary, and
    /// tells the Job watch, as the Job controller and kubelet would.
    pub fn complete_job(&self, name: &str, summary: &Value) {
        let mut jobs = lock(&self.jobs);
        let Some(job) = jobs.iter_mut().find(|j| j["metadata"]["name"] == name) else {
            panic!("no Job named {name} was created");
        };
        job["metadata"]["resourceVersion"] = json!("30");
        job["status"] = json!({
            "startTime": "2026-11-22T03:00:01Z",
            "completionTime": "2026-11-22T03:02:00Z",
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True",
                            "lastTransitionTime": "2026-11-22T03:02:00Z"}]
        });
        *lock(&self.summary) = Some((name.to_owned(), summary.clone()));
        let meta = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                          "metadata": job["metadata"].clone()});
        let _ = self
            .job_events
            .send(json!({"type": "MODIFIED", "object": meta}));
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    json_response(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": message, "reason": reason, "code": code.as_u16()}),
    )
}

fn not_found(what: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{what} not found"),
    )
}

fn streaming(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// RFC 7396 merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(map) = target {
        for (k, v) in patch {
            if v.is_null() {
                map.remove(k);
            } else {
                merge(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn bump(sj: &mut Value, spec_changed: bool) {
    let rv = sj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    sj["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
    if spec_changed {
        let generation = sj["metadata"]["generation"].as_i64().unwrap_or(0);
        sj["metadata"]["generation"] = json!(generation + 1);
    }
}

/// Requests on `…/namespaces/{ns}/scrapejobs[/{name}[/status]]`.
fn scrapejobs(fake: &FakeKubeApi, method: &Method, rest: &str, body: &Value) -> Response {
    let mut store = lock(&fake.scrapejobs);
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method.clone(), segments.as_slice()) {
        (Method::GET, []) => {
            let items: Vec<Value> = store.values().cloned().collect();
            json_response(
                StatusCode::OK,
                &json!({"apiVersion": "gleaner.dev/v1alpha1", "kind": "ScrapeJobList",
                        "metadata": {"resourceVersion": "11"}, "items": items}),
            )
        }
        (Method::POST, []) => {
            let name = body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if store.contains_key(&name) {
                return status(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    &format!("scrapejobs.gleaner.dev \"{name}\" already exists"),
                );
            }
            let mut sj = body.clone();
            sj["metadata"]["namespace"] = json!(fake.namespace);
            sj["metadata"]["uid"] = json!(format!("uid-{name}"));
            sj["metadata"]["resourceVersion"] = json!("1");
            sj["metadata"]["generation"] = json!(1);
            sj["metadata"]["creationTimestamp"] = json!("2026-11-22T03:00:00Z");
            store.insert(name, sj.clone());
            json_response(StatusCode::CREATED, &sj)
        }
        (Method::GET, [name]) => match store.get(*name) {
            Some(sj) => json_response(StatusCode::OK, sj),
            None => not_found(&format!("scrapejobs.gleaner.dev \"{name}\"")),
        },
        (Method::PUT, [name]) => match store.get_mut(*name) {
            Some(sj) => {
                if body["metadata"]["resourceVersion"] != sj["metadata"]["resourceVersion"] {
                    return status(
                        StatusCode::CONFLICT,
                        "Conflict",
                        "the object has been modified",
                    );
                }
                let changed = body["spec"] != sj["spec"];
                sj["spec"] = body["spec"].clone();
                sj["metadata"]["annotations"] = body["metadata"]["annotations"].clone();
                sj["metadata"]["labels"] = body["metadata"]["labels"].clone();
                bump(sj, changed);
                json_response(StatusCode::OK, sj)
            }
            None => not_found(&format!("scrapejobs.gleaner.dev \"{name}\"")),
        },
        (Method::PATCH, [name]) => match store.get_mut(*name) {
            Some(sj) => {
                let before = sj["spec"].clone();
                merge(sj, body);
                let changed = before != sj["spec"];
                bump(sj, changed);
                json_response(StatusCode::OK, sj)
            }
            None => not_found(&format!("scrapejobs.gleaner.dev \"{name}\"")),
        },
        // Status writes are accepted and answered with the object as stored.
        (Method::PATCH, [name, "status"]) => match store.get(*name) {
            Some(sj) => json_response(StatusCode::OK, sj),
            None => not_found(&format!("scrapejobs.gleaner.dev \"{name}\"")),
        },
        (Method::DELETE, [name]) => match store.remove(*name) {
            Some(_) => json_response(
                StatusCode::OK,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
            ),
            None => not_found(&format!("scrapejobs.gleaner.dev \"{name}\"")),
        },
        (m, _) => not_found(&format!("{m} scrapejobs/{rest}")),
    }
}

async fn api(State(fake): State<FakeKubeApi>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // Subscribe before the request is visible as seen, so a test that waits for the watch
    // and then sends an event cannot lose it.
    let job_watch =
        (method == Method::GET && query.contains("watch=true") && path == "/apis/batch/v1/jobs")
            .then(|| fake.job_events.subscribe());
    lock(&fake.seen).push((method.clone(), format!("{path}?{query}"), body.clone()));

    if let Some(rx) = job_watch {
        // The Job watch: whatever the test sends, one JSON line per event, then held open.
        let events = futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        let mut line = event.to_string().into_bytes();
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
        return streaming(Body::from_stream(events));
    }
    if method == Method::GET && query.contains("watch=true") {
        // Hold every other watch open with no events, like a quiet API server.
        return streaming(Body::from_stream(futures::stream::pending::<
            Result<Bytes, std::io::Error>,
        >()));
    }
    let ns = fake.namespace.clone();
    let namespaced_scrapejobs = format!("/apis/gleaner.dev/v1alpha1/namespaces/{ns}/scrapejobs");
    if path == SCRAPEJOBS && method == Method::GET {
        return scrapejobs(&fake, &method, "", &body);
    }
    if let Some(rest) = path.strip_prefix(&namespaced_scrapejobs) {
        return scrapejobs(&fake, &method, rest, &body);
    }
    let lease_path = format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases");
    match (method, path.as_str()) {
        (Method::GET, "/version") => json_response(
            StatusCode::OK,
            &json!({"major": "1", "minor": "37", "gitVersion": "v1.37.0-fake",
                    "gitCommit": "fake", "gitTreeState": "clean", "buildDate": "2026-11-01T00:00:00Z",
                    "goVersion": "go1.27", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        (Method::GET, "/apis/batch/v1/jobs") => json_response(
            StatusCode::OK,
            &json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                    "metadata": {"resourceVersion": "11"}, "items": []}),
        ),
        (Method::GET, p) if p == format!("/apis/batch/v1/namespaces/{ns}/jobs") => {
            let items = lock(&fake.jobs).clone();
            json_response(
                StatusCode::OK,
                &json!({"apiVersion": "batch/v1", "kind": "JobList",
                        "metadata": {"resourceVersion": "31"}, "items": items}),
            )
        }
        (Method::POST, p) if p == format!("/apis/batch/v1/namespaces/{ns}/jobs") => {
            let mut jobs = lock(&fake.jobs);
            let mut job = body;
            job["metadata"]["uid"] = json!(format!("job-uid-{}", jobs.len()));
            job["metadata"]["resourceVersion"] = json!("20");
            job["metadata"]["creationTimestamp"] = json!("2026-11-22T03:00:00Z");
            jobs.push(job.clone());
            json_response(StatusCode::CREATED, &job)
        }
        (Method::GET, p) if p == format!("/api/v1/namespaces/{ns}/pods") => {
            let items: Vec<Value> = match lock(&fake.summary).clone() {
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
        (Method::POST, p) if p == format!("/apis/events.k8s.io/v1/namespaces/{ns}/events") => {
            json_response(StatusCode::CREATED, &body)
        }
        (Method::GET, p) if p.starts_with(&lease_path) => match lock(&fake.lease).clone() {
            Some(lease) => json_response(StatusCode::OK, &lease),
            None => not_found("lease"),
        },
        (Method::POST, p) if p == lease_path => {
            let mut lease = body;
            lease["metadata"]["resourceVersion"] = json!("1");
            *lock(&fake.lease) = Some(lease.clone());
            json_response(StatusCode::CREATED, &lease)
        }
        (Method::PUT, p) if p.starts_with(&lease_path) => {
            let mut lease = body;
            let rv = lease["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            lease["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
            *lock(&fake.lease) = Some(lease.clone());
            json_response(StatusCode::OK, &lease)
        }
        (m, p) => not_found(&format!("{m} {p}")),
    }
}

impl FakeKubeApi {
    /// Start the fake on 127.0.0.1:0 for `namespace`, with no objects; the server task ends
    /// with the test's runtime.
    pub async fn start(namespace: &str) -> anyhow::Result<(SocketAddr, FakeKubeApi)> {
        let fake = FakeKubeApi {
            seen: Arc::default(),
            lease: Arc::default(),
            scrapejobs: Arc::default(),
            jobs: Arc::default(),
            job_events: tokio::sync::broadcast::channel(16).0,
            summary: Arc::default(),
            namespace: namespace.to_owned(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(api).with_state(fake.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake Kubernetes API stopped");
            }
        });
        Ok((addr, fake))
    }
}
