//! `GET /users/me` answers from a copy kept under the user's record version in
//! Redis, and every change of the row through identity is seen at once.

use fred::prelude::*;
use gleaner_common::auth::UserVersion;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

fn version_key(user: Uuid) -> String {
    format!("gleaner:user:version:{user}")
}

async fn me(app: &TestApp, token: &str) -> Value {
    let r = app.get_auth("/api/v1/users/me", token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    r.json().await.expect("json")
}

/// Change the row behind identity's back, as a hand-written SQL statement would.
async fn rename_in_sql(app: &TestApp, user: Uuid, name: &str) {
    sqlx::query("UPDATE users SET full_name = $2 WHERE id = $1")
        .bind(user)
        .bind(name)
        .execute(&app.state.db)
        .await
        .expect("update");
}

async fn version(app: &TestApp, user: Uuid) -> UserVersion {
    app.state
        .revocations
        .user_version(user)
        .await
        .expect("version")
}

/// A user whose `/users/me` is kept: the first request records a version, the second
/// keeps the row under it.
async fn cached_user(app: &TestApp, name: &str) -> (Session, Uuid) {
    let s = app.user(name).await;
    let id: Uuid = s.user_id.parse().expect("uuid");
    me(app, &s.access).await;
    me(app, &s.access).await;
    assert!(matches!(version(app, id).await, UserVersion::Settled(_)));
    (s, id)
}

#[tokio::test]
async fn me_is_answered_from_the_copy_until_identity_changes_the_row() {
    let app = spawn_app().await;
    let (s, id) = cached_user(&app, "ana").await;
    let before = version(&app, id).await;
    let first = me(&app, &s.access).await;
    assert_eq!(first["full_name"], Value::Null);
    assert!(!app.state.user_cache.is_empty());

    // Not through identity: the copy is still the answer (this is the cache at work).
    rename_in_sql(&app, id, "Behind The Back").await;
    assert_eq!(me(&app, &s.access).await, first);

    // Through identity: the version moves on and the next answer is the row.
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            &s.access,
            Some(&json!({"full_name": "Ana Pop"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let after = version(&app, id).await;
    assert!(matches!(after, UserVersion::Settled(_)));
    assert_ne!(after, before);
    let now = me(&app, &s.access).await;
    assert_eq!(now["full_name"], "Ana Pop");
    // The answer is the JSON the row gives, field for field.
    let keys: Vec<_> = now.as_object().expect("object").keys().cloned().collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    assert_eq!(now["id"], first["id"]);
    assert_eq!(now["created_at"], first["created_at"]);
}

#[tokio::test]
async fn a_change_under_way_or_a_lost_version_reads_the_row() {
    let app = spawn_app().await;
    let (s, id) = cached_user(&app, "bogdan").await;

    // A change under way (or one whose end was never recorded): no copy is used.
    let _: () = app
        .state
        .redis
        .set(version_key(id), -1, None, None, false)
        .await
        .expect("set");
    rename_in_sql(&app, id, "Changing").await;
    assert_eq!(me(&app, &s.access).await["full_name"], "Changing");
    assert_eq!(version(&app, id).await, UserVersion::Changing);

    // The version lost (expired, or Redis lost it): the row, and a fresh version.
    let _: i64 = app.state.redis.del(version_key(id)).await.expect("del");
    rename_in_sql(&app, id, "Lost").await;
    assert_eq!(me(&app, &s.access).await["full_name"], "Lost");
    assert!(matches!(version(&app, id).await, UserVersion::Settled(_)));
    rename_in_sql(&app, id, "Lost again").await;
    assert_eq!(me(&app, &s.access).await["full_name"], "Lost again");
}

#[tokio::test]
async fn changes_under_way_nest_and_the_last_to_end_settles_a_new_version() {
    let app = spawn_app().await;
    let (_, id) = cached_user(&app, "carmen").await;
    let revocations = &app.state.revocations;
    let settled = version(&app, id).await;
    revocations.begin_user_change(id).await.expect("begin");
    revocations.begin_user_change(id).await.expect("begin");
    assert_eq!(version(&app, id).await, UserVersion::Changing);
    revocations.end_user_change(id).await.expect("end");
    assert_eq!(version(&app, id).await, UserVersion::Changing);
    revocations.end_user_change(id).await.expect("end");
    let next = version(&app, id).await;
    assert!(matches!(next, UserVersion::Settled(_)));
    assert_ne!(next, settled);
    // An end whose begin was lost with the key settles a new version too.
    let _: i64 = app.state.redis.del(version_key(id)).await.expect("del");
    revocations.end_user_change(id).await.expect("end");
    let again = version(&app, id).await;
    assert!(matches!(again, UserVersion::Settled(_)));
    assert_ne!(again, next);
    // Settling never replaces a version that is there.
    revocations.settle_user_version(id).await.expect("settle");
    assert_eq!(version(&app, id).await, again);
}

#[tokio::test]
async fn role_changes_password_changes_and_deletion_are_seen_at_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (s, id) = cached_user(&app, "dorin").await;
    assert_eq!(me(&app, &s.access).await["role"], "user");

    // A role change: the old token is revoked, a new one sees the new role.
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &admin.access,
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let s = app.session("dorin", PASSWORD).await;
    assert_eq!(me(&app, &s.access).await["role"], "admin");
    me(&app, &s.access).await;

    // A password change moves the version on too (the row changed).
    let before = version(&app, id).await;
    let r = app
        .post_auth(
            "/api/v1/users/me/password",
            &s.access,
            &json!({"current_password": PASSWORD, "new_password": "another good passphrase"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_ne!(version(&app, id).await, before);
    me(&app, &s.access).await;

    // Deletion: the version moves on with it, and the token dies with the user.
    let before = version(&app, id).await;
    let r = app
        .send_auth(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{id}"),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = version(&app, id).await;
    assert!(matches!(after, UserVersion::Settled(_)));
    assert_ne!(after, before);
    assert_ne!(
        app.get_auth("/api/v1/users/me", &s.access).await.status(),
        StatusCode::OK
    );
}
