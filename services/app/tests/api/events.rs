use std::collections::HashMap;
use std::time::Duration;

use fred::prelude::*;
use gleaner_app::events::EventConsumer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, body, spawn_app};

const IDNO: &str = "1003600012345";

fn changed(run_id: Uuid, name: &str) -> Value {
    json!({"idno": IDNO, "company_name": name, "run_id": run_id,
           "changes": [{"field": "name", "old": "Alfa", "new": name}]})
}

async fn notifications(app: &TestApp, token: &str) -> Value {
    body(app.get_auth("/api/v1/notifications", token).await).await
}

async fn wait_for_total(app: &TestApp, token: &str, total: i64) -> Value {
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let page = notifications(app, token).await;
        (page["total"] == total).then_some(page)
    })
    .await
    .expect("the notifications arrive")
}

#[tokio::test]
async fn a_change_notifies_each_watcher_once_per_run_even_when_delivered_twice() {
    let app = spawn_app().await;
    let (_, alice) = app.user_token();
    let (_, bob) = app.user_token();
    let (_, carol) = app.user_token();
    for token in [&alice, &bob] {
        let resp = app
            .send_auth(
                Method::PUT,
                &format!("/api/v1/watchlist/{IDNO}"),
                token,
                None,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let run = Uuid::new_v4();
    app.publish("scraper-1", "company.changed", changed(run, "Alfa Nova"))
        .await;
    // The same change delivered again (a relay retry): no second notification.
    app.publish("scraper-1", "company.changed", changed(run, "Alfa Nova"))
        .await;
    // A change in another run is another notification.
    let later = Uuid::new_v4();
    app.publish(
        "scraper-2",
        "company.changed",
        changed(later, "Alfa Nova Plus"),
    )
    .await;
    // A marker after them: once it is seen, everything before it was handled.
    app.publish(
        "identity-1",
        "user.deleted",
        json!({"id": Uuid::new_v4(), "username": "nobody"}),
    )
    .await;

    let page = wait_for_total(&app, &alice, 2).await;
    let items = page["items"].as_array().expect("items");
    let of_run = |run: Uuid| {
        items
            .iter()
            .find(|n| n["run_id"] == run.to_string())
            .unwrap_or_else(|| panic!("a notification of run {run}: {page}"))
    };
    let newer = of_run(later);
    assert_eq!(newer["company_name"], "Alfa Nova Plus");
    assert_eq!(newer["idno"], IDNO);
    assert_eq!(newer["read"], false);
    assert_eq!(
        of_run(run)["changes"],
        json!([{"field": "name", "old": "Alfa", "new": "Alfa Nova"}])
    );
    wait_for_total(&app, &bob, 2).await;
    // Everything was acknowledged.
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let pending: Vec<fred::types::Value> = app
            .redis_client
            .xpending(&app.stream, "app", ())
            .await
            .ok()?;
        (pending.first().and_then(|v| v.as_i64()) == Some(0)).then_some(())
    })
    .await
    .expect("no entry left pending");
    assert_eq!(
        notifications(&app, &carol).await["total"],
        0,
        "only watchers are notified"
    );
    let watched = body(app.get_auth("/api/v1/watchlist", &alice).await).await;
    assert_eq!(
        watched["items"][0]["name"], "Alfa Nova Plus",
        "the name follows the last event"
    );
}

#[tokio::test]
async fn a_deleted_user_loses_their_watchlist_and_notifications() {
    let app = spawn_app().await;
    let (alice_id, alice) = app.user_token();
    let (_, bob) = app.user_token();
    for token in [&alice, &bob] {
        app.send_auth(
            Method::PUT,
            &format!("/api/v1/watchlist/{IDNO}"),
            token,
            None,
        )
        .await;
    }
    app.publish(
        "scraper-1",
        "company.changed",
        changed(Uuid::new_v4(), "Alfa"),
    )
    .await;
    wait_for_total(&app, &alice, 1).await;
    app.publish(
        "identity-7",
        "user.deleted",
        json!({"id": alice_id, "username": "alice"}),
    )
    .await;
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM watchlist WHERE user_id = $1) + (SELECT count(*) FROM notifications WHERE user_id = $1)",
        )
        .bind(alice_id)
        .fetch_one(&app.db)
        .await
        .ok()?;
        (left == 0).then_some(())
    })
    .await
    .expect("alice's rows are gone");
    assert_eq!(notifications(&app, &bob).await["total"], 1, "bob keeps his");
    assert_eq!(
        body(app.get_auth("/api/v1/watchlist", &bob).await).await["total"],
        1
    );
}

/// Entries pending at one consumer of the `replicas` group.
async fn pending_of(app: &TestApp, name: &str) -> usize {
    let p: Vec<fred::types::Value> = app
        .redis_client
        .xpending(&app.stream, "replicas", ("-", "+", 10, name))
        .await
        .expect("XPENDING");
    p.len()
}

#[tokio::test]
async fn entries_left_pending_by_a_dead_consumer_are_claimed_and_applied_once() {
    let app = spawn_app().await;
    let (_, alice) = app.user_token();
    app.send_auth(
        Method::PUT,
        &format!("/api/v1/watchlist/{IDNO}"),
        &alice,
        None,
    )
    .await;
    // A group of its own, so the running app's consumer stays out of it.
    let group = "replicas";
    let consumer = |name: &str| EventConsumer {
        db: app.db.clone(),
        redis: app.redis_pool(),
        stream: app.stream.clone(),
        group: group.into(),
        consumer: name.into(),
        claim_idle: Duration::from_millis(1),
    };
    let dead = consumer("dead");
    dead.ensure_group().await.expect("group");
    let run = Uuid::new_v4();
    app.publish("scraper-9", "company.changed", changed(run, "Beta"))
        .await;
    // The dead consumer read it and died before acknowledging.
    let read: fred::types::streams::XReadResponse<String, String, String, String> = app
        .redis_client
        .xreadgroup_map(group, "dead", Some(10), None, false, &app.stream, ">")
        .await
        .expect("XREADGROUP");
    assert_eq!(read.values().map(Vec::len).sum::<usize>(), 1);
    assert_eq!(pending_of(&app, "dead").await, 1);

    // The group's entries have been handled by the app's own group: clear what it made
    // so that only the claiming consumer can make the notification again.
    wait_for_total(&app, &alice, 1).await;
    sqlx::query("DELETE FROM notifications")
        .execute(&app.db)
        .await
        .expect("delete");

    let alive = consumer("alive");
    let handled = gleaner_testkit::eventually(Duration::from_secs(10), || async {
        match alive.poll_once(None).await {
            Ok(n) => (n > 0).then_some(n),
            Err(e) => panic!("{e:#}"),
        }
    })
    .await
    .expect("the pending entry is claimed");
    assert_eq!(handled, 1);
    assert_eq!(pending_of(&app, "dead").await, 0);
    assert_eq!(
        pending_of(&app, "alive").await,
        0,
        "acknowledged after the commit"
    );
    let page = notifications(&app, &alice).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["run_id"], run.to_string());

    // Applying the same entry again (a redelivery) makes no duplicate.
    let entry = gleaner_app::events::StreamEntry {
        entry_id: "1-0".into(),
        fields: HashMap::from([
            ("id".to_owned(), "scraper-9".to_owned()),
            ("type".to_owned(), "company.changed".to_owned()),
            ("payload".to_owned(), changed(run, "Beta").to_string()),
        ]),
    };
    gleaner_app::events::apply(&app.db, &entry)
        .await
        .expect("apply");
    assert_eq!(notifications(&app, &alice).await["total"], 1);
}
