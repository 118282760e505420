//! What an attacker tries first against identity, each closed here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fred::interfaces::KeysInterface as _;
use gleaner_common::auth::LEEWAY_SECS;
use gleaner_identity::throttle::ThrottleLimits;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

impl TestApp {
    async fn login_from(
        &self,
        forwarded_for: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/auth/login"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request")
    }

    async fn register_from(&self, forwarded_for: &str, username: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/auth/register"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"email": format!("{username}@example.md"), "username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("request")
    }

    async fn ttl(&self, key: &str) -> i64 {
        self.state.redis.ttl(key).await.expect("TTL")
    }
}

#[tokio::test]
async fn parallel_wrong_passwords_reach_bcrypt_at_most_the_limit() {
    let app = spawn_app().await;
    app.register("target").await;
    let checks_before = app.state.hasher.verifications();
    let attempts = (0..20).map(|i| {
        let app = &app;
        async move {
            app.login_from("10.7.7.7", "target", &format!("guess number {i}"))
                .await
        }
    });
    let responses = futures::future::join_all(attempts).await;
    let unauthorized = responses
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    let throttled: Vec<_> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        unauthorized <= 5,
        "{unauthorized} wrong passwords were checked"
    );
    assert_eq!(unauthorized + throttled.len(), 20);
    for r in &throttled {
        let wait = retry_after(r);
        assert!((1..=300).contains(&wait), "{wait}");
    }
    let checked = app.state.hasher.verifications() - checks_before;
    assert!(checked <= 5, "bcrypt ran {checked} times");
    // The lock is the window (minutes), not forever: once it ends the owner gets in.
    let _: () = app
        .state
        .redis
        .del("gleaner:login-failures:account:target")
        .await
        .unwrap();
    assert_eq!(
        app.login_from("10.1.1.1", "target", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_successful_login_releases_its_reservation() {
    let app = app()
        .limits(ThrottleLimits {
            per_account: 2,
            ..ThrottleLimits::default()
        })
        .spawn()
        .await;
    app.register("regular").await;
    // More good logins than the failure limit: none of them counts as a failure.
    for _ in 0..4 {
        assert_eq!(
            app.login("regular", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn the_leftmost_forwarded_address_is_not_the_client() {
    let app = app()
        .limits(ThrottleLimits {
            per_account: 100,
            per_address: 4,
            ..ThrottleLimits::default()
        })
        .spawn()
        .await;
    // One trusted proxy appends the real client (10.9.9.9); the client
    // writes whatever it likes before it.
    for i in 0..4 {
        let spoofed = format!("1.2.3.{i}, 10.9.9.9");
        assert_eq!(
            app.login_from(&spoofed, &format!("nobody{i}"), "guess1234")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app
        .login_from("1.2.3.99, 10.9.9.9", "nobody9", "guess1234")
        .await;
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn ipv6_clients_are_throttled_per_64() {
    let app = app()
        .limits(ThrottleLimits {
            per_account: 100,
            per_address: 3,
            ..ThrottleLimits::default()
        })
        .spawn()
        .await;
    for i in 1..=3 {
        let from = format!("2001:db8:aa:bb::{i:x}");
        assert_eq!(
            app.login_from(&from, &format!("nobody{i}"), "guess1234")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app
        .login_from("2001:db8:aa:bb:ffff::1", "nobody9", "guess1234")
        .await;
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    // The next /64 is someone else.
    assert_eq!(
        app.login_from("2001:db8:aa:bc::1", "nobody9", "guess1234")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn registration_is_rate_limited_per_client_address() {
    let app = app()
        .limits(ThrottleLimits {
            registrations_per_address: 3,
            ..ThrottleLimits::default()
        })
        .spawn()
        .await;
    for i in 0..3 {
        assert_eq!(
            app.register_from("10.3.3.3", &format!("signup{i}"))
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let r = app.register_from("10.3.3.3", "signup9").await;
    assert!(retry_after(&r) >= 1);
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        app.register_from("10.4.4.4", "signup9").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn logins_are_rate_limited_per_client_address() {
    let app = app()
        .limits(ThrottleLimits {
            logins_per_address: 3,
            ..ThrottleLimits::default()
        })
        .spawn()
        .await;
    app.register("busy").await;
    // Even successful logins count: this limits password spraying and hashing load.
    for _ in 0..3 {
        assert_eq!(
            app.login_from("10.5.5.5", "busy", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    let r = app.login_from("10.5.5.5", "busy", PASSWORD).await;
    assert!(retry_after(&r) >= 1);
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        app.login_from("10.6.6.6", "busy", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_full_hash_queue_answers_503_with_retry_after() {
    // One hashing thread, one waiting place, slow hashes: of many parallel
    // logins, most find the queue full at once instead of waiting. Unknown
    // accounts from distinct addresses: each costs a full (dummy) bcrypt
    // verification and no throttle applies.
    let app = app()
        .settings(|s| {
            s.bcrypt_cost = 13;
            s.password_hash_threads = Some(1);
            s.password_hash_queue = 1;
        })
        .without_admin()
        .spawn()
        .await;
    let attempts = (0..8).map(|i| {
        let app = &app;
        async move {
            app.login_from(&format!("10.8.0.{i}"), &format!("ghost{i}"), PASSWORD)
                .await
        }
    });
    let responses = futures::future::join_all(attempts).await;
    let mut busy = 0;
    for r in responses {
        match r.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(retry_after(&r) >= 1);
                assert_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    // At most one hashing and one waiting, of eight.
    assert!(busy >= 6, "only {busy} of 8 were turned away");
    // Turned-away attempts were not checked, so they are not failures.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!(r#"identity_logins_total{{result="busy"}} {busy}"#)),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_token_issued_right_after_a_role_change_is_accepted() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.user("climber").await;
    let path = format!("/api/v1/users/{}", user.user_id);
    for role in ["operator", "user", "operator"] {
        let r = app
            .send_auth(
                reqwest::Method::PATCH,
                &path,
                &admin.access,
                Some(&json!({"role": role})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        // No waiting: the token from a login right after the change works...
        let fresh = app.session("climber", PASSWORD).await;
        let me: Value = app
            .get_auth("/api/v1/users/me", &fresh.access)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], role);
        // ...and the one from before it never does.
        assert_problem(
            app.get_auth("/api/v1/users/me", &user.access).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
}

#[tokio::test]
async fn a_session_kept_alive_by_refreshes_alone_is_ended_by_a_password_change() {
    let app = spawn_app().await;
    let kept = app.user("longlived").await;
    let here = app.session("longlived", PASSWORD).await;
    // The set of the user's sessions got its expiry at the last login; the
    // kept session lives on through refreshes. Emulate the set running out
    // before the session does.
    let _: () = app
        .state
        .redis
        .del(format!("gleaner:user-sessions:{}", kept.user_id))
        .await
        .unwrap();
    let r = app.refresh(&kept.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pair: Value = r.json().await.unwrap();
    let kept_access = pair["access_token"].as_str().unwrap().to_string();
    let kept_refresh = pair["refresh_token"].as_str().unwrap().to_string();
    let sid = claims(&kept_access)["sid"].as_str().unwrap().to_string();
    // The set lives at least as long as the session it holds.
    let set_ttl = app
        .ttl(&format!("gleaner:user-sessions:{}", kept.user_id))
        .await;
    let session_ttl = app.ttl(&format!("gleaner:session:{sid}")).await;
    assert!(set_ttl >= session_ttl - 1, "{set_ttl} < {session_ttl}");

    let r = app
        .post_auth(
            "/api/v1/users/me/password",
            &here.access,
            &json!({"current_password": PASSWORD, "new_password": "another good secret"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(app.refresh(&kept_refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        app.get_auth("/api/v1/users/me", &kept_access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_refresh_token_with_a_made_up_secret_does_not_end_the_session() {
    let app = spawn_app().await;
    let s = app.user("sturdy").await;
    let (sid, _) = s.refresh.split_once('.').unwrap();
    // The session id is in every access token; the secret is not.
    assert_eq!(claims(&s.access)["sid"], sid);
    let forged = format!("{sid}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
    assert_problem(app.refresh(&forged).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.get_auth("/api/v1/users/me", &s.access).await.status(),
        StatusCode::OK
    );
    let r = app.refresh(&s.refresh).await;
    assert_eq!(r.status(), StatusCode::OK, "the session survived");
    // A secret that was once valid, replayed, still ends the family.
    let body = assert_problem(app.refresh(&s.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].as_str().unwrap().contains("already used"));
}

#[tokio::test]
async fn revocation_records_outlive_the_token_by_the_leeway() {
    let app = spawn_app().await;
    let s = app.user("leaving").await;
    let c = claims(&s.access);
    let r = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let now = chrono::Utc::now().timestamp();
    let exp = c["exp"].as_i64().unwrap();
    let leeway = LEEWAY_SECS as i64;
    // The verifier accepts the token until exp + leeway: so long must the record last.
    let jti_ttl = app
        .ttl(&format!(
            "gleaner:revoked:jti:{}",
            c["jti"].as_str().unwrap()
        ))
        .await;
    assert!(jti_ttl >= exp - now + leeway - 1, "{jti_ttl}");
    let sid_ttl = app
        .ttl(&format!(
            "gleaner:revoked:sid:{}",
            c["sid"].as_str().unwrap()
        ))
        .await;
    assert!(sid_ttl >= exp - now + leeway - 1, "{sid_ttl}");
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = spawn_app().await;
    app.register("private").await;
    let r = app.login("private", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let pair: Value = r.json().await.unwrap();
    let r = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
}

#[tokio::test]
async fn generations_keep_growing_after_a_revocation_record_expires() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.user("cycler").await;
    let path = format!("/api/v1/users/{}", user.user_id);
    let record = format!("gleaner:revoked:user:{}", user.user_id);
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &path,
            &admin.access,
            Some(&json!({"role": "operator"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let between = app.session("cycler", PASSWORD).await;
    let first = claims(&between.access)["gen"].as_u64().unwrap();
    assert!(first > 0);
    // The record runs out (as it does once every token it revoked has
    // expired); the next revocation must still refuse tokens issued before it.
    let _: () = app.state.redis.del(&record).await.unwrap();
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &path,
            &admin.access,
            Some(&json!({"role": "user"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_problem(
        app.get_auth("/api/v1/users/me", &between.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let after = app.session("cycler", PASSWORD).await;
    assert!(claims(&after.access)["gen"].as_u64().unwrap() > first);
}
