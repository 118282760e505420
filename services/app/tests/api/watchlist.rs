use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{body, spawn_app};

const IDNO: &str = "1003600012345";

#[tokio::test]
async fn watching_is_idempotent_per_user_and_needs_a_13_digit_idno() {
    let app = spawn_app().await;
    app.scraper.add_company(IDNO, "Alfa SRL");
    let (_, alice) = app.user_token();
    let (_, bob) = app.user_token();
    for _ in 0..2 {
        let resp = app
            .send_auth(
                Method::PUT,
                &format!("/api/v1/watchlist/{IDNO}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let page = body(app.get_auth("/api/v1/watchlist", &alice).await).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["idno"], IDNO);
    assert_eq!(
        page["items"][0]["name"], "Alfa SRL",
        "the name comes from the scraper"
    );
    let page = body(app.get_auth("/api/v1/watchlist", &bob).await).await;
    assert_eq!(page["total"], 0, "users see only their own");

    for bad in ["123", "100360001234x", "10036000123456"] {
        let resp = app
            .send_auth(
                Method::PUT,
                &format!("/api/v1/watchlist/{bad}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{bad}");
    }
    for _ in 0..2 {
        let resp = app
            .send_auth(
                Method::DELETE,
                &format!("/api/v1/watchlist/{IDNO}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let page = body(app.get_auth("/api/v1/watchlist", &alice).await).await;
    assert_eq!(page["total"], 0);

    for (method, path) in [
        (Method::GET, "/api/v1/watchlist".to_owned()),
        (Method::PUT, format!("/api/v1/watchlist/{IDNO}")),
        (Method::DELETE, format!("/api/v1/watchlist/{IDNO}")),
        (Method::GET, "/api/v1/notifications".to_owned()),
        (Method::POST, "/api/v1/notifications/read".to_owned()),
    ] {
        let resp = app
            .http
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn notifications_are_marked_read_by_id_or_all_and_only_ones_own() {
    let app = spawn_app().await;
    let (alice_id, alice) = app.user_token();
    let (bob_id, bob) = app.user_token();
    for user in [alice_id, bob_id] {
        for run in 0..2 {
            sqlx::query(
                "INSERT INTO notifications (user_id, idno, company_name, changes, run_id, dedupe_key) \
                 VALUES ($1, $2, 'Alfa SRL', '[]', $3, $3::text)",
            )
            .bind(user)
            .bind(IDNO)
            .bind(Uuid::from_u128(run))
            .execute(&app.db)
            .await
            .expect("insert");
        }
    }
    let page = body(
        app.get_auth("/api/v1/notifications?unread=true", &alice)
            .await,
    )
    .await;
    assert_eq!(page["total"], 2);
    let alice_first = page["items"][0]["id"].clone();
    let bob_page = body(app.get_auth("/api/v1/notifications", &bob).await).await;
    let bob_first = bob_page["items"][0]["id"].clone();

    // Bob's id in Alice's request is ignored.
    let resp = app
        .post_auth(
            "/api/v1/notifications/read",
            &alice,
            &json!({"ids": [alice_first, bob_first]}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let page = body(
        app.get_auth("/api/v1/notifications?unread=true", &alice)
            .await,
    )
    .await;
    assert_eq!(page["total"], 1);
    let page = body(app.get_auth("/api/v1/notifications", &alice).await).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["read"], true);
    assert_eq!(page["items"][1]["read"], false);
    let page = body(
        app.get_auth("/api/v1/notifications?unread=true", &bob)
            .await,
    )
    .await;
    assert_eq!(page["total"], 2);

    let resp = app
        .post_auth("/api/v1/notifications/read", &alice, &json!({"all": true}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let page = body(
        app.get_auth("/api/v1/notifications?unread=true", &alice)
            .await,
    )
    .await;
    assert_eq!(page["total"], 0);

    for bad in [
        json!({}),
        json!({"all": false}),
        json!({"ids": [1], "all": true}),
        json!({"every": true}),
    ] {
        let resp = app
            .post_auth("/api/v1/notifications/read", &alice, &bad)
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}
