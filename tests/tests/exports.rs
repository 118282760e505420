//! Bulk exports through the gateway: an operator's job scrapes the demo site, then a
//! signed-in user downloads the registry as NDJSON, CSV and FollowTheMoney entities,
//! plain and gzip-compressed; the FtM file is checked with the followthemoney library.

use std::path::PathBuf;
use std::time::Duration;

use gleaner_demo_site::DemoConfig;
use gleaner_e2e::{Stack, workspace_root};
use gleaner_testkit::eventually;
use reqwest::StatusCode;
use serde_json::{Value, json};

const EXPORT: &str = "/api/v1/exports/companies";

/// The python of the virtualenv scripts/install-tools.sh puts followthemoney in.
fn ftm_python() -> Option<PathBuf> {
    let tools = std::env::var_os("GLEANER_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gleaner/tools"))
        })?;
    let python = tools.join("ftm/bin/python");
    python.exists().then_some(python)
}

async fn login(http: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
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

#[tokio::test]
async fn exports_through_the_gateway() {
    let stack = Stack::start(DemoConfig {
        seed: rand::random_range(1_000..u64::MAX / 2),
        companies: 12,
        ..DemoConfig::default()
    })
    .await
    .expect("the stack");
    let base = stack.gateway.clone();
    let http = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("a client");
    let admin = login(&http, &base, &stack.admin.0, &stack.admin.1).await;

    // A signed-in user.
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let username = format!("e2e_export_{suffix}");
    let password = "a long e2e passphrase";
    let r = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": format!("{username}@example.md"), "username": username, "password": password}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let user = login(&http, &base, &username, password).await;

    // An operator's job scrapes the demo site once (a job without a schedule runs when created).
    let site = stack.demo.url();
    let job = format!("e2e-export-{suffix}");
    let r = http
        .post(format!("{base}/api/v1/scrape-jobs"))
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
    let run = eventually(Duration::from_secs(120), || {
        let (http, base, admin, job) = (&http, &base, &admin, &job);
        async move {
            let runs: Value = http
                .get(format!("{base}/api/v1/scrape-runs?job={job}"))
                .bearer_auth(admin)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let run = runs["items"][0].clone();
            matches!(run["status"].as_str(), Some("succeeded" | "failed")).then_some(run)
        }
    })
    .await
    .expect("the job's run ends");
    assert_eq!(run["status"], "succeeded", "{run}");
    let ours: Vec<String> = stack
        .demo
        .control()
        .companies()
        .iter()
        .map(|c| c.idno.as_str().to_owned())
        .collect();

    let get = |format: &str, token: Option<&str>, gzip: bool| {
        let mut request = http.get(format!("{base}{EXPORT}?format={format}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        request.send()
    };

    // No token: 401 at the gateway; a bad format: 422 naming it.
    let r = get("ndjson", None, false).await.expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = get("pdf", Some(&user), false).await.expect("request");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.expect("a problem");
    assert_eq!(problem["errors"][0]["field"], "format", "{problem}");

    // NDJSON: one company per line, each with its financials.
    let r = get("ndjson", Some(&user), false).await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"companies.ndjson\""
    );
    let ndjson = r.text().await.expect("the body");
    let companies: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    for idno in &ours {
        let c = companies
            .iter()
            .find(|c| c["idno"] == idno.as_str())
            .unwrap_or_else(|| panic!("{idno} in the export"));
        assert!(
            c["financials"].is_array() && c["source"]["url"].is_string(),
            "{c}"
        );
    }
    if stack.is_local() {
        assert_eq!(companies.len(), ours.len());
    }

    // gzip through the gateway (the scraper's tests check the decompressed file).
    let r = get("ndjson", Some(&user), true).await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let compressed = r.bytes().await.expect("the body");
    assert_eq!(&compressed[..2], [0x1f, 0x8b]);
    assert!(
        compressed.len() < ndjson.len(),
        "compressed: {} of {} bytes",
        compressed.len(),
        ndjson.len()
    );

    // CSV: a header row and a row per company.
    let r = get("csv", Some(&user), false).await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.expect("the body");
    assert!(csv.starts_with(
        "idno,name,legal_form,status,registered_at,address,city,district,activity_codes,founders,administrators,updated_at\r\n"
    ));
    for idno in &ours {
        assert!(csv.contains(&format!("\r\n{idno},")), "{idno} has a row");
    }

    // FtM: every line an entity the followthemoney library accepts, references resolved.
    let r = get("ftm", Some(&user), false).await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"companies.ftm.json\""
    );
    let ftm = r.text().await.expect("the body");
    for idno in &ours {
        assert!(
            ftm.contains(&format!(
                "\"id\":\"md-company-{idno}\",\"schema\":\"Company\""
            )),
            "{idno} is a Company"
        );
    }
    assert!(ftm.contains("\"schema\":\"Person\""));
    assert!(ftm.contains("\"schema\":\"Ownership\""));
    let Some(python) = ftm_python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "followthemoney is not installed: scripts/install-tools.sh installs it"
        );
        eprintln!(
            "SKIPPED the followthemoney check: no ~/.cache/gleaner/tools/ftm (run scripts/install-tools.sh)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("gleaner-e2e-ftm-{suffix}"));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("companies.ftm.json");
    std::fs::write(&file, &ftm).expect("the export written");
    let out = std::process::Command::new(python)
        .arg(workspace_root().join("scripts/check-ftm.py"))
        .arg(&file)
        .output()
        .expect("check-ftm.py runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "followthemoney refuses the export: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
}
