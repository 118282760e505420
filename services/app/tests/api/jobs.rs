use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, body, idno_spec, spawn_app, spawn_app_on};

#[tokio::test]
async fn a_job_is_created_read_listed_patched_and_deleted() {
    crud(Backend::Database).await;
}

#[tokio::test]
async fn a_scrapejob_is_created_read_listed_patched_and_deleted() {
    crud(Backend::Kubernetes).await;
}

async fn crud(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let mut spec = idno_spec();
    spec["schedule"] = json!("0 3 * * *");
    let resp = app.create_job("nightly", spec).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["location"], "/api/v1/scrape-jobs/nightly");
    let job = body(resp).await;
    assert_eq!(job["name"], "nightly");
    assert_eq!(job["spec"]["schedule"], "0 3 * * *");
    assert_eq!(
        job["spec"]["concurrencyPolicy"], "Forbid",
        "defaults are filled in"
    );
    assert_eq!(job["status"]["phase"], "Pending");
    if backend == Backend::Database {
        // In a cluster the operator computes it.
        assert!(job["status"]["nextRunAt"].is_string());
    }
    assert!(
        app.scraper.started().is_empty(),
        "a scheduled job does not run on creation"
    );

    let got = body(
        app.get_auth("/api/v1/scrape-jobs/nightly", &app.operator)
            .await,
    )
    .await;
    assert_eq!(got["spec"], job["spec"]);
    let page = body(
        app.get_auth("/api/v1/scrape-jobs?per_page=10", &app.operator)
            .await,
    )
    .await;
    assert_eq!(
        (page["total"].clone(), page["per_page"].clone()),
        (json!(1), json!(10))
    );
    assert_eq!(page["items"][0]["name"], "nightly");

    let resp = app
        .send_auth(
            Method::PATCH,
            "/api/v1/scrape-jobs/nightly",
            &app.operator,
            Some(&json!({"suspend": true, "concurrency": 8})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let patched = body(resp).await;
    assert_eq!(patched["spec"]["suspend"], true);
    assert_eq!(patched["spec"]["concurrency"], 8);
    assert_eq!(
        patched["spec"]["schedule"], "0 3 * * *",
        "untouched fields stay"
    );
    assert_eq!(patched["status"]["phase"], "Suspended");
    assert!(patched["status"]["nextRunAt"].is_null());

    let resp = app
        .send_auth(
            Method::DELETE,
            "/api/v1/scrape-jobs/nightly",
            &app.operator,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .get_auth("/api/v1/scrape-jobs/nightly", &app.operator)
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .send_auth(
            Method::DELETE,
            "/api/v1/scrape-jobs/nightly",
            &app.operator,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn invalid_jobs_are_refused_naming_each_field() {
    invalid(Backend::Database).await;
}

#[tokio::test]
async fn invalid_scrapejobs_are_refused_naming_each_field() {
    invalid(Backend::Kubernetes).await;
}

async fn invalid(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let mut spec = idno_spec();
    spec["concurrency"] = json!(0);
    spec["schedule"] = json!("61 * * * *");
    let resp = app.create_job("Bad_Name", spec).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = body(resp).await;
    assert_eq!(
        fields(&problem),
        ["name", "spec.schedule", "spec.concurrency"]
    );

    let mut spec = idno_spec();
    spec["colour"] = json!("blue");
    let problem = body(app.create_job("ok", spec).await).await;
    assert_eq!(fields(&problem), ["spec.colour"]);
    let problem = body(
        app.create_job("ok", json!({"targets": {"idnos": ["12"]}}))
            .await,
    )
    .await;
    assert_eq!(fields(&problem), ["spec.targets.idnos"]);

    assert_eq!(
        app.create_job("twice", idno_spec()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_job("twice", idno_spec()).await.status(),
        StatusCode::CONFLICT
    );

    // A patch that makes the spec invalid changes nothing.
    let resp = app
        .send_auth(
            Method::PATCH,
            "/api/v1/scrape-jobs/twice",
            &app.operator,
            Some(&json!({"requestsPerSecond": 0})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body(resp).await), ["spec.requestsPerSecond"]);
    let job = body(
        app.get_auth("/api/v1/scrape-jobs/twice", &app.operator)
            .await,
    )
    .await;
    assert_eq!(job["spec"]["requestsPerSecond"], 2.0);
    let resp = app
        .send_auth(
            Method::PATCH,
            "/api/v1/scrape-jobs/missing",
            &app.operator,
            Some(&json!({"suspend": true})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn jobs_and_runs_need_an_operator() {
    roles(Backend::Database).await;
}

#[tokio::test]
async fn scrapejobs_and_runs_need_an_operator() {
    roles(Backend::Kubernetes).await;
}

async fn roles(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (_, user) = app.user_token();
    let admin = app.signer.token(gleaner_common::auth::Role::Admin);
    let id = uuid::Uuid::new_v4();
    let routes = [
        (Method::POST, "/api/v1/scrape-jobs".to_owned()),
        (Method::GET, "/api/v1/scrape-jobs".to_owned()),
        (Method::GET, "/api/v1/scrape-jobs/x".to_owned()),
        (Method::PATCH, "/api/v1/scrape-jobs/x".to_owned()),
        (Method::DELETE, "/api/v1/scrape-jobs/x".to_owned()),
        (Method::POST, "/api/v1/scrape-jobs/x/runs".to_owned()),
        (Method::GET, "/api/v1/scrape-runs".to_owned()),
        (Method::GET, format!("/api/v1/scrape-runs/{id}")),
        (Method::GET, format!("/api/v1/scrape-runs/{id}/events")),
    ];
    for (method, path) in routes {
        let resp = app
            .http
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let resp = app
            .send_auth(method.clone(), &path, &user, Some(&json!({})))
            .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    let resp = app
        .post_auth(
            "/api/v1/scrape-jobs",
            &admin,
            &json!({"name": "by-admin", "spec": idno_spec()}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED, "an admin may too");
}

#[tokio::test]
async fn a_job_without_schedule_runs_once_on_creation_with_the_callers_token() {
    let app = spawn_app().await;
    let resp = app.create_job("once", idno_spec()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let job = body(resp).await;
    let started = app.scraper.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].job, "once");
    assert_eq!(started[0].spec["targets"]["idnos"][0], "1003600012345");
    assert_eq!(started[0].authorization, format!("Bearer {}", app.operator));
    assert_eq!(job["status"]["phase"], "Running");
    assert_eq!(
        job["status"]["lastRun"]["name"],
        started[0].run_id.to_string()
    );

    // The scheduler does not start it again.
    let round = app.scheduler().round(Utc::now()).await.expect("round");
    assert!(round.leader && round.started.is_empty(), "{round:?}");

    // A run started by hand: 202 with the run, which the run API then shows.
    let resp = app
        .send_auth(
            Method::POST,
            "/api/v1/scrape-jobs/once/runs",
            &app.operator,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let run = body(resp).await;
    assert_eq!(
        (run["job"].clone(), run["status"].clone()),
        (json!("once"), json!("queued"))
    );
    assert_eq!(app.scraper.started().len(), 2);
    let id = run["id"].as_str().expect("run id");
    let got = body(
        app.get_auth(&format!("/api/v1/scrape-runs/{id}"), &app.operator)
            .await,
    )
    .await;
    assert_eq!(got["id"], run["id"]);
    let page = body(
        app.get_auth("/api/v1/scrape-runs?job=once&status=queued", &app.operator)
            .await,
    )
    .await;
    assert_eq!(page["total"], 2);
    assert_eq!(
        page["query"]["status"], "queued",
        "filters reach the scraper"
    );
    let resp = app
        .get_auth("/api/v1/scrape-runs?status=sleeping", &app.operator)
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let resp = app
        .send_auth(
            Method::POST,
            "/api/v1/scrape-jobs/missing/runs",
            &app.operator,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_run_on_creation_is_started_by_the_scheduler_when_the_scraper_was_down() {
    let app = spawn_app().await;
    app.scraper.set_down(true);
    assert_eq!(
        app.create_job("later", idno_spec()).await.status(),
        StatusCode::CREATED
    );
    let resp = app
        .send_auth(
            Method::POST,
            "/api/v1/scrape-jobs/later/runs",
            &app.operator,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(app.scraper.started().is_empty());
    app.scraper.set_down(false);
    let round = app.scheduler().round(Utc::now()).await.expect("round");
    assert_eq!(round.started.len(), 1, "{round:?}");
    let round = app.scheduler().round(Utc::now()).await.expect("round");
    assert!(round.started.is_empty(), "once only: {round:?}");
}

#[tokio::test]
async fn a_job_the_scraper_refuses_is_not_created() {
    let app = spawn_app().await;
    app.scraper.set_refuse(true);
    let resp = app.create_job("elsewhere", idno_spec()).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = body(resp).await;
    assert_eq!(fields(&problem), ["spec.baseUrl"]);
    let resp = app
        .get_auth("/api/v1/scrape-jobs/elsewhere", &app.operator)
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // A scheduled job is created (it runs later); a run the scraper refuses is a 422.
    let mut spec = idno_spec();
    spec["schedule"] = json!("0 3 * * *");
    assert_eq!(
        app.create_job("later", spec).await.status(),
        StatusCode::CREATED
    );
    let resp = app
        .send_auth(
            Method::POST,
            "/api/v1/scrape-jobs/later/runs",
            &app.operator,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn cron_schedules_honour_suspend_and_the_concurrency_policy() {
    let app = spawn_app().await;
    let mut spec = idno_spec();
    spec["schedule"] = json!("* * * * *");
    assert_eq!(
        app.create_job("minutely", spec).await.status(),
        StatusCode::CREATED
    );
    let now = Utc::now();
    // Not yet a minute boundary since creation, or just one: at most one run.
    let first = app
        .scheduler()
        .round(now + Duration::minutes(3))
        .await
        .expect("round");
    assert_eq!(
        first.started.len(),
        1,
        "missed occurrences collapse into one run: {first:?}"
    );
    let (_, run_id) = first.started[0].clone();
    app.scraper.update_run(run_id, "running", 1, 0);

    // Forbid: the run is still going, the next occurrence is skipped.
    let round = app
        .scheduler()
        .round(now + Duration::minutes(4))
        .await
        .expect("round");
    assert!(round.started.is_empty());
    assert_eq!(round.skipped, ["minutely"]);
    let job = body(
        app.get_auth("/api/v1/scrape-jobs/minutely", &app.operator)
            .await,
    )
    .await;
    assert_eq!(job["status"]["phase"], "Running");
    assert_eq!(
        job["status"]["lastRun"]["pagesFetched"], 1,
        "progress is followed"
    );

    // Replace: a new run starts (the scraper cannot stop the old one).
    let resp = app
        .send_auth(
            Method::PATCH,
            "/api/v1/scrape-jobs/minutely",
            &app.operator,
            Some(&json!({"concurrencyPolicy": "Replace"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let round = app
        .scheduler()
        .round(now + Duration::minutes(5))
        .await
        .expect("round");
    assert_eq!(round.started.len(), 1, "{round:?}");

    // Suspended: nothing starts, and the occurrences missed meanwhile are not made up.
    let resp = app
        .send_auth(
            Method::PATCH,
            "/api/v1/scrape-jobs/minutely",
            &app.operator,
            Some(&json!({"suspend": true})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let round = app
        .scheduler()
        .round(now + Duration::minutes(10))
        .await
        .expect("round");
    assert!(
        round.started.is_empty() && round.skipped.is_empty(),
        "{round:?}"
    );
    let resp = app
        .send_auth(
            Method::PATCH,
            "/api/v1/scrape-jobs/minutely",
            &app.operator,
            Some(&json!({"suspend": false})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let round = app
        .scheduler()
        .round(now + Duration::minutes(10))
        .await
        .expect("round");
    assert!(round.started.is_empty(), "{round:?}");
    assert_eq!(app.scraper.started().len(), 2);
}

#[tokio::test]
async fn finished_runs_beyond_the_history_limits_are_pruned() {
    let app = spawn_app().await;
    let mut spec = idno_spec();
    spec["schedule"] = json!("0 0 1 1 *");
    spec["successfulRunsHistoryLimit"] = json!(1);
    spec["failedRunsHistoryLimit"] = json!(0);
    assert_eq!(
        app.create_job("kept", spec).await.status(),
        StatusCode::CREATED
    );
    let mut ids = Vec::new();
    for status in ["succeeded", "succeeded", "failed"] {
        let run = body(
            app.send_auth(
                Method::POST,
                "/api/v1/scrape-jobs/kept/runs",
                &app.operator,
                None,
            )
            .await,
        )
        .await;
        let id: uuid::Uuid = serde_json::from_value(run["id"].clone()).expect("run id");
        app.scraper.update_run(id, status, 2, 0);
        ids.push(id);
    }
    let round = app.scheduler().round(Utc::now()).await.expect("round");
    assert_eq!(round.pruned, 2, "{round:?}");
    let left: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM job_runs WHERE job = 'kept'")
        .fetch_all(&app.db)
        .await
        .expect("runs");
    assert_eq!(left, vec![ids[1]], "the newest success is kept");
}

#[tokio::test]
async fn only_one_replica_schedules_at_a_time() {
    let app = spawn_app().await;
    let mut holder = app.db.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(0x676c_6561_6e65_7201_i64)
        .execute(&mut *holder)
        .await
        .expect("lock");
    assert_eq!(
        app.create_job("waiting", idno_spec()).await.status(),
        StatusCode::CREATED
    );
    app.scraper.set_down(true);
    let round = app.scheduler().round(Utc::now()).await.expect("round");
    assert!(!round.leader, "another replica holds the lock");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(0x676c_6561_6e65_7201_i64)
        .execute(&mut *holder)
        .await
        .expect("unlock");
    let round = app.scheduler().round(Utc::now()).await.expect("round");
    assert!(round.leader);
}

#[tokio::test]
async fn in_a_cluster_a_job_is_a_scrapejob_and_a_run_is_the_run_now_annotation() {
    let app = spawn_app_on(Backend::Kubernetes).await;
    let kube = app.kube.clone().expect("fake API server");
    assert_eq!(
        app.create_job("cluster", idno_spec()).await.status(),
        StatusCode::CREATED
    );
    let sj = kube.scrapejob("cluster").expect("the ScrapeJob exists");
    assert_eq!(sj["apiVersion"], "gleaner.dev/v1alpha1");
    assert_eq!(sj["kind"], "ScrapeJob");
    assert_eq!(sj["spec"]["targets"]["idnos"][0], "1003600012345");
    assert!(
        app.scraper.started().is_empty(),
        "the operator, not the app, runs it on creation"
    );

    let resp = app
        .send_auth(
            Method::POST,
            "/api/v1/scrape-jobs/cluster/runs",
            &app.operator,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let run = body(resp).await;
    let sj = kube.scrapejob("cluster").expect("the ScrapeJob exists");
    let token = sj["metadata"]["annotations"][gleaner_scrapejob::crd::RUN_NOW_ANNOTATION]
        .as_str()
        .expect("the run-now annotation is set");
    let uid = sj["metadata"]["uid"].as_str().expect("uid");
    assert_eq!(
        run["id"],
        gleaner_scrapejob::trigger::Trigger::RunNow(token.to_owned())
            .run_id(uid)
            .to_string(),
        "the run id is the one the operator gives this token's run"
    );
    assert!(app.scraper.started().is_empty());

    // The operator's status is the job's status.
    kube.set_status(
        "cluster",
        json!({"phase": "Succeeded", "nextRunAt": "2026-12-02T03:00:00Z",
               "lastRun": {"name": "cluster-1a2b3c4d", "runId": run["id"], "result": "Succeeded",
                           "startedAt": "2026-12-01T03:00:00Z", "finishedAt": "2026-12-01T03:01:00Z",
                           "pagesFetched": 7, "companiesUpdated": 2}}),
    );
    let job = body(
        app.get_auth("/api/v1/scrape-jobs/cluster", &app.operator)
            .await,
    )
    .await;
    assert_eq!(job["status"]["phase"], "Succeeded");
    assert_eq!(job["status"]["lastRun"]["name"], run["id"]);
    assert_eq!(job["status"]["lastRun"]["result"], "succeeded");
    assert_eq!(job["status"]["lastRun"]["pagesFetched"], 7);
    assert_eq!(job["status"]["nextRunAt"], "2026-12-02T03:00:00Z");

    let resp = app
        .send_auth(
            Method::POST,
            "/api/v1/scrape-jobs/missing/runs",
            &app.operator,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_suspended_job_naming_a_host_runs_may_not_reach_is_refused() {
    refused_sources(Backend::Database).await;
}

#[tokio::test]
async fn a_suspended_scrapejob_naming_a_host_runs_may_not_reach_is_refused() {
    refused_sources(Backend::Kubernetes).await;
}

/// The scraper's allowed hosts are checked when a job is created or changed, not when its
/// first run starts: a suspended job would otherwise wait with a source no run may reach.
/// An address inside an allowed network is not an allowed host unless it is listed.
async fn refused_sources(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let mut spec = idno_spec();
    spec["suspend"] = json!(true);
    spec["baseUrl"] = json!("http://127.0.0.2:9/");
    let resp = app.create_job("elsewhere", spec).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem = body(resp).await;
    assert_eq!(fields(&problem), ["spec.baseUrl"]);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SCRAPER_ALLOWED_HOSTS")),
        "{problem}"
    );
    let resp = app
        .get_auth("/api/v1/scrape-jobs/elsewhere", &app.operator)
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let mut spec = idno_spec();
    spec["suspend"] = json!(true);
    assert_eq!(
        app.create_job("paused", spec).await.status(),
        StatusCode::CREATED
    );
    for (patch, field) in [
        (json!({"baseUrl": "http://127.0.0.2:9/"}), "spec.baseUrl"),
        (json!({"apiUrl": "http://169.254.169.254/"}), "spec.apiUrl"),
    ] {
        let resp = app
            .send_auth(
                Method::PATCH,
                "/api/v1/scrape-jobs/paused",
                &app.operator,
                Some(&patch),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body(resp).await), [field]);
    }
    let job = body(
        app.get_auth("/api/v1/scrape-jobs/paused", &app.operator)
            .await,
    )
    .await;
    assert_eq!(job["spec"]["baseUrl"], idno_spec()["baseUrl"]);
    assert_eq!(job["spec"]["apiUrl"], idno_spec()["apiUrl"]);
    assert!(app.scraper.started().is_empty());
}
