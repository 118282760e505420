use std::time::Duration;

use gleaner_identity::throttle::ThrottleLimits;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn login_by_json_email_and_oauth2_form() {
    let app = spawn_app().await;
    app.register("tudor").await;
    let r = app.login("tudor", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(!body["refresh_token"].as_str().unwrap().is_empty());

    assert_eq!(
        app.login("TUDOR@example.md", PASSWORD).await.status(),
        StatusCode::OK
    );

    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .form(&[
            ("grant_type", "password"),
            ("username", "tudor"),
            ("password", PASSWORD),
            ("scope", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("username", "tudor"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = spawn_app().await;
    app.register("stefan").await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    let wrong = strip(
        assert_problem(
            app.login("stefan", "not the password").await,
            StatusCode::UNAUTHORIZED,
        )
        .await,
    );
    let unknown = strip(
        assert_problem(
            app.login("nobody", "not the password").await,
            StatusCode::UNAUTHORIZED,
        )
        .await,
    );
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn passwords_differing_after_byte_72_are_different() {
    let app = spawn_app().await;
    let base = "Ω".repeat(36); // 72 bytes
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "l@x.md", "username": "longpw", "password": format!("{base}first")}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        app.login("longpw", &format!("{base}first")).await.status(),
        StatusCode::OK
    );
    assert_problem(
        app.login("longpw", &format!("{base}other")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(app.login("longpw", &base).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_account() {
    let app = app()
        .limits(ThrottleLimits {
            per_account: 3,
            per_address: 100,
            window: Duration::from_secs(60),
            ..ThrottleLimits::default()
        })
        .spawn()
        .await;
    app.register("mihai").await;
    for _ in 0..3 {
        assert_problem(
            app.login("mihai", "wrong password").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let r = app.login("mihai", PASSWORD).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    // Other accounts from the same address are not affected.
    app.register("ana").await;
    assert_eq!(app.login("ana", PASSWORD).await.status(), StatusCode::OK);
    // The lock ends with the window: emulate time passing by expiring the key.
    let _: () = fred::interfaces::KeysInterface::del(
        &app.state.redis,
        "gleaner:login-failures:account:mihai",
    )
    .await
    .unwrap();
    assert_eq!(app.login("mihai", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_address() {
    let app = app()
        .limits(ThrottleLimits {
            per_account: 100,
            per_address: 4,
            window: Duration::from_secs(60),
            ..ThrottleLimits::default()
        })
        .spawn()
        .await;
    app.register("victim").await;
    let from = |ip: &'static str, user: &'static str, pw: &'static str| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"username": user, "password": pw}))
            .send()
    };
    for i in 0..4 {
        let user = ["a1", "b2", "c3", "d4"][i];
        assert_eq!(
            from("10.9.9.9", user, "guess1234").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = from("10.9.9.9", "victim", PASSWORD).await.unwrap();
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    // The owner, from their own address, gets in.
    assert_eq!(
        from("10.1.1.1", "victim", PASSWORD).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let s = app.user("dorin").await;
    let r = app.refresh(&s.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pair: Value = r.json().await.unwrap();
    let access2 = pair["access_token"].as_str().unwrap().to_string();
    let refresh2 = pair["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(refresh2, s.refresh);
    assert_eq!(
        app.get_auth("/api/v1/users/me", &access2).await.status(),
        StatusCode::OK
    );

    // Replaying the first refresh token: the whole session dies.
    let body = assert_problem(app.refresh(&s.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].as_str().unwrap().contains("already used"));
    assert_problem(app.refresh(&refresh2).await, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        app.get_auth("/api/v1/users/me", &access2).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        app.get_auth("/api/v1/users/me", &s.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Another login of the same user is a different family and survives.
    let other = app.session("dorin", PASSWORD).await;
    assert_eq!(
        app.get_auth("/api/v1/users/me", &other.access)
            .await
            .status(),
        StatusCode::OK
    );

    // Garbage refresh tokens are plain 401s.
    for junk in ["", "x", "abc.def", &format!("{}.zzz", "f".repeat(32))] {
        assert_problem(app.refresh(junk).await, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn logout_revokes_access_and_refresh() {
    let app = spawn_app().await;
    let s = app.user("irina").await;
    let r = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get_auth("/api/v1/users/me", &s.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(app.refresh(&s.refresh).await, StatusCode::UNAUTHORIZED).await;
}
