use std::time::Duration;

use gleaner_common::auth::Role;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn search_is_accent_insensitive_ranked_filtered_and_paged() {
    let app = spawn_app(60).await;
    app.scrape(&app.spec()).await;
    let companies = app.site.companies();
    // Expected: every company whose name, address or activities mention the city.
    let fold = |s: &str| {
        s.to_lowercase()
            .replace(['ș', 'ş'], "s")
            .replace(['ă', 'â'], "a")
            .replace('î', "i")
            .replace(['ț', 'ţ'], "t")
    };
    let in_chisinau = companies
        .iter()
        .filter(|c| {
            let text = format!(
                "{} {} {} {}",
                c.full_name,
                c.address.full_name,
                c.address.city,
                c.activities
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            fold(&text)
                .split(|ch: char| !ch.is_alphanumeric())
                .any(|w| w == "chisinau")
        })
        .count();
    assert!(in_chisinau > 0);
    let page = app
        .get_json("/api/v1/companies?q=chisinau&per_page=100")
        .await;
    assert_eq!(
        page["total"].as_u64().unwrap() as usize,
        in_chisinau,
        "chisinau finds Chișinău"
    );
    let page_accented = app
        .get_json("/api/v1/companies?q=Chi%C8%99in%C4%83u&per_page=100")
        .await;
    assert_eq!(page_accented["total"], page["total"]);

    // A name search ranks the named company first.
    let target = &companies[5];
    let word = target
        .full_name
        .split_whitespace()
        .find(|w| w.chars().count() > 4)
        .unwrap_or(&target.full_name)
        .to_string();
    let page = app
        .get_json(&format!(
            "/api/v1/companies?q={}",
            urlencode(&target.full_name)
        ))
        .await;
    assert_eq!(
        page["items"][0]["idno"],
        target.idno.as_str(),
        "searching {word}"
    );

    // Filters.
    let active = companies.iter().filter(|c| c.is_active).count();
    assert_eq!(
        app.get_json("/api/v1/companies?status=active").await["total"]
            .as_u64()
            .unwrap() as usize,
        active
    );
    let city = app
        .get_json("/api/v1/companies?city=balti&per_page=100")
        .await;
    assert_eq!(
        city["total"].as_u64().unwrap() as usize,
        companies
            .iter()
            .filter(|c| c.address.city == "Bălți")
            .count()
    );
    let form = companies[0].legal_form.trim().to_string();
    let by_form = app
        .get_json(&format!(
            "/api/v1/companies?legal_form={}&per_page=100",
            urlencode(&form)
        ))
        .await;
    assert_eq!(
        by_form["total"].as_u64().unwrap() as usize,
        companies
            .iter()
            .filter(|c| c.legal_form.trim() == form)
            .count()
    );
    let code = companies[0].activities[0].code.clone();
    let by_activity = app
        .get_json(&format!("/api/v1/companies?activity={code}&per_page=100"))
        .await;
    assert_eq!(
        by_activity["total"].as_u64().unwrap() as usize,
        companies
            .iter()
            .filter(|c| c.activities.iter().any(|a| a.code == code))
            .count()
    );
    let recent = app
        .get_json("/api/v1/companies?registered_from=2010-01-01&sort=-registered_at&per_page=100")
        .await;
    let dates: Vec<&str> = recent["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["registered_at"].as_str().unwrap())
        .collect();
    assert!(dates.iter().all(|d| *d >= "2010-01-01"));
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(
        dates.len(),
        companies
            .iter()
            .filter(|c| c.registered_at.to_string().as_str() >= "2010-01-01")
            .count()
    );

    // Paging and sorting by name.
    let p1 = app.get_json("/api/v1/companies?per_page=7&page=1").await;
    let p2 = app.get_json("/api/v1/companies?per_page=7&page=2").await;
    assert_eq!(p1["total"], 60);
    assert_eq!(p1["items"].as_array().unwrap().len(), 7);
    assert_ne!(p1["items"][0]["idno"], p2["items"][0]["idno"]);

    for bad in [
        "per_page=101",
        "status=dead",
        "sort=random",
        "registered_from=yesterday",
        "nope=1",
        "registered_from=2020-01-01&registered_to=2010-01-01",
    ] {
        let r = app.get(&format!("/api/v1/companies?{bad}")).await;
        assert_eq!(r.status(), 422, "{bad}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn detail_404s_and_role_checks() {
    let app = spawn_app(3).await;
    app.scrape(&app.spec()).await;
    for path in [
        "/api/v1/companies/123",
        "/api/v1/companies/abcdefghijklm",
        "/api/v1/companies/9999999999999",
        "/api/v1/companies/10036000123456",
        "/api/v1/companies/9999999999999/history",
        "/api/v1/companies/12/financials",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let idno = app.site.companies()[0].idno.clone();
    let sources = format!("/api/v1/companies/{idno}/sources");
    assert_eq!(app.get(&sources).await.status(), 401);
    assert_eq!(
        app.get_auth(&sources, &app.token(Role::User))
            .await
            .status(),
        403
    );
    let r = app.get_auth(&sources, &app.token(Role::Operator)).await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["total"], 2, "detail and financials");
    let doc = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "company")
        .unwrap()
        .clone();
    assert_eq!(doc["http_status"], 200);

    // The raw document comes back byte for byte, with its content type.
    let raw = app
        .get_auth(
            &format!("/api/v1/sources/{}/raw", doc["id"]),
            &app.token(Role::Operator),
        )
        .await;
    assert_eq!(raw.status(), 200);
    assert!(
        raw.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let bytes = raw.bytes().await.unwrap();
    let original = reqwest::get(doc["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes, original);
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        doc["sha256"].as_str().unwrap()
    );
    assert_eq!(
        app.get_auth("/api/v1/sources/999999/raw", &app.token(Role::Operator))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_auth("/api/v1/sources/x/raw", &app.token(Role::Operator))
            .await
            .status(),
        404
    );
    let r = app
        .post_auth("/api/v1/transform", &app.token(Role::User), &json!({}))
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post_auth(
            "/api/v1/transform",
            &app.token(Role::Operator),
            &json!({"idno": "12"}),
        )
        .await;
    assert_eq!(r.status(), 422);
}

/// Every operator route checks the caller's role before it reads its path, query or
/// body, or looks anything up: a plain user gets 403 whether the id exists or not, so
/// ids cannot be probed.
#[tokio::test]
async fn operator_routes_refuse_a_plain_user_before_any_lookup() {
    let app = spawn_app(2).await;
    let summary = app.scrape(&app.spec()).await;
    let idno = app.site.companies()[0].idno.clone();
    let operator = app.token(Role::Operator);
    let sources: Value = app
        .get_auth(&format!("/api/v1/companies/{idno}/sources"), &operator)
        .await
        .json()
        .await
        .unwrap();
    let doc_id = sources["items"][0]["id"]
        .as_i64()
        .expect("a stored document");
    let run_id = summary.run_id;
    let user = app.token(Role::User);
    let reads = [
        // Existing, then unknown, malformed and out-of-range ids.
        format!("/api/v1/sources/{doc_id}/raw"),
        "/api/v1/sources/999999/raw".to_string(),
        "/api/v1/sources/x/raw".to_string(),
        "/api/v1/sources/99999999999999999999/raw".to_string(),
        format!("/api/v1/companies/{idno}/sources"),
        "/api/v1/companies/9999999999999/sources".to_string(),
        "/api/v1/companies/12/sources".to_string(),
        format!("/api/v1/companies/{idno}/sources?page=0"),
        format!("/api/v1/companies/{idno}/sources?bogus=1"),
        format!("/api/v1/scrape-runs/{run_id}"),
        format!("/api/v1/scrape-runs/{}", uuid::Uuid::new_v4()),
        "/api/v1/scrape-runs/x".to_string(),
        "/api/v1/scrape-runs".to_string(),
        "/api/v1/scrape-runs?status=bogus".to_string(),
        "/api/v1/scrape-runs?page=0".to_string(),
    ];
    for path in &reads {
        let r = app.get_auth(path, &user).await;
        assert_eq!(r.status(), 403, "GET {path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let spec = serde_json::to_value(app.spec()).unwrap();
    let writes = [
        ("/api/v1/transform", json!({})),
        ("/api/v1/transform", json!({"idno": "12"})),
        ("/api/v1/transform", json!({"bogus": true})),
        ("/api/v1/transform", json!([])),
        ("/internal/v1/runs", json!({"job": "nightly", "spec": spec})),
        (
            "/internal/v1/runs",
            json!({"job": "nightly", "spec": spec, "run_id": run_id}),
        ),
        ("/internal/v1/runs", json!({})),
    ];
    for (path, body) in &writes {
        let r = app.post_auth(path, &user, body).await;
        assert_eq!(r.status(), 403, "POST {path} {body}");
    }
    let r = app
        .http
        .post(app.url("/api/v1/transform"))
        .bearer_auth(&user)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a body that does not parse");
    // Nothing was started for the plain user.
    assert_eq!(app.count("SELECT count(*) FROM scrape_runs").await, 1);
}

#[tokio::test]
async fn a_run_started_over_http_is_followed_to_the_end() {
    let app = spawn_app(10).await;
    let spec = serde_json::to_value(app.spec()).unwrap();
    let r = app
        .post_auth(
            "/internal/v1/runs",
            &app.token(Role::Operator),
            &json!({"job": "nightly", "spec": spec}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let run_id = r.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = gleaner_testkit::eventually(Duration::from_secs(30), || async {
        let run: Value = app
            .get_auth(
                &format!("/api/v1/scrape-runs/{run_id}"),
                &app.token(Role::Operator),
            )
            .await
            .json()
            .await
            .ok()?;
        (run["status"] == "succeeded").then_some(run)
    })
    .await
    .unwrap();
    assert_eq!(run["job"], "nightly");
    assert_eq!(run["companies_created"], 10);
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
    let list: Value = app
        .get_auth(
            "/api/v1/scrape-runs?job=nightly",
            &app.token(Role::Operator),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    // Invalid specs are refused with the fields named.
    let r = app.post_auth("/internal/v1/runs", &app.token(Role::Operator), &json!({"job": "x", "spec": {"baseUrl": "nope", "apiUrl": "http://127.0.0.1:9", "targets": {}, "concurrency": 0}})).await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["spec.baseUrl", "spec.targets", "spec.concurrency"]);
    // The API is described.
    let spec: Value = app.get_json("/openapi.json").await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/companies",
        "/api/v1/companies/{idno}",
        "/api/v1/companies/{idno}/history",
        "/api/v1/companies/{idno}/financials",
        "/api/v1/companies/{idno}/sources",
        "/api/v1/sources/{id}/raw",
        "/api/v1/transform",
        "/api/v1/scrape-runs/{id}",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    // Metrics of the run.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"scraper_runs_total{result="succeeded",source="openmoney"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"scraper_companies_written_total{change="created",source="openmoney"} 10"#)
    );
    assert!(metrics.contains("scraper_documents_fetched_total{"));
    assert!(metrics.contains("scraper_fetch_duration_seconds_bucket{"));
}

#[tokio::test]
async fn the_run_command_is_what_a_job_executes() {
    let app = spawn_app(4).await;
    let dir = std::env::temp_dir().join(format!("gleaner-run-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let termination = dir.join("termination-log");
    let spec = serde_json::to_string(&app.spec()).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scraper"))
        .arg("run")
        .envs(LOOPBACK_EGRESS)
        .env("DATABASE_URL", &app.db_url)
        .env("SCRAPEJOB_SPEC", &spec)
        .env("SCRAPEJOB_NAME", "from-job")
        .env("SCRAPE_RUN_ID", "a1b2c3d4")
        .env(
            "TRACEPARENT",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .env("TERMINATION_LOG", &termination)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&termination).unwrap()).unwrap();
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["companies_created"], 4);
    let stdout: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(stdout, summary);
    // The same run id twice resumes the same run row: nothing duplicated.
    let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_scraper"))
        .arg("run")
        .envs(LOOPBACK_EGRESS)
        .env("DATABASE_URL", &app.db_url)
        .env("SCRAPEJOB_SPEC", &spec)
        .env("SCRAPE_RUN_ID", "a1b2c3d4")
        .env("TERMINATION_LOG", &termination)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(again.status.success());
    assert_eq!(app.count("SELECT count(*) FROM scrape_runs").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM companies").await, 4);
    // A bad spec fails fast, naming the setting.
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_scraper"))
        .arg("run")
        .env("DATABASE_URL", &app.db_url)
        .env("SCRAPEJOB_SPEC", "{}")
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SCRAPEJOB_SPEC"));
    let _ = std::fs::remove_dir_all(dir);
}
