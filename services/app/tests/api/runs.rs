use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, body, idno_spec, spawn_app};

/// One parsed Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    event: String,
    id: i64,
    data: Value,
}

/// Reads events off a response, one at a time.
struct EventReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl EventReader {
    fn new(resp: reqwest::Response) -> Self {
        Self {
            stream: resp.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or `None` when the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::new(), -1, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().expect("numeric event id");
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).expect("JSON data");
                return Some(Sse { event, id, data });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("an event within 10 s")?
                .expect("a chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn start(app: &TestApp) -> Uuid {
    assert_eq!(
        app.create_job("followed", {
            let mut s = idno_spec();
            s["schedule"] = serde_json::json!("0 3 * * *");
            s
        })
        .await
        .status(),
        StatusCode::CREATED
    );
    let run = body(
        app.send_auth(
            Method::POST,
            "/api/v1/scrape-jobs/followed/runs",
            &app.operator,
            None,
        )
        .await,
    )
    .await;
    serde_json::from_value(run["id"].clone()).expect("run id")
}

async fn events(app: &TestApp, id: Uuid, last_event_id: Option<i64>) -> EventReader {
    let mut req = app
        .http
        .get(app.url(&format!("/api/v1/scrape-runs/{id}/events")))
        .bearer_auth(&app.operator);
    if let Some(last) = last_event_id {
        req = req.header("Last-Event-ID", last.to_string());
    }
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    EventReader::new(resp)
}

#[tokio::test]
async fn run_progress_streams_until_the_run_ends_and_a_reconnect_misses_nothing() {
    let app = spawn_app().await;
    let id = start(&app).await;
    let mut stream = events(&app, id, None).await;
    let first = stream.next().await.expect("an event");
    assert_eq!((first.event.as_str(), first.id), ("progress", 0));
    assert_eq!(first.data["status"], "queued");

    app.scraper.update_run(id, "running", 3, 1);
    let second = stream.next().await.expect("an event");
    assert_eq!((second.event.as_str(), second.id), ("progress", 4));
    assert_eq!(second.data["pages_fetched"], 3);
    drop(stream);

    // While the client is away the run moves on and ends.
    app.scraper.update_run(id, "running", 5, 1);
    app.scraper.update_run(id, "succeeded", 6, 1);
    let mut again = events(&app, id, Some(second.id)).await;
    let last = again.next().await.expect("the end");
    assert_eq!((last.event.as_str(), last.id), ("end", 8));
    assert_eq!(last.data["status"], "succeeded");
    assert_eq!(last.data["pages_fetched"], 6);
    assert!(
        again.next().await.is_none(),
        "the stream closes when the run ended"
    );

    // A client that saw the end gets nothing more.
    let mut done = events(&app, id, Some(last.id)).await;
    assert!(done.next().await.is_none());
}

#[tokio::test]
async fn events_of_an_unknown_run_are_404() {
    let app = spawn_app().await;
    let resp = app
        .get_auth(
            &format!("/api/v1/scrape-runs/{}/events", Uuid::new_v4()),
            &app.operator,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .get_auth(
            &format!("/api/v1/scrape-runs/{}", Uuid::new_v4()),
            &app.operator,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
