//! A real `Controller::run` against a small fake API server on 127.0.0.1: it lists one
//! ScrapeJob, holds the watches open, and records what the controller does.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::Method;
use gleaner_operator::controller::run_controller;
use gleaner_operator::metrics::Metrics;
use gleaner_operator::settings::Settings;

#[path = "support/fake_api.rs"]
mod fake_api;

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

    // Wait (bounded) until the controller has created the run's Job, applied the status
    // and published the event.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(fake.saw(&Method::PATCH, "/status") && fake.saw(&Method::POST, "/events")) {
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
    assert!(seen.iter().any(|(m, p, _)| *m == Method::GET
        && p.starts_with("/apis/gleaner.dev/v1alpha1/scrapejobs?")
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
}
