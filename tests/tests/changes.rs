//! The change feed through the gateway: an operator's job scrapes the demo site, the site
//! renames some companies and closes one, a second run notices, and a signed-in user
//! walks the feed by pages and follows it as a stream: each change once, in order, with
//! the second run's id; a stream reconnecting with `Last-Event-ID` resumes right after it.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt as _;
use gleaner_demo_site::DemoConfig;
use gleaner_e2e::Stack;
use gleaner_testkit::eventually;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Longest a run of the test's small site, or a change reaching the feed, may take.
const PATIENCE: Duration = Duration::from_secs(120);

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn login(&self, username: &str, password: &str) -> String {
        let r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        let pair: Value = r.json().await.expect("a token pair");
        pair["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// One page of the feed after `after`: its items and `next`.
    async fn page(&self, token: &str, after: &str, limit: usize) -> (Vec<Value>, String) {
        let (status, page) = self
            .get(
                &format!("/api/v1/changes?after={after}&limit={limit}"),
                Some(token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items").clone();
        (items, page["next"].as_str().expect("next").to_owned())
    }

    /// Walk to the end of the feed from `after`; the cursor to poll with.
    async fn end_of_feed(&self, token: &str, mut after: String) -> String {
        loop {
            let (items, next) = self.page(token, &after, 1000).await;
            if items.is_empty() {
                return next;
            }
            after = next;
        }
    }

    /// Run a job now and wait until its run has ended; the run.
    async fn run_job(&self, job: &str, token: &str) -> Value {
        let r = self
            .http
            .post(format!("{}/api/v1/scrape-jobs/{job}/runs", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("start a run");
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let run: Value = r.json().await.expect("the run");
        let id = run["id"].as_str().expect("a run id").to_owned();
        self.wait_for_run(&format!("/api/v1/scrape-runs/{id}"), token)
            .await
    }

    async fn wait_for_run(&self, path: &str, token: &str) -> Value {
        let run = eventually(PATIENCE, || async {
            let (_, run) = self.get(path, Some(token)).await;
            let run = if run["items"].is_array() {
                run["items"][0].clone()
            } else {
                run
            };
            matches!(run["status"].as_str(), Some("succeeded" | "failed")).then_some(run)
        })
        .await
        .expect("the run ends");
        assert_eq!(run["status"], "succeeded", "{run}");
        run
    }
}

/// A Server-Sent Events reader: the data of each event, with its id and name checked.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl Events {
    async fn open(client: &Client, token: &str, after: &str, last: Option<&str>) -> Self {
        let mut request = client
            .http
            .get(format!(
                "{}/api/v1/changes/stream?after={after}",
                client.base
            ))
            .bearer_auth(token);
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last);
        }
        let r = request.send().await.expect("open the stream");
        assert_eq!(r.status(), StatusCode::OK);
        let content_type = r.headers()["content-type"].to_str().unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            body: r.bytes_stream().map(|c| c.map(|b| b.to_vec())).boxed(),
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim_start().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim_start().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let change: Value = serde_json::from_str(&data).expect("JSON data");
                assert_eq!(name.as_deref(), Some("change"));
                assert_eq!(id.as_deref(), change["cursor"].as_str());
                return change;
            }
            let chunk = self
                .body
                .next()
                .await
                .expect("the stream goes on")
                .expect("read the stream");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until `n` of them concern `ours`; those, in order.
    async fn take_ours(&mut self, ours: &HashSet<String>, n: usize) -> Vec<Value> {
        let mut got = Vec::new();
        tokio::time::timeout(PATIENCE, async {
            while got.len() < n {
                let change = self.next().await;
                if change["idno"].as_str().is_some_and(|i| ours.contains(i)) {
                    got.push(change);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} of {n} changes streamed", got.len()));
        got
    }
}

#[tokio::test]
async fn the_change_feed_through_the_gateway() {
    let stack = Stack::start(DemoConfig {
        seed: rand::random_range(1_000..u64::MAX / 2),
        companies: 12,
        ..DemoConfig::default()
    })
    .await
    .expect("the stack");
    let client = Client {
        http: reqwest::Client::new(),
        base: stack.gateway.clone(),
    };
    let admin = client.login(&stack.admin.0, &stack.admin.1).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let username = format!("e2e_feed_{suffix}");
    let password = "a long e2e passphrase";
    let r = client
        .http
        .post(format!("{}/api/v1/auth/register", client.base))
        .json(&json!({"email": format!("{username}@example.md"), "username": username, "password": password}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let user = client.login(&username, password).await;

    // A token is required; a cursor is checked.
    let (status, _) = client.get("/api/v1/changes", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = client.get("/api/v1/changes/stream", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, problem) = client.get("/api/v1/changes?after=nope", Some(&user)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "after", "{problem}");
    let (status, problem) = client.get("/api/v1/changes?limit=1001", Some(&user)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "limit", "{problem}");

    // Where the feed ends now (empty on a fresh stack); a stream opens there.
    let start = client.end_of_feed(&user, String::new()).await;
    let mut stream = Events::open(&client, &user, &start, None).await;

    // An operator's job scrapes the site once: companies are created, nothing changes.
    let site = stack.demo.url();
    let job = format!("e2e-feed-{suffix}");
    let r = client
        .http
        .post(format!("{}/api/v1/scrape-jobs", client.base))
        .bearer_auth(&admin)
        .json(&json!({"name": job, "spec": {
            "baseUrl": site, "apiUrl": site,
            "targets": {"listPages": {"from": 1, "to": 1}},
            "concurrency": 4, "requestsPerSecond": 100, "maxRetries": 1,
            "respectRobotsTxt": false
        }}))
        .send()
        .await
        .expect("create the job");
    assert_eq!(r.status(), StatusCode::CREATED);
    client
        .wait_for_run(&format!("/api/v1/scrape-runs?job={job}"), &admin)
        .await;

    // The site renames three companies and closes one of them; a second run notices.
    let demo = stack.demo.control();
    let companies = demo.companies();
    let ours: HashSet<String> = companies[..3].iter().map(|c| c.idno.clone()).collect();
    let mut expected = HashSet::new();
    for (i, company) in companies[..3].iter().enumerate() {
        let renamed = format!("Feed {suffix} {i} SRL");
        assert!(demo.mutate(&company.idno, |c| {
            c.full_name = renamed.clone();
            if i == 0 {
                c.is_active = !c.is_active;
            }
        }));
        expected.insert((company.idno.clone(), "name".to_owned()));
        if i == 0 {
            expected.insert((company.idno.clone(), "status".to_owned()));
        }
    }
    let second = client.run_job(&job, &admin).await;

    // Pages of two from where the feed ended: each of our changes once, in cursor order.
    let walked = eventually(PATIENCE, || {
        let (client, user, start, expected, ours) = (&client, &user, &start, &expected, &ours);
        async move {
            let (mut after, mut items) = (start.clone(), Vec::new());
            loop {
                let (page, next) = client.page(user, &after, 2).await;
                if page.is_empty() {
                    break;
                }
                assert!(page.len() <= 2);
                items.extend(page);
                after = next;
            }
            let ours: Vec<Value> = items
                .into_iter()
                .filter(|c| c["idno"].as_str().is_some_and(|i| ours.contains(i)))
                .collect();
            (ours.len() >= expected.len()).then_some(ours)
        }
    })
    .await
    .expect("the second run's changes in the feed");
    let seen: HashSet<(String, String)> = walked
        .iter()
        .map(|c| {
            (
                c["idno"].as_str().unwrap_or_default().to_owned(),
                c["field"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(seen, expected, "{walked:?}");
    assert_eq!(walked.len(), expected.len(), "each change once: {walked:?}");
    for pair in walked.windows(2) {
        assert!(pair[0]["cursor"].as_str() < pair[1]["cursor"].as_str());
    }
    for change in &walked {
        assert_eq!(change["run_id"], second["id"], "{change}");
        if change["field"] == "name" {
            assert!(
                change["new"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("Feed {suffix}"))),
                "{change}"
            );
        }
    }

    // The stream opened before the runs carries the same changes, in the same order.
    let streamed = stream.take_ours(&ours, walked.len()).await;
    assert_eq!(streamed, walked);

    // Reconnecting with the first change's id resumes right after it.
    let first = walked[0]["cursor"].as_str().expect("a cursor");
    let mut resumed = Events::open(&client, &user, &start, Some(first)).await;
    let rest = resumed.take_ours(&ours, walked.len() - 1).await;
    assert_eq!(rest, walked[1..]);
}
