//! The scraper is not a proxy into the cluster: specs naming hosts outside the egress
//! policy are refused where they are accepted, and run ids cannot be taken over.

use gleaner_common::auth::Role;
use serde_json::{Value, json};

use crate::helpers::*;

fn fields(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_api_refuses_specs_naming_hosts_outside_the_egress_policy() {
    let app = spawn_app(1).await;
    let site = app.site.url();
    let site = site.as_str();
    // The test policy allows 127.0.0.1 and localhost with 127.0.0.0/8, nothing else.
    for (base, api, field) in [
        ("http://169.254.169.254", site, "spec.baseUrl"),
        (site, "http://10.0.0.1:8080", "spec.apiUrl"),
        (site, "http://kubernetes.default.svc", "spec.apiUrl"),
        (site, "http://[::1]:5432", "spec.apiUrl"),
    ] {
        let mut spec = serde_json::to_value(app.spec()).unwrap();
        spec["baseUrl"] = json!(base);
        spec["apiUrl"] = json!(api);
        let r = app
            .post_auth(
                "/internal/v1/runs",
                &app.token(Role::Operator),
                &json!({"job": "probe", "spec": spec}),
            )
            .await;
        assert_eq!(r.status(), 422, "{base} {api}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{base} {api}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(fields(&body), [field], "{body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM scrape_runs").await, 0);
}

#[tokio::test]
async fn the_run_api_holds_runs_to_the_scrapejob_limits() {
    let app = spawn_app(1).await;
    for (field, value) in [
        ("requestsPerSecond", json!(100_000)),
        ("timeoutSeconds", json!(7 * 86_400)),
        ("concurrency", json!(65)),
        ("maxRetries", json!(1_000)),
    ] {
        let mut spec = serde_json::to_value(app.spec()).unwrap();
        spec[field] = value;
        let r = app
            .post_auth(
                "/internal/v1/runs",
                &app.token(Role::Operator),
                &json!({"job": "greedy", "spec": spec}),
            )
            .await;
        assert_eq!(r.status(), 422, "{field}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(fields(&body), [format!("spec.{field}")], "{body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM scrape_runs").await, 0);
}

#[tokio::test]
async fn a_caller_cannot_reuse_another_runs_id() {
    let app = spawn_app(1).await;
    let run_id = uuid::Uuid::new_v4();
    let spec = serde_json::to_value(app.spec()).unwrap();
    let operator = app.token(Role::Operator);
    let start = |job: &'static str| {
        let body = json!({"job": job, "spec": spec, "run_id": run_id});
        let operator = operator.clone();
        let app = &app;
        async move { app.post_auth("/internal/v1/runs", &operator, &body).await }
    };
    let first = start("nightly").await;
    assert_eq!(first.status(), 202);
    let second = start("intruder").await;
    assert_eq!(second.status(), 409);
    assert_eq!(second.headers()["content-type"], "application/problem+json");
    let jobs: Vec<String> = sqlx::query_scalar("SELECT job FROM scrape_runs WHERE id = $1")
        .bind(run_id)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, ["nightly"]);
}

#[test]
fn scraper_run_refuses_a_spec_naming_a_disallowed_host() {
    let spec = json!({
        "baseUrl": "http://169.254.169.254/latest/meta-data",
        "apiUrl": "https://api.openmoney.md",
        "targets": {"idnos": ["1003600012345"]}
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scraper"))
        .arg("run")
        .env_clear()
        .env("SCRAPEJOB_SPEC", spec.to_string())
        // Never reached: the spec is refused before the database is touched.
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("spec.baseUrl"), "{stderr}");
    assert!(stderr.contains("SCRAPER_ALLOWED_HOSTS"), "{stderr}");
    assert!(!stderr.contains("spec.apiUrl"), "{stderr}");
}

#[test]
fn scraper_run_refuses_malformed_egress_settings_naming_them() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scraper"))
        .arg("run")
        .env_clear()
        .env("SCRAPEJOB_SPEC", "{}")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("SCRAPER_ALLOWED_NETWORKS", "10.0.0.0/33")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SCRAPER_ALLOWED_NETWORKS"), "{stderr}");
}
