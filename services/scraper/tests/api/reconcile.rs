//! The reconciliation service (`/api/v1/reconcile`): the shapes the W3C reconciliation
//! API 0.2 gives (manifest, result batch, suggest, data extension, property proposals),
//! how candidates are scored, OpenRefine's form-encoded requests, and bad input.

use bytes::Bytes;
use gleaner_scrapejob::Idno;
use gleaner_scraper::company::{
    Address, Administrator, CompanyRecord, Founder, FounderKind, Status,
};
use gleaner_scraper::fetch::Fetched;
use gleaner_scraper::names;
use gleaner_scraper::source::DocumentKind;
use gleaner_scraper::store::companies::{self, Provenance};
use gleaner_scraper::store::raw::{self, Stored};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const NORD: &str = "1000000000001";
const NORDULUI: &str = "1000000000002";
const AGRO_CHISINAU: &str = "1000000000003";
const AGRO_BALTI: &str = "1000000000004";
const SCRIPT: &str = "1000000000005";
const STEFAN: &str = "1000000000006";

fn record(idno: &str, name: &str, city: &str, legal_form: &str) -> CompanyRecord {
    CompanyRecord {
        idno: Idno::parse(idno).expect("an IDNO"),
        name: name.to_string(),
        legal_form: Some(legal_form.to_string()),
        status: Status::Active,
        registered_at: chrono::NaiveDate::from_ymd_opt(2015, 3, 14),
        address: Address {
            full: Some(format!("str. Ștefan cel Mare 1, {city}")),
            city: Some(city.to_string()),
            ..Address::default()
        },
        activities: vec![],
        founders: vec![],
        administrators: vec![],
    }
}

/// Store a company as the Transform does (raw document, then the upsert that also
/// writes its search row, people and roles).
async fn put(app: &TestApp, record: &CompanyRecord) {
    let body = Bytes::from(serde_json::to_vec(record).expect("JSON"));
    let url = format!("http://registry.invalid/companies/{}", record.idno.as_str());
    let doc = Fetched {
        status: 200,
        content_type: Some("application/json".into()),
        etag: None,
        last_modified: None,
        headers: json!({}),
        body,
    };
    let id = match raw::store(
        &app.db,
        &url,
        DocumentKind::Company,
        Some(record.idno.as_str()),
        &doc,
        None,
    )
    .await
    .expect("raw document stored")
    {
        Stored::New(id) | Stored::Unchanged(id) => id,
    };
    let from = Provenance {
        url: &url,
        fetched_at: chrono::Utc::now(),
        document_id: id,
        parser_version: 1,
        run_id: None,
        shard: None,
    };
    companies::upsert(&app.db, record, &from)
        .await
        .expect("company stored");
}

/// A registry with a unique name and a near one, two namesakes in different cities, a
/// name with markup, a name spelled with cedillas, and people.
async fn registry() -> TestApp {
    let app = spawn_app(1).await;
    let mut nord = record(NORD, "Vinăria Nord SRL", "Chișinău", "SRL");
    nord.founders = vec![
        Founder {
            name: "Ion Popescu".into(),
            kind: FounderKind::Person,
            share: Some(60.0),
            idno: None,
        },
        Founder {
            name: "Moldova Agro SA".into(),
            kind: FounderKind::Company,
            share: Some(40.0),
            idno: Some(Idno::parse(AGRO_CHISINAU).expect("an IDNO")),
        },
    ];
    nord.administrators = vec![Administrator {
        name: "Doina Bivol".into(),
        role: Some("Administrator".into()),
        kind: FounderKind::Person,
        idno: None,
    }];
    put(&app, &nord).await;
    put(
        &app,
        &record(NORDULUI, "Vinăria Nordului SRL", "Bălți", "SRL"),
    )
    .await;
    put(
        &app,
        &record(AGRO_CHISINAU, "Moldova Agro SA", "Chișinău", "SA"),
    )
    .await;
    put(&app, &record(AGRO_BALTI, "Moldova Agro SA", "Bălți", "SA")).await;
    put(
        &app,
        &record(
            SCRIPT,
            "<script>alert('x')</script> & Co SRL",
            "Orhei",
            "SRL",
        ),
    )
    .await;
    // S and T with a cedilla (U+015F, U+0163), as older documents write them.
    put(
        &app,
        &record(
            STEFAN,
            "\u{015E}tef\u{0103}ne\u{0219}ti Prim \u{0162}ara SRL",
            "Cahul",
            "SRL",
        ),
    )
    .await;
    app
}

/// The content type OpenRefine sends its queries with.
const FORM: &str = "application/x-www-form-urlencoded; charset=UTF-8";

/// A form body of one field.
fn form(field: &str, value: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(field, value)
        .finish()
}

async fn post_json(app: &TestApp, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/reconcile"))
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Reconcile one query, expecting 200; its candidates.
async fn reconcile_one(app: &TestApp, query: Value) -> Vec<Value> {
    let r = post_json(app, &json!({"queries": {"q0": query}})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("JSON");
    assert_result_batch(&body, &["q0"]);
    body["q0"]["result"].as_array().cloned().unwrap_or_default()
}

/// The reconciliation result batch shape (0.2): per key `{result: [...]}`, each candidate
/// with a string id and name, a numeric score, a boolean match, types as `{id, name}`,
/// features as `{id, value}` with boolean or numeric values; sorted by decreasing score.
fn assert_result_batch(body: &Value, keys: &[&str]) {
    let batch = body.as_object().expect("an object");
    assert_eq!(batch.len(), keys.len(), "{body}");
    for key in keys {
        let result = batch[*key]["result"].as_array().expect("result array");
        let mut last = f64::INFINITY;
        for c in result {
            assert!(c["id"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
            assert!(c["name"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
            let score = c["score"].as_f64().expect("numeric score");
            assert!((0.0..=100.0).contains(&score), "{c}");
            assert!(score <= last, "sorted by decreasing score: {body}");
            last = score;
            assert!(c["match"].is_boolean(), "{c}");
            assert!(c["description"].is_string(), "{c}");
            for t in c["type"].as_array().expect("types") {
                assert!(
                    matches!(t["id"].as_str(), Some("Company" | "Person")),
                    "{c}"
                );
                assert!(t["name"].is_string());
            }
            for f in c["features"].as_array().expect("features") {
                assert!(f["id"].is_string(), "{c}");
                assert!(f["value"].is_boolean() || f["value"].is_number(), "{c}");
            }
        }
    }
}

fn feature(c: &Value, id: &str) -> Value {
    c["features"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["id"] == id))
        .map(|f| f["value"].clone())
        .unwrap_or(Value::Null)
}

fn ids(candidates: &[Value]) -> Vec<&str> {
    candidates.iter().filter_map(|c| c["id"].as_str()).collect()
}

async fn assert_problem(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap_or(""),
        "application/problem+json"
    );
    r.json().await.expect("a problem body")
}

#[tokio::test]
async fn the_manifest_has_the_spec_fields_with_urls_of_the_host_the_client_used() {
    let app = spawn_app(1).await;
    let r = app
        .http
        .get(app.url("/api/v1/reconcile"))
        .header("x-forwarded-host", "gleaner.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let m: Value = r.json().await.expect("JSON");
    assert!(
        m["versions"]
            .as_array()
            .expect("versions")
            .contains(&json!("0.2"))
    );
    for field in ["name", "identifierSpace", "schemaSpace"] {
        assert!(m[field].as_str().is_some_and(|s| !s.is_empty()), "{field}");
    }
    let types: Vec<&str> = m["defaultTypes"]
        .as_array()
        .expect("defaultTypes")
        .iter()
        .map(|t| {
            assert!(t["name"].is_string());
            t["id"].as_str().unwrap_or("")
        })
        .collect();
    assert_eq!(types, ["Company", "Person"]);
    let base = "https://gleaner.example/api/v1";
    assert_eq!(m["view"]["url"], format!("{base}/companies/{{{{id}}}}"));
    assert_eq!(
        m["preview"]["url"],
        format!("{base}/reconcile/preview?id={{{{id}}}}")
    );
    assert!(m["preview"]["width"].is_u64() && m["preview"]["height"].is_u64());
    let suggest = &m["suggest"]["entity"];
    assert_eq!(
        format!(
            "{}{}",
            suggest["service_url"].as_str().unwrap_or(""),
            suggest["service_path"].as_str().unwrap_or("")
        ),
        format!("{base}/reconcile/suggest/entity")
    );
    let propose = &m["extend"]["propose_properties"];
    assert_eq!(
        format!(
            "{}{}",
            propose["service_url"].as_str().unwrap_or(""),
            propose["service_path"].as_str().unwrap_or("")
        ),
        format!("{base}/reconcile/properties")
    );
    for setting in m["extend"]["property_settings"]
        .as_array()
        .expect("settings")
    {
        assert!(matches!(
            setting["type"].as_str(),
            Some("number" | "text" | "checkbox" | "select")
        ));
        assert!(setting["label"].is_string() && setting["name"].is_string());
    }
    assert_eq!(m["batchSize"], 50);

    // Without a proxy: the Host the request reached.
    let m = app.get_json("/api/v1/reconcile").await;
    assert_eq!(
        m["view"]["url"],
        format!("{}/api/v1/companies/{{{{id}}}}", app.base)
    );
}

#[tokio::test]
async fn an_exact_idno_is_a_match_with_score_100() {
    let app = registry().await;
    let found = reconcile_one(
        &app,
        json!({"query": "Vinaria", "properties": [{"pid": "idno", "v": NORDULUI}]}),
    )
    .await;
    assert_eq!(found[0]["id"], NORDULUI);
    assert_eq!(found[0]["score"], 100.0);
    assert_eq!(found[0]["match"], true);
    assert_eq!(feature(&found[0], "idno_exact"), true);
    assert!(found[1..].iter().all(|c| c["match"] == false));

    // The IDNO as the query string, and as a number in a list of values.
    let found = reconcile_one(&app, json!({"query": AGRO_BALTI})).await;
    assert_eq!(found[0]["id"], AGRO_BALTI);
    assert_eq!(found[0]["match"], true);
    let found = reconcile_one(
        &app,
        json!({"properties": [{"pid": "idno", "v": [1000000000003_u64]}]}),
    )
    .await;
    assert_eq!(ids(&found), [AGRO_CHISINAU]);
    assert_eq!(found[0]["score"], 100.0);
}

#[tokio::test]
async fn a_unique_exact_name_ranks_first_and_high_and_near_names_rank_lower() {
    let app = registry().await;
    // Accents and case left out, as spreadsheets often have them.
    let found = reconcile_one(
        &app,
        json!({"query": "VINARIA NORD SRL", "type": "Company"}),
    )
    .await;
    assert_eq!(found[0]["id"], NORD);
    assert_eq!(found[0]["match"], true);
    assert_eq!(feature(&found[0], "name_exact"), true);
    assert_eq!(feature(&found[0], "name_unique"), true);
    let first = found[0]["score"].as_f64().unwrap_or(0.0);
    assert!(first >= 90.0, "{first}");
    let near = found
        .iter()
        .find(|c| c["id"] == NORDULUI)
        .expect("the near name is a candidate");
    assert_eq!(near["match"], false);
    assert_eq!(feature(near, "name_exact"), false);
    let near_score = near["score"].as_f64().unwrap_or(100.0);
    assert!(near_score <= first - 10.0, "{near_score} vs {first}");
    assert!(feature(near, "name_similarity").as_f64().unwrap_or(0.0) > 0.3);

    // A near spelling alone: found, not a match, below the exact score.
    let found = reconcile_one(&app, json!({"query": "Vinaria Nordul", "type": "Company"})).await;
    assert!(ids(&found).contains(&NORDULUI), "{found:?}");
    assert!(found.iter().all(|c| c["match"] == false));
    assert!(
        found
            .iter()
            .all(|c| c["score"].as_f64().unwrap_or(100.0) < 90.0)
    );
}

#[tokio::test]
async fn comma_and_cedilla_spellings_find_each_other() {
    let app = registry().await;
    // Stored with Ş/ţ (cedilla) and ș (comma); asked with commas and no marks.
    for query in [
        "\u{0218}tef\u{0103}ne\u{0219}ti Prim \u{021A}ara SRL",
        "Stefanesti Prim Tara SRL",
    ] {
        let found = reconcile_one(&app, json!({"query": query})).await;
        assert_eq!(found[0]["id"], STEFAN, "{query}");
        assert_eq!(found[0]["match"], true, "{query}");
    }
}

#[tokio::test]
async fn the_city_and_legal_form_tell_namesakes_apart() {
    let app = registry().await;
    // Two companies of one name: neither is a match on the name alone.
    let found = reconcile_one(&app, json!({"query": "Moldova Agro SA"})).await;
    let top: Vec<&str> = ids(&found).into_iter().take(2).collect();
    assert!(
        top.contains(&AGRO_CHISINAU) && top.contains(&AGRO_BALTI),
        "{found:?}"
    );
    assert!(found.iter().all(|c| c["match"] == false));
    assert_eq!(feature(&found[0], "name_unique"), false);

    // The city puts the one there first, as a match; the other scores lower.
    for (city, there, elsewhere) in [
        ("Balti", AGRO_BALTI, AGRO_CHISINAU),
        ("chișinău", AGRO_CHISINAU, AGRO_BALTI),
    ] {
        let found = reconcile_one(
            &app,
            json!({"query": "Moldova Agro SA", "properties": [{"pid": "city", "v": city}]}),
        )
        .await;
        assert_eq!(found[0]["id"], there, "{city}");
        assert_eq!(found[0]["match"], true);
        assert_eq!(feature(&found[0], "city_match"), true);
        let other = found
            .iter()
            .find(|c| c["id"] == elsewhere)
            .expect("the other");
        assert_eq!(feature(other, "city_match"), false);
        assert!(other["score"].as_f64() < found[0]["score"].as_f64());
    }

    // A legal form that disagrees lowers the score and is not a match.
    let plain = reconcile_one(&app, json!({"query": "Vinaria Nord SRL"})).await;
    let wrong = reconcile_one(
        &app,
        json!({"query": "Vinaria Nord SRL", "properties": [{"pid": "legal_form", "v": {"id": "SA", "name": "SA"}}]}),
    )
    .await;
    let score_of = |list: &[Value]| {
        list.iter()
            .find(|c| c["id"] == NORD)
            .and_then(|c| c["score"].as_f64())
            .unwrap_or(0.0)
    };
    assert!(score_of(&wrong) < score_of(&plain));
    assert_eq!(feature(&wrong[0], "legal_form_match"), false);
    assert!(wrong.iter().all(|c| c["match"] == false));
}

#[tokio::test]
async fn people_are_found_by_name_in_any_order_and_types_narrow() {
    let app = registry().await;
    let popescu = names::person_id("Ion Popescu").expect("an id");
    let found = reconcile_one(&app, json!({"query": "POPESCU ion", "type": "Person"})).await;
    assert_eq!(found[0]["id"], popescu.as_str());
    assert_eq!(found[0]["type"][0]["id"], "Person");
    assert_eq!(found[0]["match"], true);
    assert!(found.iter().all(|c| c["type"][0]["id"] == "Person"));

    // A near spelling of a person: found, not a match.
    let found = reconcile_one(&app, json!({"query": "Doina Bivolu", "type": ["Person"]})).await;
    assert_eq!(
        found[0]["id"],
        names::person_id("Doina Bivol").expect("an id").as_str()
    );
    assert_eq!(found[0]["match"], false);

    // Companies only: no person, however close.
    let found = reconcile_one(&app, json!({"query": "Ion Popescu", "type": "Company"})).await;
    assert!(found.iter().all(|c| c["type"][0]["id"] == "Company"));

    // `limit` is honoured.
    let found = reconcile_one(&app, json!({"query": "Vinaria", "limit": 1})).await;
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn openrefine_form_encoded_queries_and_extend_are_answered() {
    let app = registry().await;
    let queries = json!({
        "q0": {"query": "Vinaria Nord SRL", "type": "Company", "type_strict": "should",
               "properties": [{"pid": "city", "v": "Chisinau"}]},
        "q1": {"query": "Moldova Agro SA", "type": "Company", "limit": 3},
    });
    let r = app
        .http
        .post(app.url("/api/v1/reconcile"))
        .header("content-type", FORM)
        .body(form("queries", &queries.to_string()))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("JSON");
    assert_result_batch(&body, &["q0", "q1"]);
    assert_eq!(body["q0"]["result"][0]["id"], NORD);
    assert_eq!(body["q0"]["result"][0]["match"], true);
    assert!(body["q1"]["result"].as_array().map_or(0, Vec::len) <= 3);

    let extend = json!({"ids": [NORD], "properties": [{"id": "name"}, {"id": "city"}]});
    let r = app
        .http
        .post(app.url("/api/v1/reconcile"))
        .header("content-type", FORM)
        .body(form("extend", &extend.to_string()))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(
        body["rows"][NORD]["name"],
        json!([{"str": "Vinăria Nord SRL"}])
    );
    assert_eq!(body["rows"][NORD]["city"], json!([{"str": "Chișinău"}]));
}

#[tokio::test]
async fn data_extension_returns_meta_and_rows_as_the_spec_shapes_them() {
    let app = registry().await;
    let popescu = names::person_id("Ion Popescu").expect("an id");
    let properties: Vec<Value> = [
        "idno",
        "name",
        "status",
        "legal_form",
        "registered_at",
        "city",
        "founders",
        "administrators",
    ]
    .iter()
    .map(|p| json!({"id": p}))
    .collect();
    let r = post_json(
        &app,
        &json!({"extend": {"ids": [NORD, popescu, "9999999999999"], "properties": properties}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("JSON");
    let meta = body["meta"].as_array().expect("meta");
    assert_eq!(meta.len(), 8);
    assert!(
        meta.iter()
            .all(|m| m["id"].is_string() && m["name"].is_string())
    );
    let rows = body["rows"].as_object().expect("rows");
    assert_eq!(rows.len(), 3);
    // Every value is one of the spec's shapes.
    for (id, row) in rows {
        for (property, values) in row.as_object().expect("a row") {
            for v in values.as_array().expect("values") {
                let keys: Vec<&str> = v
                    .as_object()
                    .expect("object")
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert!(
                    matches!(
                        keys.as_slice(),
                        ["str"] | ["date"] | ["int"] | ["float"] | ["id", "name"] | ["name", "id"]
                    ),
                    "{id} {property}: {v}"
                );
            }
        }
    }
    let nord = &body["rows"][NORD];
    assert_eq!(nord["idno"], json!([{"str": NORD}]));
    assert_eq!(nord["status"], json!([{"str": "active"}]));
    assert_eq!(nord["legal_form"], json!([{"str": "SRL"}]));
    assert_eq!(
        nord["registered_at"],
        json!([{"date": "2015-03-14T00:00:00Z"}])
    );
    assert_eq!(
        nord["founders"],
        json!([
            {"id": popescu, "name": "Ion Popescu"},
            {"id": AGRO_CHISINAU, "name": "Moldova Agro SA"},
        ])
    );
    assert_eq!(
        nord["administrators"],
        json!([{"id": names::person_id("Doina Bivol"), "name": "Doina Bivol"}])
    );
    assert_eq!(
        body["rows"][popescu.as_str()]["name"],
        json!([{"str": "Ion Popescu"}])
    );
    assert_eq!(body["rows"][popescu.as_str()]["city"], json!([]));
    assert_eq!(body["rows"]["9999999999999"]["name"], json!([]));

    // The limit setting, as OpenRefine sends it (a string).
    let r = post_json(
        &app,
        &json!({"extend": {"ids": [NORD], "properties": [{"id": "founders", "settings": {"limit": "1"}}]}}),
    )
    .await;
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(
        body["rows"][NORD]["founders"].as_array().map(Vec::len),
        Some(1)
    );

    // Property proposals.
    let p = app
        .get_json("/api/v1/reconcile/properties?type=Company")
        .await;
    assert_eq!(p["type"], "Company");
    let offered: Vec<&str> = p["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(
        offered,
        [
            "idno",
            "name",
            "status",
            "legal_form",
            "registered_at",
            "city",
            "founders",
            "administrators"
        ]
    );
    let p = app
        .get_json("/api/v1/reconcile/properties?type=Company&limit=2")
        .await;
    assert_eq!(p["properties"].as_array().map(Vec::len), Some(2));
    assert_eq!(p["limit"], 2);
    let p = app
        .get_json("/api/v1/reconcile/properties?type=Person")
        .await;
    assert_eq!(p["properties"][0]["id"], "name");
    assert_problem(app.get("/api/v1/reconcile/properties").await, 422).await;
    assert_problem(
        app.get("/api/v1/reconcile/properties?type=Thing").await,
        422,
    )
    .await;
}

#[tokio::test]
async fn suggest_completes_names_words_and_idnos() {
    let app = registry().await;
    let s = app
        .get_json("/api/v1/reconcile/suggest/entity?prefix=vin")
        .await;
    let result = s["result"].as_array().expect("result");
    let found: Vec<&str> = result.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(found, [NORD, NORDULUI]);
    for e in result {
        assert!(e["name"].is_string() && e["description"].is_string());
        assert_eq!(e["notable"][0]["id"], "Company");
    }
    // Words in any order, accents folded; people too.
    let s = app
        .get_json("/api/v1/reconcile/suggest/entity?prefix=nord%20VIN")
        .await;
    assert_eq!(s["result"][0]["id"], NORD);
    let s = app
        .get_json("/api/v1/reconcile/suggest/entity?prefix=bivol%20d")
        .await;
    assert_eq!(
        s["result"][0]["id"],
        names::person_id("Doina Bivol").expect("an id").as_str()
    );
    assert_eq!(s["result"][0]["notable"][0]["id"], "Person");
    let s = app
        .get_json("/api/v1/reconcile/suggest/entity?prefix=100000000000")
        .await;
    assert_eq!(s["result"].as_array().map(Vec::len), Some(6));
    let s = app
        .get_json("/api/v1/reconcile/suggest/entity?prefix=100000000000&cursor=5")
        .await;
    assert_eq!(s["result"].as_array().map(Vec::len), Some(1));
    let s = app
        .get_json("/api/v1/reconcile/suggest/entity?prefix=%20")
        .await;
    assert_eq!(s["result"], json!([]));
    assert_problem(
        app.get("/api/v1/reconcile/suggest/entity?prefix=a&cursor=1001")
            .await,
        422,
    )
    .await;
}

#[tokio::test]
async fn the_preview_is_an_escaped_html_card() {
    let app = registry().await;
    let r = app
        .get(&format!("/api/v1/reconcile/preview?id={SCRIPT}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap_or("")
            .contains("default-src 'none'")
    );
    let html = r.text().await.expect("text");
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co SRL"));
    assert!(html.contains(SCRIPT));

    let html = app
        .get(&format!("/api/v1/reconcile/preview?id={NORD}"))
        .await
        .text()
        .await
        .expect("text");
    assert!(html.contains("Vinăria Nord SRL") && html.contains("Ion Popescu"));
    let popescu = names::person_id("Ion Popescu").expect("an id");
    let r = app
        .get(&format!("/api/v1/reconcile/preview?id={popescu}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("text").contains("Vinăria Nord SRL"));

    for unknown in ["9999999999999", "00000000000000000000", "x", "%3Cscript%3E"] {
        assert_problem(
            app.get(&format!("/api/v1/reconcile/preview?id={unknown}"))
                .await,
            404,
        )
        .await;
    }
    assert_problem(app.get("/api/v1/reconcile/preview").await, 422).await;
}

#[tokio::test]
async fn bad_input_is_refused_with_the_status_that_names_it() {
    let app = spawn_app(1).await;
    // More than 50 queries.
    let batch: serde_json::Map<String, Value> = (0..51)
        .map(|i| (format!("q{i}"), json!({"query": "x"})))
        .collect();
    let p = assert_problem(post_json(&app, &json!({"queries": batch})).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "queries");
    // Exactly 50 is fine.
    let batch: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("q{i}"), json!({"query": "x"})))
        .collect();
    assert_eq!(
        post_json(&app, &json!({"queries": batch})).await.status(),
        200
    );

    // A form field that is not JSON.
    let r = app
        .http
        .post(app.url("/api/v1/reconcile"))
        .header("content-type", FORM)
        .body(form("queries", "{not json"))
        .send()
        .await
        .expect("request");
    let p = assert_problem(r, 422).await;
    assert_eq!(p["errors"][0]["field"], "queries");
    // A JSON body that is not JSON.
    let r = app
        .http
        .post(app.url("/api/v1/reconcile"))
        .header("content-type", "application/json")
        .body("{\"queries\": ")
        .send()
        .await
        .expect("request");
    assert_problem(r, 400).await;
    // Neither JSON nor a form.
    let r = app
        .http
        .post(app.url("/api/v1/reconcile"))
        .header("content-type", "text/plain")
        .body("queries={}")
        .send()
        .await
        .expect("request");
    assert_problem(r, 415).await;

    let long = "a".repeat(501);
    let cases = [
        (
            json!({"queries": {"q0": {"query": long}}}),
            "queries.q0.query",
        ),
        (
            json!({"queries": {"q0": {"query": "x", "limit": 0}}}),
            "queries.q0.limit",
        ),
        (
            json!({"queries": {"q0": {"query": "x", "limit": 26}}}),
            "queries.q0.limit",
        ),
        (
            json!({"queries": {"q0": {"query": "x", "limit": 2.5}}}),
            "queries.q0.limit",
        ),
        (json!({"queries": {"q0": {}}}), "queries.q0.query"),
        (
            json!({"queries": {"q0": {"query": "x", "type": "Thing"}}}),
            "queries.q0.type",
        ),
        (
            json!({"queries": {"q0": {"query": "x", "colour": "red"}}}),
            "queries.q0",
        ),
        (
            json!({"queries": {"q0": {"query": "x", "properties": [{"pid": "shoe_size", "v": "9"}]}}}),
            "queries.q0.properties[0].pid",
        ),
        (
            json!({"queries": {}, "extend": {"ids": [], "properties": []}}),
            "extend",
        ),
        (json!({"other": 1}), "other"),
        (json!({}), "queries"),
        (
            json!({"extend": {"ids": [NORD], "properties": [{"id": "shoe_size"}]}}),
            "extend.properties[0].id",
        ),
        (
            json!({"extend": {"ids": [NORD], "properties": [{"id": "founders", "settings": {"limit": -1}}]}}),
            "extend.properties[0].settings.limit",
        ),
    ];
    for (body, field) in cases {
        let p = assert_problem(post_json(&app, &body).await, 422).await;
        let named = p["errors"][0]["field"].as_str().unwrap_or("").to_string();
        assert!(named.starts_with(field), "{body}: {p}");
    }
    // Exactly 500 characters is fine.
    let r = post_json(
        &app,
        &json!({"queries": {"q0": {"query": "a".repeat(500)}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_problem(
        app.get(&format!(
            "/api/v1/reconcile/suggest/entity?prefix={}",
            "a".repeat(201)
        ))
        .await,
        422,
    )
    .await;
}
