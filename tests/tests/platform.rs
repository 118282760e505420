//! The platform end to end, through the gateway only: a user registers and
//! logs in, an operator's scrape job fetches the demo site while its events
//! stream, the user finds and watches a company, the site changes it, a
//! second run notices, and the user gets exactly one notification. Then who
//! may call what, and what the gateway adds. One stack for all of it: it is
//! slow to start.

use std::time::Duration;

use futures::StreamExt as _;
use gleaner_demo_site::DemoConfig;
use gleaner_e2e::Stack;
use gleaner_testkit::eventually;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long a scrape run of the test's small site may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = self.request(method.clone(), path, token);
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let response = builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: StatusCode,
    ) -> Value {
        let (status, value) = self.send(method.clone(), path, token, body).await;
        assert_eq!(status, want, "{method} {path}: {value}");
        value
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let pair = self
            .expect(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
                StatusCode::OK,
            )
            .await;
        pair["access_token"].as_str().unwrap().to_owned()
    }

    /// Start a run of `job` now and follow it to the end; the finished run.
    async fn run_job(&self, job: &str, token: &str) -> Value {
        let run = self
            .expect(
                Method::POST,
                &format!("/api/v1/scrape-jobs/{job}/runs"),
                Some(token),
                None,
                StatusCode::ACCEPTED,
            )
            .await;
        self.follow_run(run["id"].as_str().unwrap(), token).await
    }

    /// Follow a run's events to the end; the finished run.
    async fn follow_run(&self, id: &str, token: &str) -> Value {
        let response = self
            .request(
                Method::GET,
                &format!("/api/v1/scrape-runs/{id}/events"),
                Some(token),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut events = String::new();
        let mut stream = response.bytes_stream();
        let followed = tokio::time::timeout(RUN_TIMEOUT, async {
            while let Some(chunk) = stream.next().await {
                events.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            }
        })
        .await;
        assert!(
            followed.is_ok(),
            "run {id} still streaming after {RUN_TIMEOUT:?}: {events}"
        );
        assert!(events.contains("event: end"), "{events}");
        let run = self
            .expect(
                Method::GET,
                &format!("/api/v1/scrape-runs/{id}"),
                Some(token),
                None,
                StatusCode::OK,
            )
            .await;
        assert_eq!(run["status"], "succeeded", "{run}");
        run
    }
}

fn random_word() -> String {
    (0..10)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect()
}

#[tokio::test]
async fn the_platform_through_the_gateway() {
    let started = std::time::Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
    let mut stack = Stack::start(DemoConfig {
        seed: rand::random_range(1_000..u64::MAX / 2),
        companies: 12,
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let api = Api::new(&stack.gateway);
    step("stack ready");
    let demo = stack.demo.control();

    // A user registers and logs in; the admin logs in.
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let username = format!("e2e_{suffix}");
    let password = "a long e2e passphrase";
    api.expect(
        Method::POST,
        "/api/v1/auth/register",
        None,
        Some(json!({"email": format!("{username}@example.md"), "username": username, "password": password})),
        StatusCode::CREATED,
    )
    .await;
    let user = api.login(&username, password).await;
    let admin = api.login(&stack.admin.0, &stack.admin.1).await;
    let me = api
        .expect(
            Method::GET,
            "/api/v1/users/me",
            Some(&user),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(me["username"], username);

    // The company the user will watch gets a name no other company has.
    let target = demo.companies()[0].idno.clone();
    let word = random_word();
    assert!(demo.mutate(&target, |c| c.full_name = format!("Zeta {word} SRL")));

    // An operator's scrape job against the demo site; its run's events stream through the gateway.
    let job = format!("e2e-{suffix}");
    let site = stack.demo.url();
    let spec = json!({
        "baseUrl": site, "apiUrl": site,
        "targets": {"listPages": {"from": 1, "to": 1}},
        "concurrency": 4, "requestsPerSecond": 100, "maxRetries": 1,
        "respectRobotsTxt": false
    });
    api.expect(
        Method::POST,
        "/api/v1/scrape-jobs",
        Some(&user),
        Some(json!({"name": job, "spec": spec})),
        StatusCode::FORBIDDEN,
    )
    .await;
    let created = api
        .expect(
            Method::POST,
            "/api/v1/scrape-jobs",
            Some(&admin),
            Some(json!({"name": job, "spec": spec})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["name"], job);
    // A job without a schedule runs once when created.
    let first_id = eventually(Duration::from_secs(30), || {
        let (api, admin, job) = (&api, &admin, &job);
        async move {
            let (_, runs) = api
                .send(
                    Method::GET,
                    &format!("/api/v1/scrape-runs?job={job}"),
                    Some(admin),
                    None,
                )
                .await;
            runs["items"][0]["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .expect("the job's first run");
    let first = api.follow_run(&first_id, &admin).await;
    step("first run done");
    assert!(first["companies_created"].as_u64().unwrap() >= 1, "{first}");

    // The user finds the company by its name (public) and watches it.
    let found = api
        .expect(
            Method::GET,
            &format!("/api/v1/companies?q={word}"),
            None,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["idno"], target);
    api.expect(
        Method::PUT,
        &format!("/api/v1/watchlist/{target}"),
        Some(&user),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // The site changes the company; the next run notices; the watcher hears once.
    let renamed = format!("Zeta {word} Renamed SRL");
    assert!(demo.mutate(&target, |c| c.full_name = renamed.clone()));
    let second = api.run_job(&job, &admin).await;
    step("second run done");
    assert!(
        second["companies_updated"].as_u64().unwrap() >= 1,
        "{second}"
    );
    let notifications = eventually(Duration::from_secs(30), || {
        let api = &api;
        let user = &user;
        async move {
            let (status, page) = api
                .send(Method::GET, "/api/v1/notifications", Some(user), None)
                .await;
            (status == StatusCode::OK && page["total"].as_u64() > Some(0)).then_some(page)
        }
    })
    .await
    .expect("a notification for the watched company");
    step("notification received");
    assert_eq!(notifications["total"], 1, "{notifications}");
    let note = &notifications["items"][0];
    assert_eq!(note["idno"], target);
    assert_eq!(note["run_id"], second["id"]);
    assert_eq!(note["read"], false);
    assert!(
        note["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "name" && c["new"] == renamed.as_str()),
        "{note}"
    );
    api.expect(
        Method::POST,
        "/api/v1/notifications/read",
        Some(&user),
        Some(json!({"ids": [note["id"]]})),
        StatusCode::NO_CONTENT,
    )
    .await;
    let unread = api
        .expect(
            Method::GET,
            "/api/v1/notifications?unread=true",
            Some(&user),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(unread["total"], 0, "{unread}");
    let all = api
        .expect(
            Method::GET,
            "/api/v1/notifications",
            Some(&user),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(all["total"], 1, "still exactly one: {all}");

    // Who may call what: no token is 401 everywhere but the public routes; a
    // plain user is 403 on operator and admin routes.
    let run_path = format!("/api/v1/scrape-runs/{}", second["id"].as_str().unwrap());
    let job_path = format!("/api/v1/scrape-jobs/{job}");
    let operator_routes = [
        (Method::GET, "/api/v1/scrape-jobs".to_owned()),
        (Method::GET, job_path.clone()),
        (Method::PATCH, job_path.clone()),
        (Method::POST, format!("{job_path}/runs")),
        (Method::GET, "/api/v1/scrape-runs".to_owned()),
        (Method::GET, run_path.clone()),
        (Method::GET, format!("{run_path}/events")),
        (Method::GET, format!("/api/v1/companies/{target}/sources")),
        (Method::POST, "/api/v1/transform".to_owned()),
        (Method::GET, "/api/v1/users".to_owned()),
    ];
    let user_routes = [
        (Method::GET, "/api/v1/users/me".to_owned()),
        (Method::GET, "/api/v1/watchlist".to_owned()),
        (Method::GET, "/api/v1/notifications".to_owned()),
    ];
    for (method, path) in operator_routes.iter().chain(user_routes.iter()) {
        let response = api
            .request(method.clone(), path, None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path} without a token");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    for (method, path) in &operator_routes {
        let body = (*method != Method::GET).then(|| json!({}));
        let (status, value) = api.send(method.clone(), path, Some(&user), body).await;
        assert_eq!(status, 403, "{method} {path} as a user: {value}");
    }
    for (method, path) in &user_routes {
        let (status, value) = api.send(method.clone(), path, Some(&user), None).await;
        assert_eq!(status, 200, "{method} {path} as a user: {value}");
    }
    api.expect(
        Method::GET,
        "/internal/v1/runs",
        Some(&admin),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    step("access checked");
    // What the gateway adds: rate-limit headers, the request id and the trace through two hops.
    let request_id = format!("e2e-{suffix}");
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let response = api
        .request(Method::GET, "/api/v1/users/me", Some(&user))
        .header("x-request-id", &request_id)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    assert_eq!(response.headers()["ratelimit-limit"], "20");
    assert!(response.headers().contains_key("x-ratelimit-remaining"));
    if stack.is_local() {
        let logged = eventually(Duration::from_secs(10), || {
            let stack = &stack;
            let (request_id, trace_id) = (&request_id, &trace_id);
            async move {
                let identity = stack.log_of("identity")?;
                identity
                    .lines()
                    .find(|l| l.contains(request_id.as_str()))
                    .map(|l| l.contains(trace_id.as_str()))
            }
        })
        .await
        .expect("identity logs the request id the gateway passed on");
        assert!(logged, "identity's line carries the caller's trace id");
    }

    // A body over 1 MiB never reaches a service.
    let too_big = api
        .request(Method::POST, "/api/v1/scrape-jobs", Some(&admin))
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);

    // Anonymous callers share one budget per address: the burst, then 429.
    let statuses: Vec<u16> = futures::stream::iter(0..60)
        .map(|_| {
            let request = api.request(Method::GET, "/api/v1/companies?per_page=1", None);
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(30)
        .collect()
        .await;
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited > 0, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );

    api.expect(
        Method::DELETE,
        &format!("/api/v1/scrape-jobs/{job}"),
        Some(&admin),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // The app stops: its routes are 503 naming it, the others still answer.
    if stack.stop_service("app") {
        let (status, problem) = api
            .send(Method::GET, "/api/v1/watchlist", Some(&user), None)
            .await;
        assert_eq!(status, 503, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("app"),
            "{problem}"
        );
        api.expect(
            Method::GET,
            "/api/v1/users/me",
            Some(&user),
            None,
            StatusCode::OK,
        )
        .await;
        let ready = api.send(Method::GET, "/ready", None, None).await;
        assert_eq!(ready.0, 503);
        assert_eq!(ready.1["checks"]["app"], "unavailable");
    }
}
