//! A second, differently shaped registry for the relations tests: its people and
//! ownerships are written here by hand, so what the relations must be is known without
//! the openmoney parser or the demo site.
//!
//! `/firms?page=1` lists codes; `/firms/{code}` is one firm:
//! `{code, title, open, owners: [{who, person, pct, code?}], managers: [{who, title, firm?, code?}]}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use gleaner_scrapejob::Idno;
use gleaner_scraper::company::{
    Address, Administrator, CompanyRecord, Founder, FounderKind, Status,
};
use gleaner_scraper::source::{
    CompanyDocuments, Document, DocumentKind, ParseError, Parsed, Source,
};
use gleaner_scraper::spec::RunSpec;
use serde_json::{Value, json};

/// The registry's source: its own URLs and JSON shape.
pub struct PeopleRegistry;

fn bad(e: impl std::fmt::Display) -> ParseError {
    ParseError::Json(e.to_string())
}

fn code(v: &Value) -> Result<Option<Idno>, ParseError> {
    v.get("code")
        .and_then(Value::as_str)
        .map(|c| Idno::parse(c).map_err(bad))
        .transpose()
}

impl Source for PeopleRegistry {
    fn parser_version(&self) -> i32 {
        11
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
                let mut founders = Vec::new();
                for o in doc["owners"].as_array().into_iter().flatten() {
                    founders.push(Founder {
                        name: o["who"].as_str().ok_or_else(|| bad("no who"))?.into(),
                        kind: if o["person"] == true {
                            FounderKind::Person
                        } else {
                            FounderKind::Company
                        },
                        share: o["pct"].as_f64(),
                        idno: code(o)?,
                    });
                }
                let mut administrators = Vec::new();
                for m in doc["managers"].as_array().into_iter().flatten() {
                    administrators.push(Administrator {
                        name: m["who"].as_str().ok_or_else(|| bad("no who"))?.into(),
                        role: m["title"].as_str().map(str::to_owned),
                        kind: if m["firm"] == true {
                            FounderKind::Company
                        } else {
                            FounderKind::Person
                        },
                        idno: code(m)?,
                    });
                }
                Ok(Parsed::Company(Box::new(CompanyRecord {
                    idno: Idno::parse(doc["code"].as_str().ok_or_else(|| bad("no code"))?)
                        .map_err(bad)?,
                    name: doc["title"].as_str().ok_or_else(|| bad("no title"))?.into(),
                    legal_form: None,
                    status: if doc["open"] == true {
                        Status::Active
                    } else {
                        Status::Inactive
                    },
                    registered_at: None,
                    address: Address::default(),
                    activities: vec![],
                    founders,
                    administrators,
                })))
            }
            other => Err(bad(format!("no {} documents here", other.as_str()))),
        }
    }
}

/// The firms served, by code; tests change them between runs.
pub type Firms = Arc<Mutex<BTreeMap<String, Value>>>;

type Json = axum::Json<Value>;

async fn list(State(firms): State<Firms>, Query(q): Query<BTreeMap<String, String>>) -> Json {
    let codes: Vec<String> = match q.get("page").map(String::as_str) {
        Some("1") => firms.lock().unwrap().keys().cloned().collect(),
        _ => vec![],
    };
    axum::Json(json!({ "codes": codes }))
}

async fn firm(State(firms): State<Firms>, Path(code): Path<String>) -> Result<Json, StatusCode> {
    let firm = firms.lock().unwrap().get(&code).cloned();
    firm.map(axum::Json).ok_or(StatusCode::NOT_FOUND)
}

/// The registry on a loopback port; its base URL.
pub async fn serve(firms: Firms) -> String {
    let app = Router::new()
        .route("/firms", get(list))
        .route("/firms/{code}", get(firm))
        .with_state(firms);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A spec crawling the registry at `url`.
pub fn spec(url: &str) -> RunSpec {
    serde_json::from_value(json!({
        "baseUrl": url, "apiUrl": url,
        "targets": {"listPages": {"from": 1, "to": 1}},
        "concurrency": 4, "requestsPerSecond": 100, "timeoutSeconds": 120
    }))
    .unwrap()
}

pub const LIVADA: &str = "3000000000001";
pub const MOARA: &str = "3000000000002";
pub const POD: &str = "3000000000003";
pub const VINARIA: &str = "3000000000004";
pub const FERMA_1: &str = "3000000000005";
pub const FERMA_2: &str = "3000000000006";
pub const CRAMA: &str = "3000000000007";
/// A founding company the registry names by IDNO but does not list.
pub const OUTSIDE: &str = "3000000000099";

fn person(who: &str, pct: f64) -> Value {
    json!({"who": who, "person": true, "pct": pct})
}

fn manager(who: &str, title: &str) -> Value {
    json!({"who": who, "title": title})
}

/// The firms. People, spelled every way the registry might:
/// - Ștefan Țurcan: founder (comma-below letters) and director (cedilla letters, two
///   spaces) of Livada Nord, founder of Moara Veche as `TURCAN Stefan`;
/// - Doina Bivol: founder of Livada Nord, administrator of Moara Veche as `Bivol Doina`;
/// - Ion Popescu: director of Pod de Piatră, sole founder of Vinăria Sud.
///
/// Companies holding roles:
/// - Livada Nord founds Moara Veche (by IDNO) and manages Vinăria Sud (by IDNO);
/// - Moara Veche founds Pod de Piatră, named with two spaces and no IDNO: linked by
///   its unique folded name;
/// - `Firma Fantoma SRL` founds Pod de Piatră: no such company, unmatched;
/// - `Ferma Verde SRL` founds Crama: two companies have that name, unmatched;
/// - Vinexport SA, by an IDNO the registry does not list, founds Crama.
pub fn firms() -> BTreeMap<String, Value> {
    let firms = [
        json!({"code": LIVADA, "title": "Livada Nord SRL", "open": true,
            "owners": [person("Ștefan Țurcan", 60.0), person("Doina Bivol", 40.0)],
            "managers": [manager("Ştefan  Ţurcan", "Director")]}),
        json!({"code": MOARA, "title": "Moara Veche SA", "open": true,
            "owners": [person("TURCAN Stefan", 50.0),
                       {"who": "Livada Nord SRL", "person": false, "pct": 50.0, "code": LIVADA}],
            "managers": [manager("Bivol Doina", "Administrator")]}),
        json!({"code": POD, "title": "Pod de Piatră SRL", "open": true,
            "owners": [{"who": "Moara  Veche SA", "person": false, "pct": 70.0},
                       {"who": "Firma Fantoma SRL", "person": false, "pct": 30.0}],
            "managers": [manager("Ion Popescu", "Director")]}),
        json!({"code": VINARIA, "title": "Vinăria Sud SRL", "open": false,
            "owners": [person(" Ion   Popescu ", 100.0)],
            "managers": [{"who": "Livada Nord SRL", "title": "Administrator", "firm": true, "code": LIVADA}]}),
        json!({"code": FERMA_1, "title": "Ferma Verde SRL", "open": true,
            "owners": [person("Vasile Ciobanu", 100.0)], "managers": []}),
        json!({"code": FERMA_2, "title": "FERMA VERDE SRL", "open": true,
            "owners": [person("Elena Munteanu", 100.0)], "managers": []}),
        json!({"code": CRAMA, "title": "Crama Veche SRL", "open": true,
            "owners": [{"who": "Ferma Verde SRL", "person": false, "pct": 60.0},
                       {"who": "Vinexport SA", "person": false, "pct": 40.0, "code": OUTSIDE}],
            "managers": [manager("Elena Munteanu", "Director")]}),
    ];
    firms
        .into_iter()
        .map(|f| (f["code"].as_str().unwrap_or_default().to_owned(), f))
        .collect()
}
