//! The architecture test: a second source, with its own URLs and its own JSON shape,
//! plugs into the pipeline through the `Source` trait alone and goes through whole
//! runs, with history and events.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use gleaner_scrapejob::Idno;
use gleaner_scraper::company::{Address, CompanyRecord, Status};
use gleaner_scraper::source::{
    CompanyDocuments, Document, DocumentKind, ParseError, Parsed, Source, SourceName,
};
use gleaner_scraper::spec::RunSpec;
use serde_json::{Value, json};

use crate::helpers::*;

/// A registry of firms: `/firms?page=N` lists codes, `/firms/{code}` is one firm as
/// `{code, title, open, town}`.
struct FirmRegistry;

fn bad(e: impl std::fmt::Display) -> ParseError {
    ParseError::Json(e.to_string())
}

impl Source for FirmRegistry {
    fn parser_version(&self) -> i32 {
        7
    }

    fn list_page(&self, spec: &RunSpec, page: u32) -> Document {
        Document::new(
            format!("{}/firms?page={page}", spec.api_root()),
            DocumentKind::CompanyList,
        )
    }

    fn company_documents(&self, spec: &RunSpec, idno: &Idno) -> CompanyDocuments {
        CompanyDocuments {
            record: vec![Document::new(
                format!("{}/firms/{idno}", spec.api_root()),
                DocumentKind::Company,
            )],
            extra: vec![],
        }
    }

    fn parse(&self, kind: DocumentKind, body: &[u8]) -> Result<Parsed, ParseError> {
        let doc: Value = serde_json::from_slice(body).map_err(bad)?;
        match kind {
            DocumentKind::CompanyList => Ok(Parsed::List(
                doc["codes"]
                    .as_array()
                    .ok_or_else(|| bad("no codes"))?
                    .iter()
                    .filter_map(|c| Idno::parse(c.as_str()?).ok())
                    .collect(),
            )),
            DocumentKind::Company => {
                let code = doc["code"].as_str().ok_or_else(|| bad("no code"))?;
                Ok(Parsed::Company(Box::new(CompanyRecord {
                    idno: Idno::parse(code).map_err(bad)?,
                    name: doc["title"].as_str().ok_or_else(|| bad("no title"))?.into(),
                    legal_form: None,
                    status: if doc["open"] == true {
                        Status::Active
                    } else {
                        Status::Inactive
                    },
                    registered_at: None,
                    address: Address {
                        city: doc["town"].as_str().map(str::to_owned),
                        ..Address::default()
                    },
                    activities: vec![],
                    founders: vec![],
                    administrators: vec![],
                })))
            }
            other => Err(bad(format!("no {} documents here", other.as_str()))),
        }
    }
}

type Firms = Arc<Mutex<BTreeMap<String, Value>>>;

async fn list(State(firms): State<Firms>, Query(q): Query<BTreeMap<String, String>>) -> Json {
    let codes: Vec<String> = match q.get("page").map(String::as_str) {
        Some("1") => firms.lock().unwrap().keys().cloned().collect(),
        _ => vec![],
    };
    axum::Json(json!({ "codes": codes }))
}

type Json = axum::Json<Value>;

async fn firm(State(firms): State<Firms>, Path(code): Path<String>) -> Result<Json, StatusCode> {
    let firm = firms.lock().unwrap().get(&code).cloned();
    firm.map(axum::Json).ok_or(StatusCode::NOT_FOUND)
}

/// The registry on a loopback port; its base URL.
async fn serve(firms: Firms) -> String {
    let app = Router::new()
        .route("/firms", get(list))
        .route("/firms/{code}", get(firm))
        .with_state(firms);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_second_source_plugs_in_with_history_and_events() {
    let firms: Firms = Arc::new(Mutex::new(
        [
            ("2000000000001", "Livada Nord", true, "Soroca"),
            ("2000000000002", "Moara Veche", false, "Orhei"),
            ("2000000000003", "Pod de Piatră", true, "Cahul"),
        ]
        .into_iter()
        .map(|(code, title, open, town)| {
            let firm = json!({"code": code, "title": title, "open": open, "town": town});
            (code.to_string(), firm)
        })
        .collect(),
    ));
    let url = serve(firms.clone()).await;
    let app = spawn_app_with(
        0,
        |p| p.with_source(SourceName::Openmoney, Arc::new(FirmRegistry)),
        None,
    )
    .await;
    let spec: RunSpec = serde_json::from_value(json!({
        "baseUrl": url, "apiUrl": url,
        "targets": {"listPages": {"from": 1, "to": 1}, "idnos": ["2000000000003"]},
        "concurrency": 4, "requestsPerSecond": 100, "timeoutSeconds": 120
    }))
    .unwrap();

    let first = app.scrape(&spec).await;
    assert_eq!(first.status, "succeeded", "{first:?}");
    assert_eq!(
        (
            first.companies_created,
            first.pages_fetched,
            first.pages_failed
        ),
        (3, 4, 0)
    );
    let got = app.get_json("/api/v1/companies/2000000000002").await;
    assert_eq!(got["name"], "Moara Veche");
    assert_eq!(got["status"], "inactive");
    assert_eq!(got["address"]["city"], "Orhei");
    assert_eq!(got["source"]["parser_version"], 7);
    assert_eq!(
        got["source"]["url"],
        format!("{url}/firms/2000000000002").as_str()
    );

    // The registry renames a firm and moves it: the next run records exactly that.
    if let Some(f) = firms.lock().unwrap().get_mut("2000000000002") {
        f["title"] = json!("Moara Nouă");
        f["town"] = json!("Ungheni");
    }
    let second = app.scrape(&spec).await;
    assert_eq!(second.status, "succeeded", "{second:?}");
    assert_eq!((second.companies_created, second.companies_updated), (0, 1));
    let history = app
        .get_json("/api/v1/companies/2000000000002/history")
        .await;
    let mut changes: Vec<(String, Value, Value, Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["field"].as_str().unwrap().to_string(),
                h["old"].clone(),
                h["new"].clone(),
                h["run_id"].clone(),
            )
        })
        .collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    let run = json!(second.run_id);
    assert_eq!(
        changes,
        [
            (
                "address.city".to_string(),
                json!("Orhei"),
                json!("Ungheni"),
                run.clone()
            ),
            (
                "name".to_string(),
                json!("Moara Veche"),
                json!("Moara Nouă"),
                run.clone()
            ),
        ]
    );
    let events: Vec<(String, Value)> =
        sqlx::query_as("SELECT event_type, payload FROM scraper_outbox ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let (kind, payload) = &events[0];
    assert_eq!(kind, "company.changed");
    assert_eq!(payload["idno"], "2000000000002");
    assert_eq!(payload["company_name"], "Moara Nouă");
    assert_eq!(payload["run_id"], run);
    assert_eq!(payload["changes"].as_array().map(Vec::len), Some(2));
}
