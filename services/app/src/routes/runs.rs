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
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use super::Operator;
use crate::runs::Run;
use crate::scraper::{ScraperClient, ScraperError};
use crate::state::AppState;

/// Routes of runs.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scrape-runs", get(list_runs))
        .route("/api/v1/scrape-runs/{id}", get(get_run))
        .route("/api/v1/scrape-runs/{id}/events", get(run_events))
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
        query.push(("status", status.as_str().to_owned()));
    }
    Ok(Json(state.scraper.runs(&op.token, &query).await?))
}

/// One run (operator).
#[utoipa::path(get, path = "/api/v1/scrape-runs/{id}", tag = "scrape-runs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = Run), (status = 403, description = "The caller lacks the role", body = gleaner_common::error::Problem), (status = 404, body = gleaner_common::error::Problem)))]
pub async fn get_run(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Run>> {
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
pub fn next_event(run: &Run, last_seen: i64) -> Option<(&'static str, i64)> {
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
    mut run: Run,
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
    use super::*;
    use crate::runs::RunStatus;

    fn run(status: RunStatus, fetched: i32, failed: i32) -> Run {
        Run {
            status,
            pages_fetched: fetched,
            pages_failed: failed,
            ..Run::queued(Uuid::nil(), "j")
        }
    }

    #[test]
    fn event_ids_grow_with_progress_and_the_end_comes_last() {
        use RunStatus::{Queued, Running, Succeeded};
        assert_eq!(next_event(&run(Queued, 0, 0), -1), Some(("progress", 0)));
        assert_eq!(next_event(&run(Running, 0, 0), 0), None);
        assert_eq!(next_event(&run(Running, 3, 1), 0), Some(("progress", 4)));
        assert_eq!(next_event(&run(Succeeded, 3, 1), 4), Some(("end", 5)));
        // A client that saw the end gets nothing more.
        assert_eq!(next_event(&run(Succeeded, 3, 1), 5), None);
    }
}
