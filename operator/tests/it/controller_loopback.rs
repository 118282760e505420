//! A real `Controller::run` against a small fake API server on 127.0.0.1: it lists one
//! ScrapeJob, holds the watches open, and records what the controller does.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::Method;
use gleaner_operator::controller::run_controller;
use gleaner_operator::metrics::Metrics;
use gleaner_operator::settings::Settings;

use crate::support::fake_api;

#[tokio::test]
async fn controller_run_reconciles_through_a_loopback_api_server() {
    let (addr, fake) = fake_api::start("demo").await;
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

    // Wait (bounded) until the controller has created the run's Job, applied the status,
    // published the event and counted the reconcile (after it returned: the status and
    // the event are written before the count).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let watching = |p: &str| {
        fake.seen().iter().any(|(m, path, _)| {
            *m == Method::GET && path.starts_with(p) && path.contains("watch=true")
        })
    };
    while !(fake.saw(&Method::PATCH, "/status")
        && fake.saw(&Method::POST, "/events")
        && watching("/apis/gleaner.dev/v1alpha1/scrapejobs?")
        && watching("/apis/batch/v1/jobs?")
        && !metrics
            .render()
            .contains(r#"operator_reconciles_total{result="success"} 0"#))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "controller never reconciled: {:#?}",
            fake.seen()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let seen = fake.seen();
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
    let (status_uri, status) = seen
        .iter()
        .find(|(m, p, _)| *m == Method::PATCH && p.contains("/status"))
        .map(|(_, p, body)| (p.clone(), body.clone()))
        .unwrap();
    assert!(
        status_uri.contains("fieldManager=gleaner-operator") && status_uri.contains("force=true")
    );
    assert_eq!(status["status"]["phase"], "Running");
    // The store behind /metrics holds the ScrapeJob.
    assert_eq!(store.get().expect("store published").state().len(), 1);
    assert!(
        metrics
            .render()
            .contains(r#"operator_reconciles_total{result="error"} 0"#)
    );

    // The Job finishes: the (metadata-only) Job watch maps it to its owner, the controller
    // reconciles again, reads the summary from the pod and reports the run.
    let job_name = job["metadata"]["name"].as_str().unwrap().to_owned();
    fake.complete_job(
        &job_name,
        &serde_json::json!({"run_id": "r1", "status": "succeeded", "pages_fetched": 7, "pages_failed": 0,
                            "companies_created": 2, "companies_updated": 1}),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let finished = loop {
        let done = fake.seen().into_iter().find(|(m, p, body)| {
            *m == Method::PATCH && p.contains("/status") && body["status"]["phase"] == "Succeeded"
        });
        if let Some((_, _, body)) = done {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconcile after the Job finished: {:#?}",
            fake.seen()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let last = &finished["status"]["lastRun"];
    assert_eq!(last["name"], job_name.as_str());
    assert_eq!(last["pagesFetched"], 7);
    assert_eq!(last["companiesWritten"], 3);
    assert!(fake.saw(&Method::GET, "/api/v1/namespaces/demo/pods?"));

    // Graceful shutdown ends Controller::run.
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), controller)
        .await
        .expect("controller stopped on shutdown")
        .unwrap();
}
