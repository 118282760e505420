//! The routes end to end through the router: pages, documents, validators, changes made
//! through the controls, faults and the request log.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request as HttpRequest;
use tower::ServiceExt;

use super::*;
use crate::conditional::{etag_of, http_date};
use crate::config::{DEFAULT_ROBOTS_TXT, DemoConfig};
use crate::data;
use crate::faults::Fault;

fn site(n: usize) -> (DemoControl, Router) {
    let ctl = DemoControl::new(&DemoConfig::new(42, n));
    let app = router(ctl.clone());
    (ctl, app)
}

async fn get_with(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = HttpRequest::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    (status, headers, body)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    get_with(app, uri, &[]).await
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("json")
}

#[tokio::test]
async fn list_pagination() {
    let (ctl, app) = site(45);
    let (s, h, b) = get(&app, "/api/companies").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get(header::ETAG).is_some() && h.get(header::LAST_MODIFIED).is_some());
    let v = json_of(&b);
    assert_eq!(v["totalItemCount"], 45);
    assert_eq!(v["page"], 1);
    assert_eq!(v["size"], 20);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(20));
    let first = &v["data"][0];
    let mut keys: Vec<&str> = first
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["fullName", "id", "idno", "isActive", "registeredAt", "type"]
    );
    assert_eq!(first["idno"], ctl.companies()[0].idno);

    let v = json_of(&get(&app, "/api/companies?page=3&size=20").await.2);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(5));
    let v = json_of(&get(&app, "/api/companies?page=4&size=20").await.2);
    assert_eq!(v["data"], json!([]));
    assert_eq!(v["totalItemCount"], 45);
    let (s, _, b) = get(&app, "/api/companies?page=18446744073709551615&size=100").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json_of(&b)["data"], json!([]));
    let v = json_of(&get(&app, "/api/companies?size=100").await.2);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(45));
    let v = json_of(&get(&app, "/api/companies?page=2&size=1").await.2);
    assert_eq!(v["data"][0]["idno"], ctl.companies()[1].idno);

    for bad in [
        "size=0", "size=101", "page=0", "page=-1", "size=abc", "page=1.5", "size=%ZZ",
    ] {
        let (s, _, b) = get(&app, &format!("/api/companies?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(json_of(&b)["message"].is_string());
    }
}

#[tokio::test]
async fn company_detail_financials_and_404() {
    let (ctl, app) = site(30);
    let c = ctl.companies()[7].clone();
    let (s, h, b) = get(&app, &format!("/api/companies/{}", c.idno)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    assert_eq!(json_of(&b), render::api_company(&c));
    let (s, _, b) = get(&app, &format!("/api/fin-data-v1/{}", c.idno)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json_of(&b), render::api_financials(&c));

    for path in [
        "/api/companies/1009999999999",
        "/api/companies/abc",
        "/api/fin-data-v1/1009999999999",
        "/nope",
    ] {
        let (s, _, b) = get(&app, path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json_of(&b), json!({"message": "Not found"}));
    }
    let (s, h, _) = get(&app, "/companies/1009999999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(h[header::CONTENT_TYPE], HTML);

    let no_fin = ctl
        .companies()
        .into_iter()
        .find(|c| c.financials.is_empty());
    if let Some(c) = no_fin {
        let (_, _, b) = get(&app, &format!("/api/fin-data-v1/{}", c.idno)).await;
        assert_eq!(json_of(&b), json!([]));
    }
}

#[tokio::test]
async fn html_page_served() {
    let (ctl, app) = site(5);
    let c = ctl.companies()[0].clone();
    let (s, h, b) = get(&app, &format!("/companies/{}", c.idno)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!((25 * 1024..40 * 1024).contains(&b.len()));
    let html = String::from_utf8(b).expect("utf-8");
    assert_eq!(html, render::html_company(&c), "the company's own layout");
}

#[tokio::test]
async fn etag_and_304() {
    let (ctl, app) = site(5);
    let idno = ctl.companies()[1].idno.clone();
    for path in [
        format!("/api/companies/{idno}"),
        format!("/api/fin-data-v1/{idno}"),
        format!("/companies/{idno}"),
        "/api/companies?page=1&size=5".to_owned(),
        "/robots.txt".to_owned(),
    ] {
        let (s, h, b) = get(&app, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        let etag = h[header::ETAG].to_str().expect("etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
        assert_eq!(etag, etag_of(&b));
        let lm = h[header::LAST_MODIFIED].to_str().expect("lm").to_owned();

        let (s, h2, b) = get_with(&app, &path, &[("if-none-match", &etag)]).await;
        assert_eq!(s, StatusCode::NOT_MODIFIED, "{path}");
        assert!(b.is_empty());
        assert_eq!(h2[header::ETAG], etag.as_str());
        let (s, _, _) = get_with(
            &app,
            &path,
            &[("if-none-match", "\"other\", W/".to_owned().as_str())],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, _) = get_with(
            &app,
            &path,
            &[("if-none-match", &format!("\"x\", W/{etag}"))],
        )
        .await;
        assert_eq!(s, StatusCode::NOT_MODIFIED);

        let (s, _, b) = get_with(&app, &path, &[("if-modified-since", &lm)]).await;
        assert_eq!(s, StatusCode::NOT_MODIFIED, "{path}");
        assert!(b.is_empty());
        let (s, _, _) = get_with(
            &app,
            &path,
            &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, _) = get_with(&app, &path, &[("if-modified-since", "garbage")]).await;
        assert_eq!(s, StatusCode::OK);
        // If-None-Match wins over If-Modified-Since.
        let (s, _, _) = get_with(
            &app,
            &path,
            &[("if-none-match", "\"nope\""), ("if-modified-since", &lm)],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
}

#[tokio::test]
async fn company_last_modified_is_revision_date() {
    let (ctl, app) = site(3);
    let c = ctl.companies()[2].clone();
    let (_, h, _) = get(&app, &format!("/api/companies/{}", c.idno)).await;
    assert_eq!(
        h[header::LAST_MODIFIED],
        http_date(c.revision_date).as_str()
    );
}

#[tokio::test]
async fn mutate_changes_etag_and_last_modified() {
    let (ctl, app) = site(5);
    let idno = ctl.companies()[3].idno.clone();
    let path = format!("/api/companies/{idno}");
    let html_path = format!("/companies/{idno}");
    let (_, h1, _) = get(&app, &path).await;
    let (_, hh1, _) = get(&app, &html_path).await;
    let old_rev = ctl.company(&idno).map(|c| c.revision_date);
    assert!(ctl.mutate(&idno, |c| {
        c.full_name = "Companie Nouă SRL".to_owned();
        c.address.city = "Cahul".to_owned();
    }));
    assert!(!ctl.mutate("1000000000000", |_| {}));
    let c = ctl.company(&idno).expect("company");
    assert!(Some(c.revision_date) > old_rev);
    let (s, h2, b) = get_with(
        &app,
        &path,
        &[("if-none-match", h1[header::ETAG].to_str().expect("etag"))],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(h1[header::ETAG], h2[header::ETAG]);
    assert_ne!(h1[header::LAST_MODIFIED], h2[header::LAST_MODIFIED]);
    let v = json_of(&b);
    assert_eq!(v["fullName"], "Companie Nouă SRL");
    assert_eq!(
        v["revisionDate"],
        c.revision_date.format("%Y-%m-%dT%H:%M:%S").to_string()
    );
    let (s, _, _) = get_with(
        &app,
        &html_path,
        &[(
            "if-modified-since",
            hh1[header::LAST_MODIFIED].to_str().expect("lm"),
        )],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // The list page carrying it changes too.
    let (_, _, b) = get(&app, "/api/companies?page=1&size=5").await;
    assert_eq!(json_of(&b)["data"][3]["fullName"], "Companie Nouă SRL");
    // Two quick mutations still give different revision dates.
    let before = ctl.company(&idno).map(|c| c.revision_date);
    ctl.mutate(&idno, |c| c.is_active = !c.is_active);
    assert!(ctl.company(&idno).map(|c| c.revision_date) > before);
}

#[tokio::test]
async fn api_missing_keeps_html() {
    let (ctl, app) = site(5);
    let idno = ctl.companies()[0].idno.clone();
    ctl.api_missing(&idno);
    let (s, _, b) = get(&app, &format!("/api/companies/{idno}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(json_of(&b), json!({"message": "Not found"}));
    let (s, _, _) = get(&app, &format!("/api/fin-data-v1/{idno}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = get(&app, &format!("/companies/{idno}")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, _, b) = get(&app, "/api/companies?size=5").await;
    assert_eq!(json_of(&b)["data"][0]["idno"], idno.as_str());
    ctl.api_restore(&idno);
    let (s, _, _) = get(&app, &format!("/api/companies/{idno}")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn remove_company() {
    let (ctl, app) = site(5);
    let idno = ctl.companies()[0].idno.clone();
    assert!(ctl.remove(&idno));
    assert!(!ctl.remove(&idno));
    let (s, _, _) = get(&app, &format!("/companies/{idno}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, b) = get(&app, "/api/companies").await;
    assert_eq!(json_of(&b)["totalItemCount"], 4);
}

#[tokio::test]
async fn removed_companies_leave_the_list_pages_without_gaps() {
    let (ctl, app) = site(30);
    let all = ctl.companies();
    for i in [0, 9, 10, 11, 29] {
        assert!(ctl.remove(&all[i].idno));
    }
    let kept: Vec<&str> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| ![0, 9, 10, 11, 29].contains(i))
        .map(|(_, c)| c.idno.as_str())
        .collect();
    let mut listed = Vec::new();
    for page in 1..=4 {
        let v = json_of(
            &get(&app, &format!("/api/companies?page={page}&size=7"))
                .await
                .2,
        );
        assert_eq!(v["totalItemCount"], 25);
        for c in v["data"].as_array().into_iter().flatten() {
            listed.push(c["idno"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(listed, kept);
    assert_eq!(ctl.total(), 25);
    assert_eq!(
        ctl.companies()
            .iter()
            .map(|c| c.idno.as_str())
            .collect::<Vec<_>>(),
        kept
    );
    assert_eq!(ctl.listed(24, 10).len(), 1);
    assert!(ctl.listed(25, 10).is_empty());
    assert!(ctl.listed(u64::MAX, 10).is_empty());
}

#[tokio::test]
async fn a_company_given_another_idno_moves() {
    let (ctl, app) = site(10);
    let old = ctl.companies()[4].idno.clone();
    let new = "1000000000001".to_owned();
    assert!(ctl.mutate(&old, |c| c.idno = new.clone()));
    assert!(ctl.company(&old).is_none());
    assert_eq!(
        get(&app, &format!("/api/companies/{old}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _, b) = get(&app, &format!("/api/companies/{new}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json_of(&b)["idno"], new.as_str());
    assert_eq!(ctl.companies()[4].idno, new);
    // Changed again, then removed: gone under both IDNOs.
    assert!(ctl.mutate(&new, |c| c.is_active = !c.is_active));
    assert!(ctl.remove(&new));
    assert!(ctl.company(&new).is_none() && ctl.company(&old).is_none());
    assert_eq!(ctl.total(), 9);
}

#[tokio::test]
async fn a_million_companies_cost_nothing_until_asked_for() {
    let (ctl, app) = site(1_000_000);
    assert_eq!(ctl.total(), 1_000_000);
    let v = json_of(&get(&app, "/api/companies?page=10000&size=100").await.2);
    assert_eq!(v["totalItemCount"], 1_000_000);
    let last = &v["data"][99];
    let expected = data::company(42, 999_999);
    assert_eq!(last["idno"], expected.idno.as_str());
    let (s, _, b) = get(&app, &format!("/api/companies/{}", expected.idno)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json_of(&b), render::api_company(&expected));
    let v = json_of(&get(&app, "/api/companies?page=10001&size=100").await.2);
    assert_eq!(v["data"], json!([]));
    // The IDNO of a company past the end is unknown.
    let beyond = data::idno_for(42, 1_000_000);
    assert_eq!(
        get(&app, &format!("/api/companies/{beyond}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_fault_kind() {
    let (ctl, app) = site(5);
    let idno = ctl.companies()[0].idno.clone();
    let path = format!("/api/companies/{idno}");

    ctl.fail_next(
        1,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    let (s, h, _) = get(&app, &path).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h[header::RETRY_AFTER], "7");

    ctl.fail_next(2, Fault::ServiceUnavailable);
    ctl.fail_next(1, Fault::ServerError);
    assert_eq!(get(&app, &path).await.0, StatusCode::SERVICE_UNAVAILABLE);
    // /health is never faulted and does not consume queued faults.
    assert_eq!(get(&app, "/health").await.0, StatusCode::OK);
    assert_eq!(get(&app, &path).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&app, &path).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(get(&app, &path).await.0, StatusCode::OK);

    ctl.fail_next(1, Fault::MalformedJson);
    let (s, h, b) = get(&app, &path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    assert!(!b.is_empty());
    assert!(serde_json::from_slice::<Value>(&b).is_err());
    ctl.fail_next(1, Fault::MalformedJson);
    let (_, _, b) = get(&app, "/api/fin-data-v1/1009999999999").await;
    assert!(serde_json::from_slice::<Value>(&b).is_err());

    ctl.fail_next(1, Fault::Garbage);
    let (s, _, b) = get(&app, &path).await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.len() >= 1024);
    assert!(std::str::from_utf8(&b).is_err());
    assert!(serde_json::from_slice::<Value>(&b).is_err());

    ctl.fail_next(1, Fault::Timeout { secs: 1 });
    let t = Instant::now();
    let (s, _, b) = get(&app, &path).await;
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json_of(&b)["idno"], idno.as_str());
}

#[tokio::test]
async fn fault_ratio_by_prefix() {
    let (ctl, app) = site(5);
    let idno = ctl.companies()[0].idno.clone();
    ctl.set_fault_ratio("/api/fin-data-v1/", Fault::ServerError, 3);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            get(&app, &format!("/api/fin-data-v1/{idno}"))
                .await
                .0
                .as_u16(),
        );
        // Other paths are not counted nor faulted.
        assert_eq!(
            get(&app, &format!("/api/companies/{idno}")).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(statuses, [200, 200, 500, 200, 200, 500]);
    ctl.set_fault_ratio("/api/fin-data-v1/", Fault::ServerError, 0);
    assert_eq!(
        get(&app, &format!("/api/fin-data-v1/{idno}")).await.0,
        StatusCode::OK
    );
    ctl.set_fault_ratio("/", Fault::ServiceUnavailable, 1);
    assert_eq!(
        get(&app, "/robots.txt").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    ctl.clear_faults();
    assert_eq!(get(&app, "/robots.txt").await.0, StatusCode::OK);
}

#[tokio::test]
async fn robots_configurable() {
    let (ctl, app) = site(1);
    let (s, h, b) = get(&app, "/robots.txt").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], TEXT);
    assert_eq!(b, DEFAULT_ROBOTS_TXT.as_bytes());
    ctl.set_robots_txt("User-agent: *\nDisallow: /companies/\n");
    let (_, _, b) = get(&app, "/robots.txt").await;
    assert_eq!(b, b"User-agent: *\nDisallow: /companies/\n");
}

#[tokio::test]
async fn request_log() {
    let (ctl, app) = site(3);
    let idno = ctl.companies()[0].idno.clone();
    get_with(
        &app,
        "/api/companies?page=1&size=2",
        &[("user-agent", "GleanerBot/1.0")],
    )
    .await;
    get_with(
        &app,
        &format!("/companies/{idno}"),
        &[("if-none-match", "\"x\"")],
    )
    .await;
    ctl.fail_next(1, Fault::ServiceUnavailable);
    get(&app, "/robots.txt").await;
    let log = ctl.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path_and_query, "/api/companies?page=1&size=2");
    assert_eq!(log[0].status, 200);
    assert_eq!(log[0].user_agent.as_deref(), Some("GleanerBot/1.0"));
    assert!(!log[0].conditional);
    assert!(log[1].conditional);
    assert_eq!(log[1].user_agent, None);
    assert_eq!(log[2].status, 503);
    assert!(log[0].at <= log[1].at && log[1].at <= log[2].at);
    assert_eq!(ctl.max_requests_in_window(Duration::from_secs(1)), 3);
    ctl.clear_requests();
    assert!(ctl.requests().is_empty());
    assert_eq!(ctl.max_requests_in_window(Duration::from_secs(1)), 0);
}
