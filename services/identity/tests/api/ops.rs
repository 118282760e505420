use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn health_ready_metrics_openapi() {
    let app = spawn_app().await;
    let r = app.get("/health").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/ready").await;
    assert_eq!(r.status(), StatusCode::OK);

    let spec = app.get_json("/openapi.json").await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec["paths"]["/api/v1/auth/login"]["post"].is_object());
    assert!(spec["paths"]["/api/v1/users/{id}"]["patch"].is_object());

    // A request with an id in the path is labelled with the route template.
    let admin = app.admin().await;
    let id = admin.user_id.clone();
    app.get_auth(&format!("/api/v1/users/{id}"), &admin.access)
        .await;
    let _ = app.get("/no/such/path").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"http_requests_total{method="GET",route="/api/v1/users/{id}",service="identity",status="200"} 1"#), "{metrics}");
    assert!(!metrics.contains(&id), "raw paths never become labels");
    assert!(metrics.contains(r#"route="unmatched""#));
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.contains(r#"identity_logins_total{result="success"} 1"#));
    assert!(metrics.contains(r#"identity_tokens_issued_total{kind="access"} 1"#));
}

#[tokio::test]
async fn ready_names_redis_when_it_is_down() {
    let mut app = spawn_app().await;
    app.redis.stop();
    let r = app.get("/ready").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"], "ok");
    assert!(
        body["checks"]["redis"]
            .as_str()
            .unwrap()
            .starts_with("unavailable")
    );
    // /health does not check dependencies.
    let r = app.get("/health").await;
    assert_eq!(r.status(), StatusCode::OK);
    // A login needs Redis: 503, no internals leaked.
    let body = assert_problem(
        app.login("admin", ADMIN_PASSWORD).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(
        !body["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("connection")
    );
    app.redis.restart().await.unwrap();
    gleaner_testkit::eventually(std::time::Duration::from_secs(15), || async {
        let r = app.http.get(app.url("/ready")).send().await.ok()?;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn request_ids_are_kept_when_sane_and_replaced_otherwise() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "abc-123.X_y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123.X_y");
    let r = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, "bad id!");
    assert_eq!(id.len(), 32);
    let r = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "a".repeat(129))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 32);
    // Errors carry the id in the body too.
    let r = app
        .http
        .get(app.url("/nope"))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, StatusCode::NOT_FOUND).await;
    assert_eq!(body["request_id"], "req-42");
    assert_eq!(body["instance"], "/nope");
}

#[tokio::test]
async fn wrong_method_is_a_problem_405() {
    let app = spawn_app().await;
    let r = app
        .http
        .delete(app.url("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn production_mode_refuses_the_development_key() {
    let result = app()
        .without_admin()
        .settings(|s| s.environment = gleaner_identity::config::Environment::Production)
        .try_spawn()
        .await;
    let err = result.err().expect("must refuse");
    assert!(
        format!("{err:#}").contains("JWT_SIGNING_KEY_FILE"),
        "{err:#}"
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_then_refuses_new_ones() {
    // Cost 12: a login takes a few hundred milliseconds of hashing.
    let app = app().settings(|s| s.bcrypt_cost = 12).spawn().await;
    assert_eq!(app.register("slowpoke").await.status(), StatusCode::CREATED);
    let http = app.http.clone();
    let url = app.url("/api/v1/auth/login");
    let hashed_before = app.state.hasher.verifications();
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .json(&serde_json::json!({"username": "slowpoke", "password": PASSWORD}))
            .send()
            .await
    });
    // Shut down once the login is being handled: its password check has begun.
    gleaner_testkit::eventually(std::time::Duration::from_secs(10), || async {
        (app.state.hasher.verifications() > hashed_before).then_some(())
    })
    .await
    .unwrap();
    app.shutdown();
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the in-flight login completes");
    let body: Value = r.json().await.unwrap();
    assert!(body["access_token"].is_string());
    // New connections are refused once it has drained.
    let refused = gleaner_testkit::eventually(std::time::Duration::from_secs(5), || async {
        reqwest::Client::new()
            .get(app.url("/health"))
            .send()
            .await
            .err()
            .map(|_| ())
    })
    .await;
    assert!(refused.is_ok());
}

#[tokio::test]
async fn a_database_restart_is_survived_without_losing_data() {
    use gleaner_testkit::TestPostgres;
    let pg = TestPostgres::start().await.unwrap();
    let url = pg.url();
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    gleaner_identity::startup::MIGRATOR
        .run(&admin)
        .await
        .unwrap();
    admin.close().await;
    let app = app()
        .settings(move |s| s.database_url = secrecy::SecretString::from(url))
        .spawn()
        .await;
    assert_eq!(
        app.register("steadfast").await.status(),
        StatusCode::CREATED
    );

    pg.stop();
    let r = app.get("/ready").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["checks"]["postgres"]
            .as_str()
            .unwrap()
            .starts_with("unavailable")
    );
    let r = app.register("during-outage").await;
    let problem = assert_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    let detail = problem["detail"].as_str().unwrap().to_lowercase();
    // It names the dependency and nothing of the driver's error.
    assert!(detail.starts_with("postgresql is unavailable"), "{detail}");
    let rest = detail.replacen("postgresql", "", 1);
    assert!(
        !rest.contains("sql") && !rest.contains("connection refused"),
        "{detail}"
    );

    pg.restart().await.unwrap();
    gleaner_testkit::eventually(std::time::Duration::from_secs(20), || async {
        let r = app.http.get(app.url("/ready")).send().await.ok()?;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await
    .unwrap();
    // Everything written before the restart is there; writing works again.
    let s = app.session("steadfast", PASSWORD).await;
    assert_eq!(
        app.get_auth("/api/v1/users/me", &s.access).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.register("after-outage").await.status(),
        StatusCode::CREATED
    );
}
