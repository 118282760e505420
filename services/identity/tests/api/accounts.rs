use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn register_returns_the_user() {
    let app = spawn_app().await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "Ion.Popescu@Example.md", "username": "ion.popescu", "password": PASSWORD, "full_name": "Ion Popescu"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let user: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/users/{}", user["id"].as_str().unwrap())
    );
    assert_eq!(user["email"], "Ion.Popescu@Example.md");
    assert_eq!(user["username"], "ion.popescu");
    assert_eq!(user["full_name"], "Ion Popescu");
    assert_eq!(user["role"], "user");
    assert_eq!(user["disabled"], false);
    assert!(user["created_at"].is_string());
    assert!(user.get("password_hash").is_none());
    let keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
}

#[tokio::test]
async fn duplicates_are_409_case_insensitively() {
    let app = spawn_app().await;
    assert_eq!(app.register("maria").await.status(), StatusCode::CREATED);
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "MARIA@example.md", "username": "other", "password": PASSWORD}),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "x@example.md", "username": "MaRiA", "password": PASSWORD}),
        )
        .await;
    let body = assert_problem(r, StatusCode::CONFLICT).await;
    assert!(body["detail"].as_str().unwrap().contains("username"));
}

#[tokio::test]
async fn invalid_fields_are_422_listing_each() {
    let app = spawn_app().await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "not-an-email", "username": "a b", "password": "short"}),
        )
        .await;
    let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = field_names(&body);
    fields.sort();
    assert_eq!(fields, ["email", "password", "username"]);

    for (password, why) in [("password123", "common"), ("1234567", "7 chars")] {
        let r = app
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": "a@b.md", "username": "abc", "password": password}),
            )
            .await;
        let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field_names(&body), ["password"], "{why}");
    }
    let long = "é".repeat(1025);
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "a@b.md", "username": "abc", "password": long}),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    // 1024 characters (2048 bytes) is allowed.
    let ok = "é".repeat(1024);
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "a@b.md", "username": "abc", "password": ok}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn bad_bodies_get_the_right_problem() {
    let app = spawn_app().await;
    // Unknown field.
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "a@b.md", "username": "abc", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(field_names(&body), ["role"]);
    // Malformed JSON.
    let r = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST).await;
    // Wrong content type.
    let r = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // Too large.
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let r = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    // Nothing was stored by any of these.
    let admin = app.admin().await;
    let page: Value = app
        .get_auth("/api/v1/users", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn me_and_profile_update() {
    let app = spawn_app().await;
    let s = app.user("viorica").await;
    let me: Value = app
        .get_auth("/api/v1/users/me", &s.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "viorica");
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            &s.access,
            Some(&json!({"full_name": "Viorica Rusu", "email": "v.rusu@example.md"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["full_name"], "Viorica Rusu");
    assert_eq!(me["email"], "v.rusu@example.md");
    // Taking someone else's email is a conflict.
    app.register("andrei").await;
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            &s.access,
            Some(&json!({"email": "ANDREI@example.md"})),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
    // Role cannot be changed here.
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            &s.access,
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Without a token: 401 with WWW-Authenticate.
    let r = app.get("/api/v1/users/me").await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn password_change_ends_other_sessions_only() {
    let app = spawn_app().await;
    let here = app.user("elena").await;
    let other = app.session("elena", PASSWORD).await;
    let r = app
        .post_auth(
            "/api/v1/users/me/password",
            &here.access,
            &json!({"current_password": "wrong password!", "new_password": "a brand new secret"}),
        )
        .await;
    let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(field_names(&body), ["current_password"]);
    let r = app
        .post_auth(
            "/api/v1/users/me/password",
            &here.access,
            &json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The other session is dead: access and refresh.
    assert_problem(
        app.get_auth("/api/v1/users/me", &other.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(app.refresh(&other.refresh).await, StatusCode::UNAUTHORIZED).await;
    // This one lives on.
    assert_eq!(
        app.get_auth("/api/v1/users/me", &here.access)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.refresh(&here.refresh).await.status(), StatusCode::OK);
    // Old password no longer works, the new one does.
    assert_problem(app.login("elena", PASSWORD).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.login("elena", "a brand new secret").await.status(),
        StatusCode::OK
    );
}
