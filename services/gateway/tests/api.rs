//! The gateway against loopback upstreams, a real Redis and test tokens.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use futures::StreamExt as _;
use gleaner_common::auth::Role;
use gleaner_common::ratelimit::LeasePolicy;
use gleaner_gateway::startup::Application;
use support::{json, problem, settings, spawn_app, spawn_app_with};

#[tokio::test]
async fn each_path_family_goes_to_its_service_and_internal_is_never_routed() {
    let gw = spawn_app().await;
    let token = gw.token(Role::User);
    let cases = [
        ("/api/v1/users/me", "identity"),
        ("/.well-known/jwks.json", "identity"),
        ("/api/v1/companies?q=chisinau", "scraper"),
        ("/api/v1/companies/1003600000001/history", "scraper"),
        ("/api/v1/sources/5/raw", "scraper"),
        ("/api/v1/scrape-jobs", "app"),
        ("/api/v1/scrape-runs/9", "app"),
        ("/api/v1/watchlist", "app"),
        ("/api/v1/notifications?unread=true", "app"),
    ];
    for (path, upstream) in cases {
        let response = gw.get_auth(path, &token).await;
        assert_eq!(response.status(), 200, "{path}");
        let body = json(response).await;
        assert_eq!(body["upstream"], upstream, "{path}");
        assert_eq!(body["path"], path.split('?').next().unwrap(), "{path}");
    }
    for path in [
        "/internal/runs",
        "/internal",
        "/api/v1/companies/../../internal/runs",
        "/api/v2/companies",
    ] {
        let response = gw.get_auth(path, &token).await;
        problem(response, StatusCode::NOT_FOUND).await;
    }
    let reached_internal = [&gw.identity, &gw.scraper, &gw.app]
        .iter()
        .flat_map(|u| u.requests())
        .any(|seen| seen.path.contains("internal"));
    assert!(!reached_internal, "an /internal path reached an upstream");
}

#[tokio::test]
async fn public_routes_are_public_and_the_rest_need_a_valid_token() {
    let gw = spawn_app().await;
    for path in ["/api/v1/companies", "/api/v1/companies/1003600000001"] {
        assert_eq!(gw.get(path).await.status(), 200, "{path}");
    }
    let login = gw
        .http
        .post(gw.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "a", "password": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);

    for path in [
        "/api/v1/users/me",
        "/api/v1/scrape-jobs",
        "/api/v1/notifications",
        "/api/v1/companies/1003600000001/sources",
    ] {
        let response = gw.get(path).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{path}");
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    // A token from another key, an expired one and garbage are all refused.
    let foreign = gleaner_testkit::TestSigner::start().await.unwrap();
    let mut expired = gw.signer.claims(Role::Admin);
    expired.exp = expired.iat - 3600;
    for token in [
        foreign.token(Role::Admin),
        gw.signer.sign(&expired),
        "not-a-jwt".to_owned(),
    ] {
        let response = gw.get_auth("/api/v1/users/me", &token).await;
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    assert_eq!(
        gw.identity.requests().len(),
        1,
        "refused requests never reach identity (only the login did)"
    );
    // A valid token passes, and the upstream sees it to check it again.
    let token = gw.token(Role::User);
    let response = gw.get_auth("/api/v1/users/me", &token).await;
    assert_eq!(response.status(), 200);
    let seen = gw.identity.requests().pop().unwrap();
    assert_eq!(seen.headers["authorization"], format!("Bearer {token}"));
}

#[tokio::test]
async fn rate_limit_headers_count_down_then_429_with_retry_after() {
    let gw = spawn_app_with(|s| {
        s.rate_limit_per_second = 0.5;
        s.rate_limit_burst = 3;
    })
    .await;
    let token = gw.token(Role::User);
    for remaining in ["2", "1", "0"] {
        let response = gw.get_auth("/api/v1/watchlist", &token).await;
        assert_eq!(response.status(), 200);
        let h = response.headers();
        assert_eq!(h["ratelimit-limit"], "3");
        assert_eq!(h["x-ratelimit-limit"], "3");
        assert_eq!(h["ratelimit-remaining"], remaining);
        assert_eq!(h["x-ratelimit-remaining"], remaining);
        assert!(h.contains_key("ratelimit-reset"));
    }
    let refused = gw.get_auth("/api/v1/watchlist", &token).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(gw.app.requests().len(), 3, "the refused request never left");

    // Another user has a budget of their own; anonymous callers count by address.
    let other = gw.token(Role::User);
    assert_eq!(gw.get_auth("/api/v1/watchlist", &other).await.status(), 200);
    for _ in 0..3 {
        assert_eq!(gw.get("/api/v1/companies").await.status(), 200);
    }
    assert_eq!(gw.get("/api/v1/companies").await.status(), 429);

    let metrics = gw.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"gateway_rate_limited_total{scope="user"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gateway_rate_limited_total{scope="address"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn parallel_requests_never_exceed_the_burst() {
    // A refill of one request per 1000 s: only the burst can pass during the test.
    let gw = spawn_app_with(|s| {
        s.rate_limit_per_second = 0.001;
        s.rate_limit_burst = 20;
    })
    .await;
    let token = gw.token(Role::User);
    let statuses: Vec<u16> = futures::stream::iter(0..120)
        .map(|_| {
            let request = gw.http.get(gw.url("/api/v1/watchlist")).bearer_auth(&token);
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(60)
        .collect()
        .await;
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((allowed, limited), (20, 100), "{statuses:?}");
    let metrics = gw.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("gateway_rate_limiter_fallbacks_total 0"),
        "every check was counted in Redis: {metrics}"
    );
}

#[tokio::test]
async fn without_redis_the_gateway_limits_in_memory_and_says_so() {
    let mut gw = spawn_app_with(|s| {
        s.rate_limit_per_second = 0.001;
        s.rate_limit_burst = 2;
    })
    .await;
    // Redis connects in the background after start.
    gleaner_testkit::eventually(Duration::from_secs(10), || async {
        let ready = gw.get("/ready").await;
        (ready.status() == 200 && json(ready).await["status"] == "ready").then_some(())
    })
    .await
    .unwrap();

    gw.redis.stop();
    let token = gw.token(Role::User);
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(
                gw.get_auth("/api/v1/watchlist", &token)
                    .await
                    .status()
                    .as_u16(),
            );
        }
        out
    };
    assert_eq!(
        statuses,
        [200, 200, 429],
        "the local limiter keeps the limit"
    );

    let ready = gw.get("/ready").await;
    assert_eq!(ready.status(), 200, "degraded, still ready");
    let body = json(ready).await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"], "degraded");
    assert_eq!(body["checks"]["identity"], "ok");
    let metrics = gw.get("/metrics").await.text().await.unwrap();
    assert!(
        // The sample line, not the HELP line (whose text starts with "1 while").
        metrics.lines().any(|l| l == "gateway_rate_limiter_local 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn server_sent_events_are_streamed_not_buffered() {
    let gw = spawn_app().await;
    let response = gw
        .get_auth("/api/v1/scrape-runs/1/events", &gw.token(Role::Operator))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let mut received = String::new();
    // The upstream holds its last event until the first has reached us: a
    // gateway that buffered the body would never deliver the first.
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        while !received.contains("data: first") {
            let chunk = body.next().await.expect("stream ended early").unwrap();
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(
        first.is_ok(),
        "the first event did not arrive while the upstream was still sending"
    );
    assert!(!received.contains("data: last"));
    gw.app.finish_stream.notify_one();
    while let Some(chunk) = body.next().await {
        received.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(received.ends_with("id: 2\ndata: last\n\n"), "{received:?}");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused_with_413() {
    let gw = spawn_app().await;
    let token = gw.token(Role::Operator);
    let under = vec![b'x'; 1024 * 1024];
    let response = gw
        .http
        .post(gw.url("/api/v1/scrape-jobs"))
        .bearer_auth(&token)
        .body(under)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["body_bytes"], 1024 * 1024);

    let over = vec![b'x'; 1024 * 1024 + 1];
    let response = gw
        .http
        .post(gw.url("/api/v1/scrape-jobs"))
        .bearer_auth(&token)
        .body(over)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["connection"], "close");
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // The refused body was never read, so its connection is closed and not reused:
    // the same client's next requests go through (they used to meet a broken pipe).
    for _ in 0..20 {
        let refused = gw
            .http
            .post(gw.url("/api/v1/scrape-jobs"))
            .bearer_auth(&token)
            .body(vec![b'x'; 1024 * 1024 + 1])
            .send()
            .await;
        if let Ok(refused) = refused {
            assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        }
        let next = gw
            .http
            .get(gw.url("/health"))
            .send()
            .await
            .expect("the request after a 413 is sent on a fresh connection");
        assert_eq!(next.status(), 200);
    }

    // Without a Content-Length (chunked), the limit holds as the body streams.
    let chunks = futures::stream::iter(
        (0..17).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 64 * 1024]))),
    );
    let response = gw
        .http
        .post(gw.url("/api/v1/scrape-jobs"))
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_forwarded_headers_appended() {
    let gw = spawn_app().await;
    let response = gw
        .http
        .get(gw.url("/api/v1/companies"))
        .header("connection", "x-private")
        .header("x-private", "secret")
        .header("proxy-authorization", "Basic abc")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-request-id", "client-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "client-id-42");
    let seen = gw.scraper.requests().pop().unwrap();
    assert!(
        !seen.headers.contains_key("x-private"),
        "{:?}",
        seen.headers
    );
    assert!(!seen.headers.contains_key("proxy-authorization"));
    assert_eq!(seen.headers["x-forwarded-for"], "6.6.6.6, 127.0.0.1");
    // Not behind a trusted proxy: the client's claim of https is not passed on.
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(
        seen.headers["x-forwarded-host"],
        gw.base.trim_start_matches("http://")
    );
    assert_eq!(seen.headers["x-request-id"], "client-id-42");

    // A request without an id gets one, the same upstream and back.
    let response = gw.get("/api/v1/companies").await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!id.is_empty());
    assert_eq!(
        gw.scraper.requests().pop().unwrap().headers["x-request-id"],
        id
    );
}

#[tokio::test]
async fn security_headers_and_hsts_only_behind_tls() {
    let gw = spawn_app_with(|s| {
        s.trusted_proxies = 1;
        s.cors_allowed_origins = vec!["https://ui.example".into()];
    })
    .await;
    let plain = gw.get("/api/v1/companies").await;
    let h = plain.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "frame-ancestors 'none'");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(!h.contains_key("strict-transport-security"));
    let tls = gw
        .http
        .get(gw.url("/api/v1/companies"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(tls.headers().contains_key("strict-transport-security"));

    let preflight = gw
        .http
        .request(reqwest::Method::OPTIONS, gw.url("/api/v1/watchlist"))
        .header("origin", "https://ui.example")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://ui.example"
    );
    let foreign = gw
        .http
        .get(gw.url("/api/v1/companies"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn an_upstream_down_is_503_and_one_too_slow_is_504_naming_it() {
    let dead = format!("http://127.0.0.1:{}", gleaner_testkit::free_port().unwrap());
    let gw = spawn_app_with(move |s| {
        s.app_url = dead;
        s.upstream_timeout = Duration::from_millis(300);
    })
    .await;
    let token = gw.token(Role::Operator);
    let body = problem(
        gw.get_auth("/api/v1/scrape-jobs", &token).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("app"), "{body}");

    let body = problem(
        gw.get("/api/v1/companies/slow").await,
        StatusCode::GATEWAY_TIMEOUT,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("scraper"),
        "{body}"
    );

    let ready = gw.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let body = json(ready).await;
    assert_eq!(body["checks"]["app"], "unavailable");
    assert_eq!(body["checks"]["scraper"], "ok");

    let metrics = gw.get("/metrics").await.text().await.unwrap();
    for line in [
        r#"gateway_upstream_errors_total{kind="connect",upstream="app"} 1"#,
        r#"gateway_upstream_errors_total{kind="timeout",upstream="scraper"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    // Proxied requests are labelled by their route pattern, never the raw path.
    assert!(
        metrics.contains(r#"route="/api/v1/companies/**""#),
        "{metrics}"
    );
    assert!(!metrics.contains("/slow"), "{metrics}");
}

#[tokio::test]
async fn docs_list_every_service_and_work_offline_behind_a_prefix() {
    let gw = spawn_app().await;
    let root = gw.get("/docs").await;
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "docs/", "relative, prefix-safe");
    let index = gw.get("/docs/").await;
    assert_eq!(index.status(), 200);
    assert!(index.text().await.unwrap().contains("swagger-ui"));
    let init = gw
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    for url in [
        "../openapi.json",
        "../openapi/identity.json",
        "../openapi/scraper.json",
        "../openapi/app.json",
    ] {
        assert!(init.contains(url), "{url} in {init}");
    }
    let bundle = gw.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200, "assets are served from the binary");
    for name in ["identity", "scraper", "app"] {
        let doc = json(gw.get(&format!("/openapi/{name}.json")).await).await;
        assert_eq!(doc["info"]["title"], name);
    }
    problem(gw.get("/openapi/nowhere.json").await, StatusCode::NOT_FOUND).await;
    let own = json(gw.get("/openapi.json").await).await;
    assert!(own["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(json(gw.get("/health").await).await["status"], "ok");
}

/// `evalsha` and `eval` calls Redis has answered: the rate-limit round trips.
async fn limiter_calls(redis: &gleaner_testkit::TestRedis) -> u64 {
    use fred::interfaces::ClientLike as _;
    let client = gleaner_common::redis::connect(&redis.url(), 1)
        .await
        .unwrap();
    client.wait_for_connect().await.unwrap();
    let stats: String = client
        .info(Some(fred::types::InfoKind::CommandStats))
        .await
        .unwrap();
    stats
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[tokio::test]
async fn a_busy_client_is_counted_in_redis_a_lease_at_a_time_and_replicas_share_one_budget() {
    // A refill of one request per 1000 s: only the burst can pass during the test. Leases
    // live a minute here, so how many requests each takes does not depend on how fast
    // the machine is.
    let lease = LeasePolicy {
        ttl: Duration::from_secs(60),
        max: 32,
    };
    let gw = spawn_app_with(|s| {
        s.rate_limit_per_second = 0.001;
        s.rate_limit_burst = 300;
        s.rate_limit_lease = lease;
    })
    .await;
    // A second replica on the same Redis.
    let mut replica_settings = settings(
        &gw.redis,
        &gw.signer,
        [&gw.identity.url, &gw.scraper.url, &gw.app.url],
    );
    replica_settings.rate_limit_per_second = 0.001;
    replica_settings.rate_limit_burst = 300;
    replica_settings.rate_limit_lease = lease;
    let replica = Application::build(replica_settings).await.unwrap();
    let replica_base = format!("http://127.0.0.1:{}", replica.port());
    tokio::spawn(replica.run_until_stopped(std::future::pending()));
    let token = gw.token(Role::User);
    let send = |base: String| {
        let request = gw
            .http
            .get(format!("{base}/api/v1/watchlist"))
            .bearer_auth(&token);
        async move {
            let response = request.send().await.unwrap();
            let remaining: u32 = response.headers()["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            (response.status().as_u16(), remaining)
        }
    };

    let before = limiter_calls(&gw.redis).await;
    let mut remaining = Vec::new();
    for _ in 0..200 {
        let (status, left) = send(gw.base.clone()).await;
        assert_eq!(status, 200);
        remaining.push(left);
    }
    // Counted down one by one, as without leases.
    let expected: Vec<u32> = (100..300).rev().collect();
    assert_eq!(remaining, expected);
    // Leases of 1, 2, 4, 8 and 16, then 32 at a time.
    assert_eq!(
        limiter_calls(&gw.redis).await - before,
        5 + (200 - 31u64).div_ceil(32)
    );

    // The replica sees what the first one took, the requests it holds included.
    let (status, left) = send(replica_base.clone()).await;
    assert_eq!(status, 200);
    assert!(left < 100, "{left}");
    // Both together never let more than the burst through.
    let mut allowed = 201;
    for _ in 0..200 {
        for base in [&gw.base, &replica_base] {
            let (status, _) = send(base.clone()).await;
            assert!(status == 200 || status == 429, "{status}");
            allowed += usize::from(status == 200);
        }
    }
    assert_eq!(allowed, 300);
}

#[tokio::test]
async fn an_upstream_answering_before_reading_the_body_is_passed_on_not_a_502() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let gw = spawn_app().await;
    let token = gw.token(Role::Operator);
    let addr = gw.base.trim_start_matches("http://").to_owned();
    let body = r#"{"name": "", "spec": {}}"#;
    for i in 0..400u32 {
        // The head first, the body a moment later, as many clients send them: the
        // upstream refuses on seeing the head alone.
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        socket.set_nodelay(true).unwrap();
        let head = format!(
            "POST /api/v1/scrape-jobs HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
             content-type: multipart/form-data\r\nx-test-unread: 1\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        // From at once to about a millisecond later.
        let gap = std::time::Instant::now();
        while gap.elapsed() < Duration::from_micros(u64::from(i % 40) * 25) {
            std::hint::spin_loop();
        }
        if socket.write_all(body.as_bytes()).await.is_err() {
            // The gateway answered and closed first: a complete exchange.
        }
        let mut response = Vec::new();
        socket.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 415"),
            "request {i}: {}",
            response.lines().next().unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn an_early_refusal_waits_for_a_small_body_and_keeps_the_connection() {
    let gw = spawn_app().await;
    let addr = gw.base.trim_start_matches("http://").parse().unwrap();
    let mut client = gleaner_testkit::RawConnection::connect(addr).await.unwrap();
    let body = r#"{"name": "a", "spec": {}}"#;
    client
        .send(
            format!(
                "POST /api/v1/scrape-jobs HTTP/1.1\r\nhost: gateway\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Long enough for the gateway to have refused on the head alone.
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.send(body.as_bytes()).await.unwrap();
    let refused = client.read_response().await.unwrap();
    assert_eq!(refused.status, 401, "{}", refused.head);

    // The body was read, so the same connection serves the next request.
    client
        .send(b"GET /health HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await
        .unwrap();
    let health = client.read_response().await.unwrap();
    assert_eq!(health.status, 200, "{}", health.head);
}
