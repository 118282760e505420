//! The site started in-process, spoken to over real TCP (HTTP/1.1, no client crate).

use std::time::{Duration, Instant};

use gleaner_demo_site::{DemoConfig, DemoSite, Fault, expected_company};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn http_get(base: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..eol]).expect("size").trim(), 16)
                    .expect("hex");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    Reply {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn start_serve_control_and_stop() {
    let site = DemoSite::start(DemoConfig::new(42, 60))
        .await
        .expect("start");
    let base = site.url();
    assert!(base.starts_with("http://127.0.0.1:"));
    assert_eq!(site.companies().len(), 60);

    let r = http_get(&base, "/health", &[]).await;
    assert_eq!(r.status, 200);

    let r = http_get(
        &base,
        "/api/companies?page=2&size=25",
        &[("User-Agent", "GleanerBot/0.1 (+test)")],
    )
    .await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["totalItemCount"], 60);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(25));

    // The detail document carries what expected_company is derived from.
    let c = site.companies()[10].clone();
    let r = http_get(&base, &format!("/api/companies/{}", c.idno), &[]).await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let e = expected_company(&c);
    assert_eq!(v["fullName"].as_str().map(str::trim), e["name"].as_str());
    let etag = r.header("etag").expect("etag").to_owned();
    let r = http_get(
        &base,
        &format!("/api/companies/{}", c.idno),
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());

    // Controls act on the running server.
    site.mutate(&c.idno, |c| c.address.street_number = "99/1".to_owned());
    let r = http_get(
        &base,
        &format!("/api/companies/{}", c.idno),
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["address"]["streetNumber"], "99/1");

    let r = http_get(&base, &format!("/companies/{}", c.idno), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(r.body).expect("utf-8");
    assert_eq!(html.matches("99/1").count(), 1);

    site.fail_next(
        1,
        Fault::TooManyRequests {
            retry_after_secs: 2,
        },
    );
    let r = http_get(&base, "/robots.txt", &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    site.set_robots_txt("User-agent: *\nDisallow: /\n");
    let r = http_get(&base, "/robots.txt", &[]).await;
    assert_eq!(r.body, b"User-agent: *\nDisallow: /\n");

    site.fail_next(1, Fault::Timeout { secs: 1 });
    let t = Instant::now();
    let r = http_get(&base, "/api/companies", &[]).await;
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(r.status, 200);

    let log = site.requests();
    assert!(
        log.iter()
            .any(|r| r.user_agent.as_deref() == Some("GleanerBot/0.1 (+test)"))
    );
    assert_eq!(log.iter().filter(|r| r.conditional).count(), 2);
    assert!(log.iter().any(|r| r.status == 304));
    assert!(log.iter().any(|r| r.status == 429));

    // A burst of requests is visible as a rate: the site saw all of them
    // within the time the client took to send them, however long that was.
    site.clear_requests();
    let started = Instant::now();
    for _ in 0..12 {
        http_get(&base, "/health", &[]).await;
    }
    let burst = started.elapsed() + Duration::from_millis(1);
    assert_eq!(site.max_requests_in_window(burst), 12);

    let control = site.control();
    site.shutdown().await;
    assert!(
        TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err()
    );
    assert_eq!(control.companies().len(), 60);
}

#[tokio::test]
async fn two_sites_side_by_side_are_identical_in_data() {
    let a = DemoSite::start(DemoConfig::new(9, 20))
        .await
        .expect("start");
    let b = DemoSite::start(DemoConfig::new(9, 30))
        .await
        .expect("start");
    assert_ne!(a.url(), b.url());
    assert_eq!(a.companies()[..], b.companies()[..20]);
    let idno = a.companies()[19].idno.clone();
    let ra = http_get(&a.url(), &format!("/api/companies/{idno}"), &[]).await;
    let rb = http_get(&b.url(), &format!("/api/companies/{idno}"), &[]).await;
    assert_eq!(ra.body, rb.body);
    assert_eq!(ra.header("etag"), rb.header("etag"));
}

/// The names of a company document's founders and administrators, persons and companies.
fn holders(doc: &serde_json::Value) -> Vec<String> {
    [
        "personFounders",
        "companyFounders",
        "personAdministrators",
        "companyAdministrators",
    ]
    .iter()
    .flat_map(|k| doc[*k].as_array().cloned().unwrap_or_default())
    .filter_map(|h| h["fullName"].as_str().map(|n| n.trim().to_owned()))
    .collect()
}

#[tokio::test]
async fn a_founder_or_administrator_disappears_and_comes_back_between_runs() {
    let site = DemoSite::start(DemoConfig::new(42, 200))
        .await
        .expect("start");
    let base = site.url();
    // A company with a founding company and a person administrator who is not a founder.
    let c = site
        .companies()
        .into_iter()
        .find(|c| {
            !c.company_founders.is_empty()
                && c.person_administrators
                    .iter()
                    .any(|a| c.person_founders.iter().all(|f| f.full_name != a.full_name))
        })
        .expect("such a company among 200");
    let owner = c.company_founders[0].full_name.trim().to_owned();
    let admin = c
        .person_administrators
        .iter()
        .find(|a| c.person_founders.iter().all(|f| f.full_name != a.full_name))
        .map(|a| a.full_name.trim().to_owned())
        .expect("admin");
    let path = format!("/api/companies/{}", c.idno);
    let first = http_get(&base, &path, &[]).await;
    let before: serde_json::Value = serde_json::from_slice(&first.body).expect("json");
    let etag = first.header("etag").expect("etag").to_owned();
    assert!(holders(&before).contains(&owner) && holders(&before).contains(&admin));

    // Run 2: the founding company and the administrator are gone, from both documents.
    assert!(site.remove_role(&c.idno, &owner));
    assert!(site.remove_role(&c.idno, &admin));
    assert!(!site.remove_role(&c.idno, "Nobody Here"));
    assert!(!site.remove_role("1000000000000", &admin));
    let r = http_get(&base, &path, &[("If-None-Match", &etag)]).await;
    assert_eq!(r.status, 200, "the change is a new document");
    let during: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert!(!holders(&during).contains(&owner) && !holders(&during).contains(&admin));
    assert!(during["revisionDate"].as_str() > before["revisionDate"].as_str());
    let html = http_get(&base, &format!("/companies/{}", c.idno), &[]).await;
    let html = String::from_utf8(html.body).expect("utf-8");
    let shown = |name: &str| html.contains(&gleaner_demo_site::render::escape_html(name));
    assert!(!shown(&owner) && !shown(&admin));
    let served = site.company(&c.idno).expect("served");
    assert_eq!(
        expected_company(&served)["founders"]
            .as_array()
            .map(Vec::len),
        Some(c.person_founders.len())
    );

    // Run 3: they come back, as generated.
    assert!(site.restore(&c.idno));
    let r = http_get(&base, &path, &[]).await;
    let after: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(holders(&after), holders(&before));
    assert!(after["revisionDate"].as_str() > during["revisionDate"].as_str());
    let restored = site.company(&c.idno).expect("served");
    assert_eq!(expected_company(&restored), expected_company(&c));
    assert!(!site.restore("1000000000000"));
}
