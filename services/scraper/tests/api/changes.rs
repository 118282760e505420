//! The change feed: every company history row once, in commit order, by page and by
//! stream, with writers committing concurrently, a transaction committing late, and a
//! restart of the service between two connections of one stream.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use gleaner_common::auth::Role;
use gleaner_scraper::company::CompanyRecord;
use gleaner_scraper::fetch::Fetched;
use gleaner_scraper::source::DocumentKind;
use gleaner_scraper::source::openmoney::parse::{PARSER_VERSION, parse_company_json};
use gleaner_scraper::store::changes::Cursor;
use gleaner_scraper::store::companies::{self, Provenance, Write};
use gleaner_scraper::store::raw::{self, Stored};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::{PgPool, Row};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Longest a test waits for changes it knows are committed (a guard against a hang,
/// not a latency check: another test's open transaction may hold the feed back).
const PATIENCE: Duration = Duration::from_secs(120);

/// One company as the transform would store it, with its raw document.
struct Seeded {
    record: CompanyRecord,
    url: String,
    document_id: i64,
}

/// Store `count` demo companies through the real load and upsert path.
async fn seed(db: &PgPool, count: usize) -> Vec<Seeded> {
    let mut seeded = Vec::new();
    for company in gleaner_demo_site::generate(11, count) {
        let body = Bytes::from(
            serde_json::to_vec(&gleaner_demo_site::api_company(&company)).expect("JSON"),
        );
        let url = format!("http://demo.invalid/api/companies/{}", company.idno);
        let doc = Fetched {
            status: 200,
            content_type: Some("application/json".into()),
            etag: None,
            last_modified: None,
            headers: json!({}),
            body: body.clone(),
        };
        let document_id = match raw::store(
            db,
            &url,
            DocumentKind::Company,
            Some(&company.idno),
            &doc,
            None,
        )
        .await
        .expect("store the document")
        {
            Stored::New(id) | Stored::Unchanged(id) => id,
        };
        let record = parse_company_json(&body).expect("a demo company parses");
        let seeded_company = Seeded {
            record,
            url,
            document_id,
        };
        assert_eq!(upsert(db, &seeded_company, None).await, Write::Created);
        seeded.push(seeded_company);
    }
    seeded
}

/// Upsert the company, renamed to `name` when given, as the transform does.
async fn upsert(db: &PgPool, company: &Seeded, name: Option<String>) -> Write {
    let mut record = company.record.clone();
    if let Some(name) = name {
        record.name = name;
    }
    let from = Provenance {
        url: &company.url,
        fetched_at: chrono::Utc::now(),
        document_id: company.document_id,
        parser_version: PARSER_VERSION,
        run_id: None,
        shard: None,
    };
    companies::upsert(db, &record, &from).await.expect("upsert")
}

/// The history table in feed order: `(idno, field, old, new)` of every row.
async fn table(db: &PgPool) -> Vec<Value> {
    sqlx::query("SELECT idno, field, old, new FROM company_history ORDER BY xact_id, id")
        .fetch_all(db)
        .await
        .expect("read the history")
        .iter()
        .map(|r| {
            json!({
                "idno": r.get::<String, _>("idno"),
                "field": r.get::<String, _>("field"),
                "old": r.get::<Option<Value>, _>("old"),
                "new": r.get::<Option<Value>, _>("new"),
            })
        })
        .collect()
}

/// What of a feed item the table holds.
fn essence(item: &Value) -> Value {
    json!({"idno": item["idno"], "field": item["field"], "old": item["old"], "new": item["new"]})
}

/// One page of the feed: its items and `next`.
async fn page(app: &TestApp, token: &str, after: &str, limit: usize) -> (Vec<Value>, String) {
    let path = format!("/api/v1/changes?after={after}&limit={limit}");
    let response = app.get_auth(&path, token).await;
    assert_eq!(response.status(), 200, "GET {path}");
    let body: Value = response.json().await.expect("a JSON page");
    let items = body["items"].as_array().expect("items").clone();
    let next = body["next"].as_str().expect("next is a string").to_owned();
    (items, next)
}

/// Wait (at most [`PATIENCE`]) until `check` answers.
async fn patiently<T, F, Fut>(check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    gleaner_testkit::eventually(PATIENCE, check)
        .await
        .expect("the feed caught up")
}

/// Wait until the feed lists all `n` changes of the table (another test's open
/// transaction may hold it back for a moment).
async fn settled(app: &TestApp, token: &str, n: usize) {
    patiently(|| async { (page(app, token, "", 1000).await.0.len() == n).then_some(()) }).await;
}

/// Cursors strictly increase, as the feed promises (also as strings: fixed width).
fn assert_increasing(items: &[Value]) {
    for pair in items.windows(2) {
        let (a, b) = (pair[0]["cursor"].as_str(), pair[1]["cursor"].as_str());
        assert!(a < b, "cursors out of order: {a:?} then {b:?}");
    }
}

/// A Server-Sent Events reader over a response body.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    buffer: String,
}

/// One event: its `id`, its `event` name and its `data` as JSON.
struct Event {
    id: String,
    name: String,
    data: Value,
}

impl Events {
    /// Open the stream (`after` and `Last-Event-ID` when given).
    async fn open(app: &TestApp, token: &str, after: Option<&str>, last: Option<&str>) -> Self {
        let mut url = app.url("/api/v1/changes/stream");
        if let Some(after) = after {
            url = format!("{url}?after={after}");
        }
        let mut request = app.http.get(url).bearer_auth(token);
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last);
        }
        let response = request.send().await.expect("open the stream");
        assert_eq!(response.status(), 200);
        let content_type = content_type(response.headers());
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped); `None` if the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim_start().to_owned();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim_start().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                let data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(Event { id, name, data });
            }
            let chunk = self.body.next().await?.expect("read the stream");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("the stream is UTF-8"));
        }
    }

    /// The next `n` events, within [`PATIENCE`].
    async fn take(&mut self, n: usize) -> Vec<Event> {
        let mut events = Vec::with_capacity(n);
        tokio::time::timeout(PATIENCE, async {
            while events.len() < n {
                events.push(self.next().await.expect("the stream goes on"));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} of {n} events came", events.len()));
        events
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The stream's events as page items, checked against their ids and names.
fn items_of(events: &[Event]) -> Vec<Value> {
    for event in events {
        assert_eq!(event.name, "change");
        assert_eq!(event.data["cursor"].as_str(), Some(event.id.as_str()));
    }
    events.iter().map(|e| e.data.clone()).collect()
}

async fn field_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a problem+json body");
    let field = body["errors"][0]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, field)
}

#[tokio::test]
async fn a_token_is_required_and_bad_cursors_and_limits_are_422() {
    let app = spawn_app(1).await;
    let token = app.token(Role::User);

    for path in ["/api/v1/changes", "/api/v1/changes/stream"] {
        let anonymous = app.get(path).await;
        assert_eq!(anonymous.status(), 401, "{path}");
        assert!(anonymous.headers().contains_key("www-authenticate"));
        let forged = app.get_auth(path, "not-a-token").await;
        assert_eq!(forged.status(), 401, "{path}");
    }

    let valid = Cursor::START.to_string();
    for bad in [
        "x".to_owned(),
        "0".repeat(33),
        valid.to_uppercase().replace('1', "2"),
        format!("{valid}0"),
        format!("1{}", "f".repeat(32)),
        "%20".to_owned(),
    ] {
        for path in ["/api/v1/changes", "/api/v1/changes/stream"] {
            let r = app.get_auth(&format!("{path}?after={bad}"), &token).await;
            assert_eq!(
                field_of(r).await,
                (422, "after".to_owned()),
                "{path} after={bad}"
            );
        }
    }
    for bad in ["0", "1001", "-1", "abc", "1.5", "99999999999"] {
        let r = app
            .get_auth(&format!("/api/v1/changes?limit={bad}"), &token)
            .await;
        assert_eq!(field_of(r).await, (422, "limit".to_owned()), "limit={bad}");
    }
    let r = app.get_auth("/api/v1/changes?cursor=1", &token).await;
    assert_eq!(r.status(), 422, "unknown parameters are refused");

    let bad_resume = app
        .http
        .get(app.url("/api/v1/changes/stream"))
        .bearer_auth(&token)
        .header("Last-Event-ID", "42")
        .send()
        .await
        .expect("request");
    assert_eq!(
        field_of(bad_resume).await,
        (422, "Last-Event-ID".to_owned())
    );

    // An empty feed: no items, and `next` is a cursor to poll with.
    for limit in [1, 1000] {
        let (items, next) = page(&app, &token, "", limit).await;
        assert!(items.is_empty());
        assert_eq!(next, valid);
    }
    let (items, next) = page(&app, &token, &valid, 100).await;
    assert!(items.is_empty());
    assert_eq!(
        next, valid,
        "an empty page hands back the `after` it was given"
    );

    // Both routes are documented, with the rules the fuzzer generates input from.
    let doc = app.get_json("/openapi.json").await;
    let list = &doc["paths"]["/api/v1/changes"]["get"];
    let stream = &doc["paths"]["/api/v1/changes/stream"]["get"];
    let param = |op: &Value, name: &str| -> Value {
        op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {op}"))
            .clone()
    };
    for op in [list, stream] {
        assert!(op["security"].to_string().contains("bearer"), "{op}");
        let pattern = param(op, "after")["schema"]["pattern"].clone();
        assert!(
            pattern
                .as_str()
                .is_some_and(|p| p.starts_with("^(1[0-9a-f]{16}")),
            "{pattern}"
        );
        assert!(op["responses"]["401"].is_object() && op["responses"]["422"].is_object());
    }
    let limit = param(list, "limit");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 1000);
    let resume = param(stream, "Last-Event-ID");
    assert_eq!(resume["in"], "header");
    assert!(resume["schema"]["pattern"].is_string(), "{resume}");
    assert!(stream["responses"]["200"]["content"]["text/event-stream"].is_object());
    assert!(doc["components"]["schemas"]["ChangePage"].is_object());
}

#[tokio::test]
async fn pages_and_the_stream_list_every_change_in_order_and_resume_after_a_cursor() {
    let app = spawn_app(1).await;
    let token = app.token(Role::User);
    let seeded = seed(&app.db, 3).await;
    for round in 0..4 {
        for company in &seeded {
            let name = format!("{} round {round}", company.record.name);
            assert!(matches!(
                upsert(&app.db, company, Some(name)).await,
                Write::Updated(_)
            ));
        }
    }
    let want = table(&app.db).await;
    assert_eq!(want.len(), 12);
    settled(&app, &token, 12).await;

    // Pages of 5: 5, 5, 2, then an empty page that keeps `next`.
    let (mut walked, mut next) = (Vec::new(), String::new());
    for expected in [5, 5, 2, 0] {
        let (items, after) = page(&app, &token, &next, 5).await;
        assert_eq!(items.len(), expected);
        if expected == 0 {
            assert_eq!(after, next);
        } else {
            assert_eq!(after, items[expected - 1]["cursor"]);
        }
        walked.extend(items);
        next = after;
    }
    assert_increasing(&walked);
    assert_eq!(walked.iter().map(essence).collect::<Vec<_>>(), want);
    for item in &walked {
        assert_eq!(item["field"], "name");
        assert!(item["observed_at"].is_string());
        assert!(item["run_id"].is_null());
    }

    // The default page holds them all; `after` any item resumes right after it.
    let (all, _) = page(&app, &token, "", 100).await;
    assert_eq!(all, walked);
    let middle = walked[6]["cursor"].as_str().expect("cursor");
    let (rest, _) = page(&app, &token, middle, 100).await;
    assert_eq!(rest, walked[7..]);

    // The stream: from the start, after a cursor, and Last-Event-ID over `after`.
    let mut events = Events::open(&app, &token, None, None).await;
    assert_eq!(items_of(&events.take(12).await), walked);
    let mut events = Events::open(&app, &token, Some(middle), None).await;
    assert_eq!(items_of(&events.take(5).await), walked[7..]);
    let last = walked[9]["cursor"].as_str().expect("cursor");
    let mut events = Events::open(&app, &token, Some(middle), Some(last)).await;
    assert_eq!(items_of(&events.take(2).await), walked[10..]);

    // An open stream gets what commits later, and nothing twice.
    let name = format!("{} renamed", seeded[0].record.name);
    upsert(&app.db, &seeded[0], Some(name.clone())).await;
    let later = items_of(&events.take(1).await);
    assert_eq!(later[0]["new"], json!(name));
    assert!(later[0]["cursor"].as_str() > walked[11]["cursor"].as_str());
}

/// Four writers commit history through the real upsert, each renaming every company
/// in its own order, while a reader walks pages of varying size and another follows the
/// stream: each sees every row of the final table exactly once, in the table's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_four_writers_committing_at_once_readers_see_every_change_once() {
    const WRITERS: usize = 4;
    const ROUNDS: usize = 12;
    let app = Arc::new(spawn_app(1).await);
    let token = app.token(Role::User);
    let seeded = Arc::new(seed(&app.db, 6).await);
    let mut stream = Events::open(&app, &token, None, None).await;

    let done = Arc::new(AtomicBool::new(false));
    let walker = {
        let (app, token, done) = (app.clone(), token.clone(), done.clone());
        tokio::spawn(async move {
            let (mut walked, mut next) = (Vec::<Value>::new(), String::new());
            let mut expected = None;
            let deadline = tokio::time::Instant::now() + PATIENCE;
            for step in 0usize.. {
                if expected.is_none() && done.load(Ordering::SeqCst) {
                    expected = Some(table(&app.db).await.len());
                }
                if expected == Some(walked.len()) {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "the walk stalled");
                let (items, after) = page(&app, &token, &next, step % 23 + 1).await;
                if items.is_empty() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                walked.extend(items);
                next = after;
            }
            let (tail, _) = page(&app, &token, &next, 1000).await;
            assert!(tail.is_empty(), "nothing after the last change");
            walked
        })
    };

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (db, seeded) = (app.db.clone(), seeded.clone());
        writers.push(tokio::spawn(async move {
            let mut written = 0;
            for round in 0..ROUNDS {
                for i in 0..seeded.len() {
                    let company = &seeded[(i + w) % seeded.len()];
                    let name = format!("{} w{w} r{round}", company.record.name);
                    if let Write::Updated(changes) = upsert(&db, company, Some(name)).await {
                        written += changes.len();
                    }
                }
            }
            written
        }));
    }
    let mut written = 0;
    for writer in writers {
        written += writer.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);

    let want = table(&app.db).await;
    assert_eq!(want.len(), written);
    assert_eq!(
        written,
        WRITERS * ROUNDS * seeded.len(),
        "every upsert renamed"
    );

    let walked = walker.await.expect("walker");
    assert_increasing(&walked);
    assert_eq!(walked.iter().map(essence).collect::<Vec<_>>(), want);
    let cursors: HashSet<&str> = walked.iter().filter_map(|i| i["cursor"].as_str()).collect();
    assert_eq!(cursors.len(), want.len(), "no cursor twice");

    let streamed = items_of(&stream.take(want.len()).await);
    assert_eq!(streamed, walked, "the stream and the pages agree");
}

/// A history row inserted with the same SQL the upsert uses.
async fn insert_history(conn: &mut sqlx::PgConnection, idno: &str, new: &str) {
    sqlx::query(
        "INSERT INTO company_history (idno, field, old, new, run_id) VALUES ($1, 'name', NULL, $2, NULL)",
    )
    .bind(idno)
    .bind(json!(new))
    .execute(conn)
    .await
    .expect("insert history");
}

/// Writer A inserts and stays open; writer B inserts and commits. A reader must not pass
/// B's change while A's may still commit before it: it gets neither, then both, A first
/// (A's transaction began writing first). A rolled-back writer holds nothing back.
#[tokio::test]
async fn a_transaction_that_commits_late_is_not_skipped() {
    let app = spawn_app(1).await;
    let token = app.token(Role::User);
    let seeded = seed(&app.db, 1).await;
    let idno = seeded[0].record.idno.as_str().to_owned();

    let mut a = app.db.begin().await.expect("begin A");
    insert_history(&mut a, &idno, "A").await;
    let mut b = app.db.begin().await.expect("begin B");
    insert_history(&mut b, &idno, "B").await;
    b.commit().await.expect("commit B");
    let mut c = app.db.begin().await.expect("begin C");
    insert_history(&mut c, &idno, "C (rolled back)").await;

    // B is committed (a plain read shows it) but A is still open: not yet in the feed.
    let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM company_history")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(committed, 1);
    let (items, next) = page(&app, &token, "", 100).await;
    assert!(items.is_empty(), "B must wait for A: {items:?}");
    assert_eq!(next, Cursor::START.to_string());
    let mut events = Events::open(&app, &token, None, None).await;

    c.rollback().await.expect("roll back C");
    a.commit().await.expect("commit A");
    // Another test's open transaction may hold the feed back a moment longer: walk on.
    let mut items = Vec::new();
    let mut next = next;
    while items.len() < 2 {
        let (more, after) = page(&app, &token, &next, 100).await;
        if more.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        items.extend(more);
        next = after;
    }
    let news: Vec<&str> = items.iter().filter_map(|i| i["new"].as_str()).collect();
    assert_eq!(news, ["A", "B"]);
    assert_increasing(&items);
    assert_eq!(items_of(&events.take(2).await), items);
}

/// A stream read in part, the service stopped, more changes committed, the service
/// started again on the same database: reconnecting with `Last-Event-ID` gets the rest,
/// each change once.
#[tokio::test]
async fn the_stream_resumes_across_a_restart_with_last_event_id() {
    let first = spawn_app(1).await;
    let seeded = seed(&first.db, 2).await;
    for round in 0..3 {
        for company in &seeded {
            upsert(
                &first.db,
                company,
                Some(format!("{} before {round}", company.record.name)),
            )
            .await;
        }
    }
    let token = first.token(Role::User);
    let mut events = Events::open(&first, &token, None, None).await;
    let seen = items_of(&events.take(4).await);
    let last = seen[3]["cursor"].as_str().expect("cursor").to_owned();
    let (db_url, site) = (first.db_url.clone(), first.site.clone());
    drop(events);
    drop(first);

    let db = PgPool::connect(&db_url).await.expect("connect");
    for company in &seeded {
        upsert(&db, company, Some(format!("{} after", company.record.name))).await;
    }
    let second = spawn_app_with(1, |p| p, Some((db_url, site))).await;
    let token = second.token(Role::User);
    let mut events = Events::open(&second, &token, None, Some(&last)).await;
    let rest = items_of(&events.take(4).await);

    let mut all = seen;
    all.extend(rest);
    assert_increasing(&all);
    assert_eq!(
        all.iter().map(essence).collect::<Vec<_>>(),
        table(&db).await
    );
    let (more, next) = page(
        &second,
        &token,
        all[7]["cursor"].as_str().expect("cursor"),
        10,
    )
    .await;
    assert!(more.is_empty(), "nothing after the last change");
    assert_eq!(next, all[7]["cursor"]);
}

/// The version of the change feed's migration.
const FEED_MIGRATION: i64 = 20261208000003;

/// Rows written before the feed's migration get a cursor too: in id order, before
/// anything written after it.
#[tokio::test]
async fn history_from_before_the_feed_migration_is_in_the_feed() {
    use gleaner_scraper::startup::MIGRATOR;
    let fresh = gleaner_testkit::fresh_database().await.expect("a database");
    let db = PgPool::connect(&fresh.url).await.expect("connect");
    // The migration before the feed's.
    let before = MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| *v < FEED_MIGRATION)
        .max()
        .expect("migrations before the feed's");
    MIGRATOR
        .run_to(before, &db)
        .await
        .expect("migrations before the feed's");
    let seeded = seed(&db, 1).await;
    let idno = seeded[0].record.idno.as_str().to_owned();
    let mut conn = db.acquire().await.expect("connection");
    for n in 0..3 {
        insert_history(&mut conn, &idno, &format!("old {n}")).await;
    }
    drop(conn);
    MIGRATOR.run(&db).await.expect("the feed's migration");
    let mut conn = db.acquire().await.expect("connection");
    insert_history(&mut conn, &idno, "new").await;
    drop(conn);

    let rows = patiently(|| async {
        let rows = gleaner_scraper::store::changes::page(&db, Cursor::START, 100)
            .await
            .expect("read the feed");
        (rows.len() == 4).then_some(rows)
    })
    .await;
    let news: Vec<Value> = rows
        .iter()
        .map(|(_, c)| c.new.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        news,
        [json!("old 0"), json!("old 1"), json!("old 2"), json!("new")]
    );
    let cursors: Vec<Cursor> = rows.iter().map(|(c, _)| *c).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]));
}

/// Transaction ids order as numbers (9 before 10), not as their digits, in pages of any
/// size and on the stream.
#[tokio::test]
async fn transaction_ids_order_as_numbers() {
    let app = spawn_app(1).await;
    let token = app.token(Role::User);
    let seeded = seed(&app.db, 1).await;
    let idno = seeded[0].record.idno.as_str().to_owned();
    for xact_id in ["100", "9", "99", "10"] {
        sqlx::query(
            "INSERT INTO company_history (idno, field, old, new, xact_id) \
             VALUES ($1, 'name', NULL, $2, $3::text::xid8)",
        )
        .bind(&idno)
        .bind(json!(xact_id))
        .bind(xact_id)
        .execute(&app.db)
        .await
        .expect("insert history");
    }
    let want = [json!("9"), json!("10"), json!("99"), json!("100")];
    let (all, _) = page(&app, &token, "", 100).await;
    assert_eq!(
        all.iter().map(|c| c["new"].clone()).collect::<Vec<_>>(),
        want
    );
    let (mut walked, mut next) = (Vec::new(), String::new());
    for _ in 0..4 {
        let (items, after) = page(&app, &token, &next, 1).await;
        walked.extend(items);
        next = after;
    }
    assert_eq!(walked, all);
    assert_increasing(&walked);
    let mut events = Events::open(&app, &token, None, None).await;
    assert_eq!(items_of(&events.take(4).await), all);
}
