//! `GET /api/v1/exports/companies`: each format's content against the companies API,
//! the snapshot, gzip, headers and bad input.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use gleaner_common::auth::Role;
use gleaner_scraper::names;
use serde_json::Value;

use crate::helpers::*;

const EXPORT: &str = "/api/v1/exports/companies";

/// An export's whole body, as text, after checking the status and headers.
async fn export(app: &TestApp, format: &str) -> String {
    let token = app.token(Role::User);
    let r = app
        .get_auth(&format!("{EXPORT}?format={format}"), &token)
        .await;
    assert_eq!(r.status(), 200, "format {format}");
    let (content_type, file) = match format {
        "csv" => ("text/csv; charset=utf-8", "companies.csv"),
        "ftm" => ("application/x-ndjson", "companies.ftm.json"),
        _ => ("application/x-ndjson", "companies.ndjson"),
    };
    assert_eq!(r.headers()["content-type"], content_type);
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"{file}\"").as_str()
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.text().await.expect("a UTF-8 body")
}

fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `v` with every number as a float, so `0` and `0.0` compare equal.
fn as_floats(v: Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
        Value::Array(a) => Value::Array(a.into_iter().map(as_floats).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, as_floats(v))).collect()),
        other => other,
    }
}

/// Parse RFC 4180 CSV (CRLF records, quoted fields with doubled quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => {
                assert!(
                    field.is_empty(),
                    "a quote inside an unquoted field: {field}"
                );
                quoted = true;
            }
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "a record ends with CRLF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("a bare LF outside quotes"),
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "an unterminated quoted field");
    assert!(
        field.is_empty() && row.is_empty(),
        "the last record ends with CRLF"
    );
    rows
}

/// A company whose name needs every kind of CSV quoting.
const AWKWARD: &str = "Vinăria \"Nord\", SRL\r\nsecond line\nthird";

async fn rename(app: &TestApp, idno: &str, name: &str) {
    sqlx::query("UPDATE companies SET name = $2 WHERE idno = $1")
        .bind(idno)
        .bind(name)
        .execute(&app.db)
        .await
        .expect("rename");
}

#[tokio::test]
async fn exports_need_a_token_and_a_known_format() {
    let app = spawn_app(1).await;
    let r = app.get(&format!("{EXPORT}?format=ndjson")).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let token = app.token(Role::User);
    for query in [
        "",
        "?format=",
        "?format=xml",
        "?format=NDJSON",
        "?format=csv&x=1",
    ] {
        let r = app.get_auth(&format!("{EXPORT}{query}"), &token).await;
        assert_eq!(r.status(), 422, "{query}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: Value = r.json().await.expect("a problem");
        let field = if query.contains("x=1") { "x" } else { "format" };
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    // An empty registry is a header-only CSV and empty NDJSON and FtM files.
    assert_eq!(
        export(&app, "csv").await,
        "idno,name,legal_form,status,registered_at,address,city,district,activity_codes,founders,administrators,updated_at\r\n"
    );
    assert_eq!(export(&app, "ndjson").await, "");
    assert_eq!(export(&app, "ftm").await, "");
    // The route is documented with its parameter and media types.
    let doc = app.get_json("/openapi.json").await;
    let op = &doc["paths"][EXPORT]["get"];
    assert_eq!(op["parameters"][0]["name"], "format");
    let content = &op["responses"]["200"]["content"];
    assert!(content["application/x-ndjson"].is_object(), "{op}");
    assert!(content["text/csv"].is_object(), "{op}");
}

#[tokio::test]
async fn ndjson_is_the_company_api_plus_financials_per_line() {
    let app = spawn_app(12).await;
    app.scrape(&app.spec()).await;
    let companies = lines(&export(&app, "ndjson").await);
    assert_eq!(companies.len(), 12);
    let idnos: Vec<&str> = companies
        .iter()
        .map(|c| c["idno"].as_str().expect("idno"))
        .collect();
    let mut sorted = idnos.clone();
    sorted.sort_unstable();
    assert_eq!(idnos, sorted, "in IDNO order");
    let mut with_financials = 0;
    for mut line in companies {
        let idno = line["idno"].as_str().expect("idno").to_owned();
        let financials = line
            .as_object_mut()
            .and_then(|o| o.remove("financials"))
            .expect("financials");
        // The same values (PostgreSQL writes a whole number without `.0`).
        assert_eq!(
            as_floats(financials.clone()),
            as_floats(
                app.get_json(&format!("/api/v1/companies/{idno}/financials"))
                    .await
            )
        );
        with_financials += usize::from(financials.as_array().is_some_and(|a| !a.is_empty()));
        assert_eq!(
            line,
            app.get_json(&format!("/api/v1/companies/{idno}")).await,
            "the line is the company JSON"
        );
    }
    assert!(with_financials > 0, "some companies report financials");
}

#[tokio::test]
async fn csv_is_one_quoted_row_per_company() {
    let app = spawn_app(12).await;
    app.scrape(&app.spec()).await;
    let awkward = app.site.companies()[3].idno.clone();
    rename(&app, awkward.as_str(), AWKWARD).await;
    let text = export(&app, "csv").await;
    assert!(!text.starts_with('\u{feff}'), "no byte-order mark");
    assert!(
        text.contains("\"Vinăria \"\"Nord\"\", SRL\r\nsecond line\nthird\""),
        "the awkward name quoted, its quotes doubled"
    );
    let rows = parse_csv(&text);
    assert_eq!(
        rows[0].join(","),
        "idno,name,legal_form,status,registered_at,address,city,district,activity_codes,founders,administrators,updated_at"
    );
    assert_eq!(rows.len(), 13, "a header and 12 companies");
    for row in &rows[1..] {
        assert_eq!(row.len(), 12, "{row:?}");
        let c = app.get_json(&format!("/api/v1/companies/{}", row[0])).await;
        let names = |key: &str, field: &str| {
            c[key]
                .as_array()
                .expect("a list")
                .iter()
                .map(|x| x[field].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join(";")
        };
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let expected = [
            text(&c["idno"]),
            text(&c["name"]),
            text(&c["legal_form"]),
            text(&c["status"]),
            text(&c["registered_at"]),
            text(&c["address"]["full"]),
            text(&c["address"]["city"]),
            text(&c["address"]["district"]),
            names("activities", "code"),
            names("founders", "name"),
            names("administrators", "name"),
            text(&c["updated_at"]),
        ];
        assert_eq!(row.as_slice(), expected.as_slice());
    }
    assert!(rows.iter().any(|r| r[1] == AWKWARD));
}

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

/// Run scripts/check-ftm.py over `body` (the followthemoney library validates every
/// entity and reference). Skipped, saying so, only outside CI without the library.
fn check_with_followthemoney(body: &str) {
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
    let dir = std::env::temp_dir().join(format!("gleaner-ftm-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("companies.ftm.json");
    std::fs::write(&file, body).expect("the export written");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check-ftm.py");
    let out = std::process::Command::new(python)
        .arg(script)
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
}

#[tokio::test]
async fn ftm_entities_are_valid_linked_and_written_once() {
    let app = spawn_app(30).await;
    app.scrape(&app.spec()).await;
    let body = export(&app, "ftm").await;
    let entities = lines(&body);
    let by_id: HashMap<&str, &Value> = entities
        .iter()
        .map(|e| (e["id"].as_str().expect("an id"), e))
        .collect();
    assert_eq!(by_id.len(), entities.len(), "every entity once");

    let companies: Vec<Value> = lines(&export(&app, "ndjson").await);
    assert_eq!(
        entities
            .iter()
            .filter(|e| e["schema"] == "Company"
                && e["id"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("md-company-"))
                && e["properties"]["modifiedAt"].is_array())
            .count(),
        companies.len(),
        "one Company per company of the registry"
    );
    let people: HashSet<String> = companies
        .iter()
        .flat_map(|c| {
            let founders = c["founders"].as_array().cloned().unwrap_or_default();
            let admins = c["administrators"].as_array().cloned().unwrap_or_default();
            founders.into_iter().chain(admins)
        })
        .filter(|h| h["kind"].as_str().unwrap_or("person") == "person")
        .filter_map(|h| names::person_id(h["name"].as_str().unwrap_or_default()))
        .collect();
    assert!(!people.is_empty());
    let persons: HashSet<&str> = entities
        .iter()
        .filter(|e| e["schema"] == "Person")
        .filter_map(|e| e["id"].as_str()?.strip_prefix("md-person-"))
        .collect();
    assert_eq!(
        persons,
        people.iter().map(String::as_str).collect(),
        "one Person per person, with the people API's id"
    );
    for id in people.iter().take(3) {
        let person = app.get_json(&format!("/api/v1/people/{id}")).await;
        assert_eq!(
            by_id[format!("md-person-{id}").as_str()]["properties"]["name"][0],
            person["name"],
            "named as the people API names them"
        );
    }

    // Each company's founders and administrators, as ownerships and directorships.
    for c in &companies {
        let id = format!("md-company-{}", c["idno"].as_str().expect("idno"));
        let company = by_id[id.as_str()];
        assert_eq!(company["properties"]["name"][0], c["name"]);
        assert_eq!(company["properties"]["registrationNumber"][0], c["idno"]);
        assert_eq!(company["properties"]["jurisdiction"][0], "md");
        let owners: HashSet<&str> = entities
            .iter()
            .filter(|e| e["schema"] == "Ownership" && e["properties"]["asset"][0] == id.as_str())
            .filter_map(|e| e["properties"]["owner"][0].as_str())
            .collect();
        let founders = c["founders"].as_array().expect("founders");
        let person_founders: HashSet<String> = founders
            .iter()
            .filter(|f| f["kind"] == "person")
            .filter_map(|f| names::person_id(f["name"].as_str()?))
            .map(|p| format!("md-person-{p}"))
            .collect();
        assert!(
            person_founders.iter().all(|p| owners.contains(p.as_str())),
            "{id}: {owners:?} {person_founders:?}"
        );
        let company_founders = founders.iter().filter(|f| f["kind"] == "company").count();
        assert_eq!(
            owners.len(),
            person_founders.len() + company_founders,
            "{id}: one ownership per founder"
        );
        let directors = entities
            .iter()
            .filter(|e| {
                e["schema"] == "Directorship" && e["properties"]["organization"][0] == id.as_str()
            })
            .count();
        let admins = c["administrators"]
            .as_array()
            .expect("administrators")
            .len();
        assert!(
            directors <= admins && (admins == 0) == (directors == 0),
            "{id}"
        );
    }

    // A founding company the relations link to a company of the registry is that company.
    let linked: Vec<(String, String)> = sqlx::query_as(
        "SELECT idno, holder_company FROM company_roles_linked \
         WHERE role = 'founder' AND holder_company IN (SELECT idno FROM companies)",
    )
    .fetch_all(&app.db)
    .await
    .expect("links");
    for (idno, holder) in &linked {
        let asset = format!("md-company-{idno}");
        let owner = format!("md-company-{holder}");
        assert!(
            entities.iter().any(|e| e["schema"] == "Ownership"
                && e["properties"]["asset"][0] == asset.as_str()
                && e["properties"]["owner"][0] == owner.as_str()),
            "{owner} owns {asset}"
        );
    }

    // The same registry exports the same entities: ids are stable.
    assert_eq!(export(&app, "ftm").await, body);
    check_with_followthemoney(&body);
}

/// `n` made-up companies with IDNOs from `from` up, each with a founder and a long
/// address, inserted straight into the table (many, quickly).
async fn insert_companies(app: &TestApp, from: i64, n: i64) {
    sqlx::query(
        "INSERT INTO companies (idno, name, legal_form, status, registered_at, address, activities, \
           founders, administrators, source_url, source_fetched_at, parser_version) \
         SELECT lpad((i)::text, 13, '0'), 'Made Up ' || i || ' SRL', 'SRL', 'active', DATE '2001-02-03', \
           jsonb_build_object('full', repeat('Strada Lungă ', 40) || i, 'city', 'Chișinău'), \
           '[{\"code\": \"47.73\", \"name\": \"Retail\", \"licensed\": false}]', \
           jsonb_build_array(jsonb_build_object('name', 'Ion Popescu ' || (i % 50), 'kind', 'person', 'share', 100)), \
           '[]', 'http://127.0.0.1/c/' || i, now(), 3 \
         FROM generate_series($1::bigint, $1::bigint + $2::bigint - 1) AS i",
    )
    .bind(from)
    .bind(n)
    .execute(&app.db)
    .await
    .expect("companies inserted");
}

#[tokio::test]
async fn an_export_reads_one_snapshot() {
    let app = spawn_app(1).await;
    // Several batches, and more bytes than the channel and socket buffers hold, so the
    // export is still reading when the change commits.
    insert_companies(&app, 1_000_000_000_000, 6_000).await;
    let last = "1000000005999";
    let token = app.token(Role::User);
    for format in ["ndjson", "csv", "ftm"] {
        let mut r = app
            .get_auth(&format!("{EXPORT}?format={format}"), &token)
            .await;
        assert_eq!(r.status(), 200);
        let mut body = r
            .chunk()
            .await
            .expect("a first chunk")
            .expect("bytes")
            .to_vec();
        // Committed while the export streams: a company's name and status change
        // together, a company is added, another removed.
        let mut tx = app.db.begin().await.expect("a transaction");
        sqlx::query(
            "UPDATE companies SET name = 'Changed SRL', status = 'inactive' WHERE idno = $1",
        )
        .bind(last)
        .execute(&mut *tx)
        .await
        .expect("update");
        sqlx::query("DELETE FROM companies WHERE idno = '1000000005998'")
            .execute(&mut *tx)
            .await
            .expect("delete");
        tx.commit().await.expect("commit");
        insert_companies(&app, 1_000_000_006_000, 1).await;
        while let Some(chunk) = r.chunk().await.expect("the rest") {
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).expect("UTF-8");
        assert!(
            !text.contains("Changed SRL"),
            "{format}: the change is wholly out"
        );
        assert!(text.contains("Made Up 1000000005999 SRL"), "{format}");
        assert!(
            text.contains("1000000005998"),
            "{format}: the removed company is still in"
        );
        assert!(
            !text.contains("1000000006000"),
            "{format}: the added company is out"
        );
        match format {
            "ndjson" => {
                let companies = lines(&text);
                assert_eq!(companies.len(), 6_000);
                let c = companies.last().expect("the last company");
                assert_eq!(
                    (c["name"].as_str(), c["status"].as_str()),
                    (Some("Made Up 1000000005999 SRL"), Some("active"))
                );
            }
            "csv" => assert_eq!(parse_csv(&text).len(), 6_001),
            _ => {
                let entities = lines(&text);
                let count =
                    |schema: &str| entities.iter().filter(|e| e["schema"] == schema).count();
                assert_eq!(
                    (count("Company"), count("Ownership"), count("Person")),
                    (6_000, 6_000, 50)
                );
            }
        }
        // Put the registry back for the next format.
        sqlx::query("DELETE FROM companies WHERE idno = '1000000006000'")
            .execute(&app.db)
            .await
            .expect("delete");
        insert_companies(&app, 1_000_000_005_998, 1).await;
        sqlx::query("UPDATE companies SET name = 'Made Up ' || $1 || ' SRL', status = 'active' WHERE idno = $1")
            .bind(last)
            .execute(&app.db)
            .await
            .expect("restore");
    }
}

#[tokio::test]
async fn gzip_when_accepted_still_streamed() {
    let app = spawn_app(1).await;
    insert_companies(&app, 2_000_000_000_000, 1_200).await;
    let token = app.token(Role::User);
    let plain = export(&app, "ndjson").await;
    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("a client");
    let r = raw
        .get(app.url(&format!("{EXPORT}?format=ndjson")))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(
        r.headers().get("content-length").is_none(),
        "streamed, no length"
    );
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"companies.ndjson\""
    );
    let compressed = r.bytes().await.expect("the body");
    assert_eq!(&compressed[..2], [0x1f, 0x8b], "gzip magic");
    assert!(
        compressed.len() * 5 < plain.len(),
        "compressed: {} of {}",
        compressed.len(),
        plain.len()
    );
    // Not accepted: not compressed.
    let r = raw
        .get(app.url(&format!("{EXPORT}?format=csv")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert!(r.headers().get("content-encoding").is_none());
    // Decompressed (reqwest's gzip), the same file.
    let gz = reqwest::Client::builder()
        .gzip(true)
        .build()
        .expect("a client");
    let r = gz
        .get(app.url(&format!("{EXPORT}?format=ndjson")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.text().await.expect("the body"), plain);
}
