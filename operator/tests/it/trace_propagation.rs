//! The run's `TRACEPARENT` is the reconcile span's own context, so the scraper's spans
//! join the operator's trace (with OpenTelemetry on, as in a cluster with a collector).

use std::sync::{Arc, Mutex};

use gleaner_operator::controller::{Context, FINALIZER, reconcile};
use gleaner_operator::crd::{PageRange, ScrapeJob, ScrapeJobSpec, Targets};
use gleaner_operator::metrics::Metrics;
use gleaner_operator::run::RunSettings;
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::{Value, json};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn traceparent_of_the_job_is_the_reconcile_span() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));

    let mut sj = ScrapeJob::new(
        "traced",
        ScrapeJobSpec::with_targets(Targets {
            idnos: None,
            list_pages: Some(PageRange { from: 1, to: 1 }),
        }),
    );
    sj.metadata.namespace = Some("gleaner".into());
    sj.metadata.uid = Some("11111111-2222-4333-8444-555555555555".into());
    sj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    let stored = serde_json::to_value(&sj).unwrap();

    let created: Arc<Mutex<Option<Value>>> = Arc::default();
    let seen = created.clone();
    let service = tower::service_fn(move |req: Request<Body>| {
        let seen = seen.clone();
        let stored = stored.clone();
        async move {
            let (method, path) = (req.method().clone(), req.uri().path().to_owned());
            let body = req.into_body().collect_bytes().await.unwrap_or_default();
            let reply = if method == "GET" {
                json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": []})
            } else if method == "PATCH" {
                stored
            } else {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if method == "POST" && path.ends_with("/jobs") {
                    *seen.lock().unwrap() = Some(v.clone());
                }
                v
            };
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap(),
            )
        }
    });
    let ctx = Arc::new(Context::new(
        Client::new(service, "default"),
        RunSettings::default(),
        Metrics::new(),
        "test",
    ));

    reconcile(Arc::new(sj), ctx)
        .with_subscriber(subscriber)
        .await
        .unwrap();

    let job = created.lock().unwrap().clone().expect("a Job was created");
    let env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    let tp = env.iter().find(|e| e["name"] == "TRACEPARENT").unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let spans = exporter.get_finished_spans().unwrap();
    let root = spans
        .iter()
        .find(|s| s.name == "reconcile")
        .expect("the reconcile span was exported");
    assert_eq!(
        tp,
        format!(
            "00-{}-{}-01",
            root.span_context.trace_id(),
            root.span_context.span_id()
        )
    );
}
