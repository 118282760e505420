//! Traces across services, collected by an OTLP/gRPC receiver in this test:
//! a request through the gateway to identity is one trace, identity's server
//! span a child of the gateway's client span for that call; a scrape run is
//! one trace whose run span reaches the pipeline's per-document spans.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use gleaner_demo_site::DemoConfig;
use gleaner_e2e::Stack;
use gleaner_testkit::eventually;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// How long exported spans, and a scrape run, may take to arrive.
const DEADLINE: Duration = Duration::from_secs(120);

/// A span as received, with the `service.name` of the process that sent it.
#[derive(Clone)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<String> {
        string_attribute(&self.span.attributes, key)
    }
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| match &v.value {
            Some(AnyValue::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

/// The OTLP trace receiver: keeps every span exported to it.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

impl Collector {
    fn spans(&self) -> Vec<Received> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The spans received, once `ready` finds what it waits for in them.
    async fn wait_for<T>(&self, what: &str, ready: impl Fn(&[Received]) -> Option<T>) -> T {
        eventually(DEADLINE, || {
            let found = ready(&self.spans());
            async move { found }
        })
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}; spans received: {}", self.summary()))
    }

    fn summary(&self) -> String {
        self.spans()
            .iter()
            .map(|r| format!("{}:{}", r.service, r.span.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Listen on a free loopback port; the address.
    async fn serve(&self) -> SocketAddr {
        let incoming = TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("binding the OTLP receiver");
        let addr = incoming.local_addr().expect("the OTLP receiver's address");
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            if let Err(e) = Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                eprintln!("the OTLP receiver stopped: {e}");
            }
        });
        addr
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| string_attribute(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                received.extend(scope.spans.into_iter().map(|span| Received {
                    service: service.clone(),
                    span,
                }));
            }
        }
        self.0
            .lock()
            .map_err(|_| tonic::Status::internal("the span store is poisoned"))?
            .extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Whether `span` is, or descends from, the span `ancestor` through spans of `by_id`.
fn descends_from<'a>(
    by_id: &HashMap<&'a [u8], &'a Received>,
    ancestor: &[u8],
    mut span: &'a Received,
) -> bool {
    for _ in 0..64 {
        if span.span.span_id == ancestor {
            return true;
        }
        match by_id.get(span.span.parent_span_id.as_slice()) {
            Some(parent) => span = parent,
            None => return false,
        }
    }
    false
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {url}: {status} {value}");
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_across_services_with_the_right_parents() {
    let collector = Collector::default();
    let otlp = collector.serve().await;
    let stack = Stack::start_with_env(
        DemoConfig::new(11, 3),
        vec![
            ("OTEL_TRACES_EXPORTER".into(), "otlp".into()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                format!("http://{otlp}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into()),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "200".into()),
        ],
    )
    .await
    .expect("starting the platform");
    assert!(
        stack.is_local(),
        "this test reads the spans of the processes it starts: unset E2E_BASE_URL"
    );
    let http = reqwest::Client::new();
    let gw = &stack.gateway;
    let token = post(
        &http,
        &format!("{gw}/api/v1/auth/login"),
        None,
        json!({"username": stack.admin.0, "password": stack.admin.1}),
    )
    .await["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();

    // gateway -> identity: GET /api/v1/users/me (only this test calls it).
    let me = http
        .get(format!("{gw}/api/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /api/v1/users/me");
    assert!(
        me.status().is_success(),
        "GET /api/v1/users/me: {}",
        me.status()
    );
    let (gateway_server, gateway_client, identity_server) = collector
        .wait_for("the spans of GET /api/v1/users/me", |spans| {
            let identity = spans.iter().find(|r| {
                r.service == "identity"
                    && r.span.kind == SpanKind::Server as i32
                    && r.span.name == "GET /api/v1/users/me"
            })?;
            let client = spans.iter().find(|r| {
                r.service == "gateway" && r.span.span_id == identity.span.parent_span_id
            })?;
            let server = spans
                .iter()
                .find(|r| r.service == "gateway" && r.span.span_id == client.span.parent_span_id)?;
            Some((server.clone(), client.clone(), identity.clone()))
        })
        .await;
    assert_eq!(gateway_client.span.kind, SpanKind::Client as i32);
    assert_eq!(
        gateway_client.attribute("upstream").as_deref(),
        Some("identity")
    );
    assert_eq!(gateway_server.span.kind, SpanKind::Server as i32);
    let trace = hex(&identity_server.span.trace_id);
    for r in [&gateway_server, &gateway_client] {
        assert_eq!(
            hex(&r.span.trace_id),
            trace,
            "{} is in another trace",
            r.span.name
        );
    }
    assert!(
        gateway_server.span.parent_span_id.is_empty(),
        "the gateway's server span starts the trace: the test sent no traceparent"
    );

    // A scrape run: one trace from the run span down to each document's spans.
    let site = stack.demo.url();
    let job = format!("traces-{}", uuid::Uuid::new_v4().simple());
    post(
        &http,
        &format!("{gw}/api/v1/scrape-jobs"),
        Some(&token),
        json!({"name": job, "spec": {
            "baseUrl": site, "apiUrl": site,
            "targets": {"listPages": {"from": 1, "to": 1}},
            "concurrency": 2, "requestsPerSecond": 100, "maxRetries": 1,
            "respectRobotsTxt": false
        }}),
    )
    .await;
    let run_id = eventually(Duration::from_secs(30), || {
        let (http, token) = (&http, &token);
        let url = format!("{gw}/api/v1/scrape-runs?job={job}");
        async move {
            let runs: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            runs["items"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .expect("the job's run");
    let events = http
        .get(format!("{gw}/api/v1/scrape-runs/{run_id}/events"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the run's events");
    let mut stream = events.bytes_stream();
    let mut text = String::new();
    let ended = tokio::time::timeout(DEADLINE, async {
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(
        ended.is_ok() && text.contains("event: end"),
        "run {run_id}: {text}"
    );

    let (run_span, trace_spans) = collector
        .wait_for("the spans of the scrape run", |spans| {
            let run = spans.iter().find(|r| {
                r.service == "scraper"
                    && r.span.name == "scrape.run"
                    && r.attribute("run_id").as_deref() == Some(run_id.as_str())
            })?;
            let in_trace: Vec<Received> = spans
                .iter()
                .filter(|r| r.span.trace_id == run.span.trace_id)
                .cloned()
                .collect();
            in_trace
                .iter()
                .any(|r| r.span.name == "fetch")
                .then(|| (run.clone(), in_trace))
        })
        .await;
    let by_id: HashMap<&[u8], &Received> = trace_spans
        .iter()
        .map(|r| (r.span.span_id.as_slice(), r))
        .collect();
    let reaches_run = |r: &Received| descends_from(&by_id, &run_span.span.span_id, r);
    let documents: Vec<&Received> = trace_spans
        .iter()
        .filter(|r| r.service == "scraper" && r.span.name == "fetch")
        .collect();
    // The list page, each company's page and its API documents.
    assert!(
        documents.len() >= 4,
        "run {run_id}: {} fetch spans in its trace",
        documents.len()
    );
    for doc in &documents {
        assert!(
            reaches_run(doc),
            "run {run_id}: fetch {:?} does not descend from the run's span",
            doc.attribute("url")
        );
    }
    assert!(
        trace_spans
            .iter()
            .any(|r| r.span.name == "scrape.company" && reaches_run(r)),
        "run {run_id}: no company span under the run's span"
    );
}
