//! Scrape runs, read from the scraper, and their progress as Server-Sent Events (operator).

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use gleaner_common::pagination::PageParams;
use gleaner_common::runs::RunFilter;
use gleaner_common::{ApiError, ApiResult, Json, Path, Query};
use gleaner_scrapejob::RunStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Operator;
use crate::scraper::{RunView, ScraperClient, ScraperError};
use crate::state::AppState;

/// Routes of runs.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scrape-runs", get(list_runs))
        .route("/api/v1/scrape-runs/{id}", get(get_run))
        .route("/api/v1/scrape-runs/{id}/events", get(run_events))
}

/// One error of a run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunErrorView {
    /// The document's URL.
    pub url: String,
    /// `http_503`, `timeout`, `parse`, `disallowed`, ...
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// Runs, newest first (operator).
#[utoipa::path(get, path = "/api/v1/scrape-runs", tag = "scrape-runs", security(("bearer" = [])), params(RunFilter),
    responses((status = 200, description = "A page of runs", body = Object),
        (status = 401, body = gleaner_common::error::Problem), (status = 403, body = gleaner_common::error::Problem),
        (status = 422, body = gleaner_common::error::Problem)))]
pub async fn list_runs(
    State(state): State<AppState>,
    op: Operator,
    Query(f): Query<RunFilter>,
) -> ApiResult<Json<Value>> {
    let page = PageParams {
        page: f.page,
        per_page: f.per_page,
    }
    .validate()?;
    let mut query = vec![
        ("page", page.page.to_string()),
        ("per_page", page.per_page.to_string()),
    ];
    if let Some(job) = f.job {
        query.push(("job", job));
    }
    if let Some(status) = f.status {
        query.push(("status", RunStatus::from(status).as_str().to_owned()));
    }
    Ok(Json(state.scraper.runs(&op.token, &query).await?))
}

/// One run (operator).
#[utoipa::path(get, path = "/api/v1/scrape-runs/{id}", tag = "scrape-runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn get_run(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<RunView>> {
    state
        .scraper
        .run(&op.token, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such run"))
}

/// A run's progress as Server-Sent Events (operator): a `progress` event whenever more
/// documents were dealt with, then one `end` event when the run ends, and the stream
/// closes. Each event's data is the run; its id grows with the run's progress, so a client
/// that reconnects with `Last-Event-ID` gets only what it has not seen, and the end.
#[utoipa::path(get, path = "/api/v1/scrape-runs/{id}/events", tag = "scrape-runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id"),
        ("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received")),
    responses((status = 200, description = "text/event-stream of `progress` and `end` events carrying the run", content_type = "text/event-stream"),
        (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn run_events(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> ApiResult<impl axum::response::IntoResponse> {
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(-1);
    let first = state
        .scraper
        .run(&op.token, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such run"))?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(follow(
        state.scraper.clone(),
        op.token,
        first,
        last_seen,
        state.run_events_poll,
        tx,
    ));
    Ok(Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default()))
}

/// The event to send for this state of the run, given the last id the client has.
pub fn next_event(run: &RunView, last_seen: i64) -> Option<(&'static str, i64)> {
    if run.is_final() {
        let id = run.progress() + 1;
        (id > last_seen).then_some(("end", id))
    } else {
        let id = run.progress();
        (id > last_seen).then_some(("progress", id))
    }
}

async fn follow(
    scraper: ScraperClient,
    token: String,
    mut run: RunView,
    mut last_seen: i64,
    poll: Duration,
    tx: mpsc::Sender<Result<Event, Infallible>>,
) {
    loop {
        if let Some((name, id)) = next_event(&run, last_seen) {
            let data = serde_json::to_string(&run).unwrap_or_default();
            let event = Event::default().event(name).id(id.to_string()).data(data);
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
            last_seen = id;
        }
        if run.is_final() {
            return;
        }
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(poll) => {}
        }
        match scraper.run(&token, run.id).await {
            Ok(Some(now)) => run = now,
            Ok(None) => return,
            Err(ScraperError::Unavailable(e)) => {
                tracing::debug!(run_id = %run.id, error = %format!("{e:#}"), "run progress unavailable; retrying");
            }
            Err(e @ ScraperError::Refused { .. }) => {
                tracing::info!(run_id = %run.id, error = %e, "run progress refused; closing the stream");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(status: &str, fetched: i32, failed: i32) -> RunView {
        RunView {
            id: Uuid::nil(),
            job: "j".into(),
            status: status.into(),
            started_at: None,
            finished_at: None,
            pages_fetched: fetched,
            pages_unchanged: 0,
            pages_failed: failed,
            companies_created: 0,
            companies_updated: 0,
            errors: json!([]),
        }
    }

    #[test]
    fn event_ids_grow_with_progress_and_the_end_comes_last() {
        assert_eq!(next_event(&run("queued", 0, 0), -1), Some(("progress", 0)));
        assert_eq!(next_event(&run("running", 0, 0), 0), None);
        assert_eq!(next_event(&run("running", 3, 1), 0), Some(("progress", 4)));
        assert_eq!(next_event(&run("succeeded", 3, 1), 4), Some(("end", 5)));
        // A client that saw the end gets nothing more.
        assert_eq!(next_event(&run("succeeded", 3, 1), 5), None);
    }
}
