//! The change feed (`/api/v1/changes`): every company history entry in commit order,
//! as pages walked by cursor and as a Server-Sent Events stream.
//!
//! The order and the cursor are the store's ([`crate::store::changes`]). Open streams
//! share one watcher per process that reads the feed's head every
//! [`HEAD_POLL`]; a stream queries only when the head has moved past its cursor, and
//! holds a database connection only while a query runs.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use futures::Stream;
use gleaner_common::auth::AuthUser;
use gleaner_common::{ApiError, ApiResult, Json, Query};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};

use crate::state::AppState;
use crate::store::changes::{self, Change, Cursor};

/// Routes of the change feed.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/changes", get(list))
        .route("/api/v1/changes/stream", get(stream))
        .layer(Extension(HeadWatch::default()))
}

/// Changes per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 1000;
/// How often the shared watcher reads the feed's head while a stream is open: a
/// committed change reaches open streams within about this (plus the query).
pub const HEAD_POLL: Duration = Duration::from_millis(200);
/// Changes a stream reads per query (and so holds in memory at most).
const STREAM_PAGE: i64 = 500;
/// A comment line goes out after this long without an event.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// A stream whose query failed tries again after this long.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// The request header a reconnecting Server-Sent Events client sends.
const LAST_EVENT_ID: &str = "last-event-id";

/// Where to start: `after` if given (an empty one is the start), else the start.
fn start_from(field: &str, after: Option<&str>) -> ApiResult<Option<Cursor>> {
    match after {
        None | Some("") => Ok(None),
        Some(text) => Cursor::parse(text)
            .map(Some)
            .map_err(|e| ApiError::invalid_field(field, e.to_string())),
    }
}

/// Page parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ChangesParams {
    /// A cursor from this feed (an item's `cursor` or a page's `next`): the page starts
    /// right after it. Absent or empty: from the first change.
    #[param(pattern = "^(1[0-9a-f]{16}[0-7][0-9a-f]{15})?$")]
    pub after: Option<String>,
    /// Changes per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A page of the change feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePage {
    /// Changes in commit order, oldest first.
    pub items: Vec<Change>,
    /// Where the next page starts: the last item's cursor; on an empty page the `after`
    /// given (or the start of the feed). Never null, so a client polls with it as it is.
    pub next: String,
}

/// Company changes in commit order, after a cursor.
///
/// Walking `next` from the start yields every change once, with no gap and no
/// duplicate, whichever replica answers. A change appears once the transaction that
/// wrote it and every transaction that began writing before it have ended.
#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", security(("bearer" = [])),
    params(ChangesParams),
    responses((status = 200, body = ChangePage),
        (status = 422, description = "`after` is not a cursor or `limit` is out of range", body = gleaner_common::error::Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(p): Query<ChangesParams>,
) -> ApiResult<Json<ChangePage>> {
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = start_from("after", p.after.as_deref())?.unwrap_or(Cursor::START);
    let rows = changes::page(&state.db, after, i64::from(limit)).await?;
    let next = rows.last().map_or(after, |(cursor, _)| *cursor).to_string();
    Ok(Json(ChangePage {
        items: rows.into_iter().map(|(_, change)| change).collect(),
        next,
    }))
}

/// Stream parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// A cursor from this feed: the stream starts right after it. A `Last-Event-ID`
    /// header wins over it. Neither: from the first change.
    #[param(pattern = "^(1[0-9a-f]{16}[0-7][0-9a-f]{15})?$")]
    pub after: Option<String>,
}

/// Where a reconnecting stream resumes.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct ResumeHeader {
    /// The id of the last event received: the stream resumes right after it (and
    /// `after` is ignored). Empty: as if absent.
    #[param(
        rename = "Last-Event-ID",
        pattern = "^(1[0-9a-f]{16}[0-7][0-9a-f]{15})?$"
    )]
    pub last_event_id: Option<String>,
}

/// Company changes in commit order as Server-Sent Events, without end.
///
/// Each event is named `change`, its `id` is the change's cursor and its data the change
/// (as in a page's items). A reconnecting client sends the last id it got as
/// `Last-Event-ID` and gets every later change once. A comment line goes out after
/// 10 s without an event.
#[utoipa::path(get, path = "/api/v1/changes/stream", tag = "changes", security(("bearer" = [])),
    params(StreamParams, ResumeHeader),
    responses((status = 200, description = "text/event-stream of `change` events, each carrying a change", content_type = "text/event-stream", body = Change),
        (status = 422, description = "`after` or `Last-Event-ID` is not a cursor", body = gleaner_common::error::Problem)))]
pub async fn stream(
    State(state): State<AppState>,
    Extension(watch): Extension<HeadWatch>,
    _user: AuthUser,
    Query(p): Query<StreamParams>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume = match headers.get(LAST_EVENT_ID) {
        Some(value) => {
            let text = value.to_str().map_err(|_| {
                ApiError::invalid_field("Last-Event-ID", "is not a cursor of this feed")
            })?;
            start_from("Last-Event-ID", Some(text))?
        }
        None => None,
    };
    let after = match resume {
        Some(cursor) => cursor,
        None => start_from("after", p.after.as_deref())?.unwrap_or(Cursor::START),
    };
    let follow = Follow {
        db: state.db.clone(),
        head: watch.subscribe(&state.db),
        cursor: after,
        buffered: VecDeque::new(),
        caught_up: false,
    };
    let events = futures::stream::unfold(follow, |mut follow| async move {
        let event = follow.next_event().await?;
        Some((Ok(event), follow))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One stream's place in the feed.
struct Follow {
    db: PgPool,
    head: watch::Receiver<Head>,
    /// The last change read (sent or buffered).
    cursor: Cursor,
    buffered: VecDeque<Change>,
    /// The last read found fewer than a page: wait for the head to move before the next.
    caught_up: bool,
}

impl Follow {
    /// The next event; `None` ends the stream.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(change) = self.buffered.pop_front() {
                return match Event::default()
                    .event("change")
                    .id(change.cursor.clone())
                    .json_data(&change)
                {
                    Ok(event) => Some(event),
                    Err(error) => {
                        tracing::error!(%error, cursor = %change.cursor, "change feed: cannot encode a change; ending the stream");
                        None
                    }
                };
            }
            if self.caught_up {
                self.wait_for_more().await;
            }
            match changes::page(&self.db, self.cursor, STREAM_PAGE).await {
                Ok(rows) => {
                    self.caught_up = (rows.len() as i64) < STREAM_PAGE;
                    if let Some((cursor, _)) = rows.last() {
                        self.cursor = *cursor;
                    }
                    self.buffered
                        .extend(rows.into_iter().map(|(_, change)| change));
                }
                Err(error) => {
                    tracing::warn!(%error, "change feed: reading changes failed; retrying");
                    self.caught_up = false;
                    tokio::time::sleep(RETRY_AFTER_ERROR).await;
                }
            }
        }
    }

    /// Until the feed's head is past this stream's cursor.
    async fn wait_for_more(&mut self) {
        let cursor = self.cursor;
        let moved = self
            .head
            .wait_for(|head| head.is_some_and(|head| head > cursor))
            .await
            .is_ok();
        if !moved {
            // No watcher (it cannot be, while this stream holds a receiver): poll.
            tokio::time::sleep(HEAD_POLL).await;
        }
    }
}

/// The newest change readers may return (`None` while there is none).
type Head = Option<Cursor>;
/// Where the running watcher's sender is kept (`None` while no watcher runs).
type Slot = Arc<Mutex<Option<Arc<watch::Sender<Head>>>>>;

/// The feed's head, read by one task per process while any stream is open.
#[derive(Clone, Default)]
pub struct HeadWatch {
    sender: Slot,
}

impl HeadWatch {
    /// A receiver of the head; starts the watcher if none runs.
    fn subscribe(&self, db: &PgPool) -> watch::Receiver<Head> {
        let mut slot = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = slot.as_ref() {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        let sender = Arc::new(sender);
        *slot = Some(sender.clone());
        tokio::spawn(watch_head(self.sender.clone(), sender, db.clone()));
        receiver
    }
}

/// Read the head every [`HEAD_POLL`] until no stream listens, then stop (under the lock
/// `subscribe` takes, so a new stream either joins this watcher or starts another).
async fn watch_head(slot: Slot, sender: Arc<watch::Sender<Head>>, db: PgPool) {
    let mut tick = tokio::time::interval(HEAD_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        {
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if sender.receiver_count() == 0 {
                *slot = None;
                return;
            }
        }
        match changes::head(&db).await {
            Ok(head) => {
                sender.send_if_modified(|current| {
                    let moved = *current != head;
                    *current = head;
                    moved
                });
            }
            Err(error) => {
                tracing::warn!(%error, "change feed: reading the head failed; retrying");
            }
        }
    }
}
