//! A real `Controller::run` against a small fake API server on 127.0.0.1: it lists one
//! ScrapeJob, holds the watches open, and records what the controller does.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use gleaner_operator::controller::{FINALIZER, run_controller};
use gleaner_operator::crd::{PageRange, ScrapeJob, ScrapeJobSpec, Targets};
use gleaner_operator::metrics::Metrics;
use gleaner_operator::settings::Settings;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<(Method, String, Value)>>>,
}

fn scrapejob() -> ScrapeJob {
    let mut sj = ScrapeJob::new(
        "loopback",
        ScrapeJobSpec::with_targets(Targets {
            idnos: Some(vec!["1003600012345".into()]),
            list_pages: Some(PageRange { from: 1, to: 1 }),
        }),
    );
    sj.metadata.namespace = Some("demo".into());
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
    let sj = serde_json::to_value(scrapejob()).unwrap();
    match (method, path.as_str()) {
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
        (Method::GET, "/apis/batch/v1/namespaces/demo/jobs") => json_response(
            StatusCode::OK,
            &json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "11"}, "items": []}),
        ),
        (Method::POST, "/apis/batch/v1/namespaces/demo/jobs") => {
            json_response(StatusCode::CREATED, &body)
        }
        (
            Method::PATCH,
            "/apis/gleaner.dev/v1alpha1/namespaces/demo/scrapejobs/loopback/status",
        ) => json_response(StatusCode::OK, &sj),
        (Method::POST, "/apis/events.k8s.io/v1/namespaces/demo/events") => {
            json_response(StatusCode::CREATED, &body)
        }
        (m, p) => json_response(
            StatusCode::NOT_FOUND,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": format!("fake has no {m} {p}"), "reason": "NotFound", "code": 404}),
        ),
    }
}

#[tokio::test]
async fn controller_run_reconciles_through_a_loopback_api_server() {
    let fake = Fake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(api).with_state(fake.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let store = Arc::new(OnceLock::new());
    let metrics = Metrics::new();
    let controller = tokio::spawn({
        let store = store.clone();
        let metrics = metrics.clone();
        async move {
            run_controller(
                client,
                &Settings::defaults(),
                metrics,
                "loopback-test",
                store,
                async {
                    let _ = stop_rx.await;
                },
            )
            .await;
        }
    });

    // Wait (bounded) until the controller has created the run's Job and written the status.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let done = {
            let seen = fake.seen.lock().unwrap();
            seen.iter()
                .any(|(m, p, _)| m == Method::PATCH && p.contains("/status"))
                && seen
                    .iter()
                    .any(|(m, p, _)| m == Method::POST && p.contains("/events"))
        };
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "controller never reconciled: {:#?}",
            fake.seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let seen = fake.seen.lock().unwrap().clone();
    let job = seen
        .iter()
        .find(|(m, p, _)| {
            *m == Method::POST && p.starts_with("/apis/batch/v1/namespaces/demo/jobs")
        })
        .map(|(_, _, body)| body)
        .expect("a Job was created");
    assert!(
        job["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("loopback-")
    );
    assert_eq!(
        job["metadata"]["labels"]["gleaner.dev/scrapejob"],
        "loopback"
    );
    let status = seen
        .iter()
        .find(|(m, p, _)| *m == Method::PATCH && p.contains("/status"))
        .map(|(_, p, body)| (p.clone(), body.clone()))
        .unwrap();
    assert!(status.0.contains("fieldManager=gleaner-operator") && status.0.contains("force=true"));
    assert_eq!(status.1["status"]["phase"], "Running");
    assert!(seen.iter().any(|(m, p, _)| *m == Method::GET
        && p.contains("/apis/gleaner.dev/v1alpha1/scrapejobs?")
        && p.contains("watch=true")));
    assert!(seen.iter().any(|(m, p, _)| *m == Method::GET
        && p.starts_with("/apis/batch/v1/jobs?")
        && p.contains("watch=true")));
    // The store behind /metrics holds the ScrapeJob.
    assert_eq!(store.get().expect("store published").state().len(), 1);
    assert!(
        metrics
            .render()
            .contains(r#"operator_reconciles_total{result="success"} 1"#)
    );

    // Graceful shutdown ends Controller::run.
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), controller)
        .await
        .expect("controller stopped on shutdown")
        .unwrap();
    server.abort();
}
