use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn first_admin_is_created_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let me: Value = app
        .get_auth("/api/v1/users/me", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["email"], ADMIN_EMAIL);
    let page: Value = app
        .get_auth("/api/v1/users?role=admin", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn only_admins_administer() {
    let app = spawn_app().await;
    let user = app.user("plain").await;
    let admin = app.admin().await;
    assert_problem(
        app.get_auth("/api/v1/users", &user.access).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.get_auth(&format!("/api/v1/users/{}", admin.user_id), &user.access)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        app.get_auth(&format!("/api/v1/users/{}", user.user_id), &user.access)
            .await
            .status(),
        StatusCode::OK
    );
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", user.user_id),
            &user.access,
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let r = app
        .send_auth(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{}", admin.user_id),
            &user.access,
            None,
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    // Unknown and malformed ids are 404.
    assert_problem(
        app.get_auth(
            &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
            &admin.access,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get_auth("/api/v1/users/not-a-uuid", &admin.access)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let app = spawn_app().await;
    for name in ["alpha", "beta", "gamma", "delta"] {
        app.register(name).await;
    }
    let admin = app.admin().await;
    let page: Value = app
        .get_auth("/api/v1/users?per_page=2&page=2", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["page"], 2);
    assert_eq!(page["per_page"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let page: Value = app
        .get_auth("/api/v1/users?q=ALP", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["username"], "alpha");
    let page: Value = app
        .get_auth("/api/v1/users?role=user", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 4);
    let page: Value = app
        .get_auth("/api/v1/users?q=%25", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 0, "LIKE wildcards are literal");
    for bad in [
        "per_page=101",
        "page=0",
        "role=root",
        "per_page=x",
        "bogus=1",
    ] {
        assert_problem(
            app.get_auth(&format!("/api/v1/users?{bad}"), &admin.access)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn disabling_a_user_kills_live_tokens_at_once() {
    let app = spawn_app().await;
    let user = app.user("doomed").await;
    let admin = app.admin().await;
    assert_eq!(
        app.get_auth("/api/v1/users/me", &user.access)
            .await
            .status(),
        StatusCode::OK
    );
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", user.user_id),
            &admin.access,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["disabled"], true);
    assert_problem(
        app.get_auth("/api/v1/users/me", &user.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(app.refresh(&user.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        app.login("doomed", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Enabled again: can log in again.
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", user.user_id),
            &admin.access,
            Some(&json!({"disabled": false})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // At once: the revocation is exact, not rounded to the second.
    let again = app.session("doomed", PASSWORD).await;
    assert_eq!(
        app.get_auth("/api/v1/users/me", &again.access)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn role_changes_and_the_last_admin() {
    let app = spawn_app().await;
    let user = app.user("promoted").await;
    let admin = app.admin().await;
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", user.user_id),
            &admin.access,
            Some(&json!({"role": "operator"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "operator");
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", user.user_id),
            &admin.access,
            Some(&json!({"role": "superuser"})),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    // The only admin cannot demote, disable or delete themself.
    let me = format!("/api/v1/users/{}", admin.user_id);
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &me,
            &admin.access,
            Some(&json!({"role": "user"})),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &me,
            &admin.access,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
    let r = app
        .send_auth(reqwest::Method::DELETE, &me, &admin.access, None)
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn deleting_a_user_revokes_everything() {
    let app = spawn_app().await;
    let user = app.user("gone").await;
    let admin = app.admin().await;
    let path = format!("/api/v1/users/{}", user.user_id);
    let r = app
        .send_auth(reqwest::Method::DELETE, &path, &admin.access, None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get_auth("/api/v1/users/me", &user.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(app.refresh(&user.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        app.get_auth(&path, &admin.access).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let r = app
        .send_auth(reqwest::Method::DELETE, &path, &admin.access, None)
        .await;
    assert_problem(r, StatusCode::NOT_FOUND).await;
    // The name is free again.
    assert_eq!(app.register("gone").await.status(), StatusCode::CREATED);
}
