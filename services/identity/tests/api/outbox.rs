use std::collections::HashMap;
use std::time::Duration;

use fred::interfaces::StreamsInterface;
use gleaner_common::auth::Role;
use gleaner_common::events::UserCreated;
use gleaner_common::outbox::{OutboxRelay, enqueue};
use gleaner_identity::users::OUTBOX_TABLE;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

type Entries = Vec<(String, HashMap<String, String>)>;

async fn events(app: &TestApp) -> Vec<(String, Value)> {
    let entries: Entries = app
        .state
        .redis
        .xrange(&app.stream, "-", "+", None)
        .await
        .unwrap_or_default();
    entries
        .into_iter()
        .map(|(_, f)| {
            let payload: Value = serde_json::from_str(&f["payload"]).unwrap();
            (f["type"].clone(), payload)
        })
        .collect()
}

async fn wait_events(app: &TestApp, n: usize) -> Vec<(String, Value)> {
    gleaner_testkit::eventually(Duration::from_secs(15), || async {
        let e = events(app).await;
        (e.len() >= n).then_some(e)
    })
    .await
    .expect("events published")
}

async fn pending(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM identity_outbox WHERE published_at IS NULL")
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn user_created_and_deleted_are_published() {
    let app = spawn_app().await;
    // The bootstrap admin's event first.
    let evs = wait_events(&app, 1).await;
    assert_eq!(evs[0].0, "user.created");
    assert_eq!(evs[0].1["role"], "admin");
    let r = app.register("publicat").await;
    let user: Value = r.json().await.unwrap();
    let evs = wait_events(&app, 2).await;
    assert_eq!(evs[1].0, "user.created");
    assert_eq!(evs[1].1["id"], user["id"]);
    let admin = app.admin().await;
    app.send_auth(
        reqwest::Method::DELETE,
        &format!("/api/v1/users/{}", user["id"].as_str().unwrap()),
        &admin.access,
        None,
    )
    .await;
    let evs = wait_events(&app, 3).await;
    assert_eq!(evs[2].0, "user.deleted");
    assert_eq!(evs[2].1["id"], user["id"]);
    // The relay marks rows published just after the stream has them.
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        (pending(&app).await == 0).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn rolled_back_changes_publish_nothing() {
    let app = spawn_app().await;
    wait_events(&app, 1).await;
    // A failed registration (duplicate) leaves no event.
    assert_eq!(app.register("dup").await.status(), StatusCode::CREATED);
    assert_eq!(app.register("dup").await.status(), StatusCode::CONFLICT);
    // An event enqueued in a transaction that rolls back is never sent.
    let ghost = UserCreated {
        id: uuid::Uuid::new_v4(),
        email: "ghost@example.com".into(),
        username: "ghost".into(),
        role: Role::User,
    };
    let mut tx = app.state.db.begin().await.unwrap();
    enqueue(&mut tx, OUTBOX_TABLE, &ghost).await.unwrap();
    tx.rollback().await.unwrap();
    app.state.relay.relay_once(100).await.unwrap();
    // The rolled-back event never reached the table, so no relay can send it.
    let ghosts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM identity_outbox WHERE payload->>'id' = $1")
            .bind(ghost.id.to_string())
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(ghosts, 0);
    // Once nothing is pending, what the stream holds is final.
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        (pending(&app).await == 0).then_some(())
    })
    .await
    .unwrap();
    let evs = events(&app).await;
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(evs.iter().all(|(_, p)| p["id"] != ghost.id.to_string()));
}

#[tokio::test]
async fn events_wait_out_a_redis_outage_and_are_sent_once() {
    let mut app = spawn_app().await;
    wait_events(&app, 1).await;
    app.redis.stop();
    // Registration needs only PostgreSQL: it succeeds while Redis is down.
    assert_eq!(app.register("patient").await.status(), StatusCode::CREATED);
    // A relay attempt while Redis is down publishes nothing (it fails, or finds
    // the row locked by the service's own relay, which fails the same way).
    let attempt = app.state.relay.relay_once(100).await;
    assert!(
        !matches!(attempt, Ok(n) if n > 0),
        "published with Redis down: {attempt:?}"
    );
    assert_eq!(pending(&app).await, 1, "the event waits in the outbox");
    // Redis is back empty (no persistence): the admin event and this one are published.
    app.redis.restart().await.unwrap();
    let evs = wait_events(&app, 1).await;
    assert_eq!(
        evs.iter()
            .filter(|(_, p)| p["username"] == "patient")
            .count(),
        1
    );
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        (pending(&app).await == 0).then_some(())
    })
    .await
    .unwrap();

    // A crash after XADD but before the UPDATE: the row looks unpublished,
    // yet the relay does not send it a second time.
    sqlx::query("UPDATE identity_outbox SET published_at = NULL")
        .execute(&app.state.db)
        .await
        .unwrap();
    let relay = OutboxRelay::new(
        app.state.db.clone(),
        app.state.redis.clone(),
        OUTBOX_TABLE,
        "identity",
        &app.stream,
    );
    relay.relay_once(100).await.unwrap();
    assert_eq!(pending(&app).await, 0);
    let evs = events(&app).await;
    assert_eq!(
        evs.iter()
            .filter(|(_, p)| p["username"] == "patient")
            .count(),
        1
    );
}
