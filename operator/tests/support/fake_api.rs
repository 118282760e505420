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
    pub namespace: String,
}

impl Fake {
    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
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
    fake.seen
        .lock()
        .unwrap()
        .push((method.clone(), format!("{path}?{query}"), body.clone()));

    if method == Method::GET && query.contains("watch=true") {
        // Hold every watch open with no events, like a quiet API server.
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
        (Method::GET, p) if p == format!("/apis/batch/v1/namespaces/{ns}/jobs") => json_response(
            StatusCode::OK,
            &json!({"apiVersion": "batch/v1", "kind": "JobList",
                    "metadata": {"resourceVersion": "11"}, "items": []}),
        ),
        (Method::POST, p) if p == format!("/apis/batch/v1/namespaces/{ns}/jobs") => {
            json_response(StatusCode::CREATED, &body)
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
        namespace: namespace.to_owned(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(api).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, fake)
}
