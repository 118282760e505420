//! Transform: raw documents into typed records. JSON with serde, HTML pages
//! with the `scraper` crate. Parsers are pure functions of the bytes, so any
//! stored document can be transformed again at will.

use std::sync::LazyLock;

use chrono::NaiveDate;
use scraper::{ElementRef, Html, Selector};
use serde::Deserialize;
use serde_json::Value;

use crate::company::{
    Activity, Address, Administrator, CompanyRecord, FinancialYear, Founder, FounderKind, Status,
};
use crate::spec::is_idno;

/// Version of the parsers; stored on every company record.
pub const PARSER_VERSION: i32 = 1;

/// Kinds of raw documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// `/api/companies?page=N&size=M`.
    CompanyList,
    /// `/api/companies/{idno}`.
    Company,
    /// `/api/fin-data-v1/{idno}`.
    Financials,
    /// `/companies/{idno}` (HTML).
    CompanyHtml,
}

impl DocumentKind {
    /// Name stored in the database and used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::CompanyList => "company_list",
            DocumentKind::Company => "company",
            DocumentKind::Financials => "financials",
            DocumentKind::CompanyHtml => "company_html",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "company_list" => DocumentKind::CompanyList,
            "company" => DocumentKind::Company,
            "financials" => DocumentKind::Financials,
            "company_html" => DocumentKind::CompanyHtml,
            _ => return None,
        })
    }
}

/// Why a document could not be transformed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// Not valid JSON / not the expected shape.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A required field is missing or malformed.
    #[error("{0}")]
    Field(String),
}

fn json_err(e: serde_json::Error) -> ParseError {
    ParseError::Json(e.to_string())
}

/// Collapse runs of whitespace and trim.
pub fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clean_opt(s: Option<String>) -> Option<String> {
    s.map(|s| clean(&s)).filter(|s| !s.is_empty())
}

/// Dates as the source writes them: ISO date or date-time, or `DD.MM.YYYY`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let date_part = s.split(['T', ' ']).next().unwrap_or(s);
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(date_part, "%d.%m.%Y"))
        .ok()
}

/// A string or number in the source, as a string.
fn value_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiAddress {
    full_name: Option<String>,
    city: Option<String>,
    street: Option<String>,
    street_number: Option<Value>,
    district: Option<String>,
}

#[derive(Deserialize)]
struct ApiActivity {
    id: Option<Value>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiFounder {
    full_name: Option<String>,
    shares: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiAdministrator {
    full_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiCompany {
    idno: Value,
    full_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    is_active: Option<bool>,
    registered_at: Option<String>,
    address: Option<ApiAddress>,
    licensed_activities: Option<Vec<ApiActivity>>,
    unlicensed_activities: Option<Vec<ApiActivity>>,
    person_founders: Option<Vec<ApiFounder>>,
    company_founders: Option<Vec<ApiFounder>>,
    person_administrators: Option<Vec<ApiAdministrator>>,
    company_administrators: Option<Vec<ApiAdministrator>>,
}

fn activities(list: Option<Vec<ApiActivity>>, licensed: bool) -> Vec<Activity> {
    list.unwrap_or_default()
        .into_iter()
        .filter_map(|a| {
            Some(Activity {
                code: clean(&value_to_string(a.id.as_ref()?)?),
                name: clean(&a.name.unwrap_or_default()),
                licensed,
            })
        })
        .collect()
}

fn founders(list: Option<Vec<ApiFounder>>, kind: FounderKind) -> Vec<Founder> {
    list.unwrap_or_default()
        .into_iter()
        .filter_map(|f| {
            Some(Founder {
                name: clean_opt(f.full_name)?,
                kind,
                share: f.shares,
            })
        })
        .collect()
}

fn administrators(list: Option<Vec<ApiAdministrator>>) -> Vec<Administrator> {
    list.unwrap_or_default()
        .into_iter()
        .filter_map(|a| {
            Some(Administrator {
                name: clean_opt(a.full_name)?,
                role: clean_opt(a.kind),
            })
        })
        .collect()
}

fn checked_idno(v: &Value) -> Result<String, ParseError> {
    let idno = value_to_string(v).unwrap_or_default();
    let idno = idno.trim();
    if is_idno(idno) {
        Ok(idno.to_string())
    } else {
        Err(ParseError::Field(format!("idno {idno:?} is not 13 digits")))
    }
}

/// `/api/companies/{idno}` into a record.
pub fn parse_company_json(body: &[u8]) -> Result<CompanyRecord, ParseError> {
    let c: ApiCompany = serde_json::from_slice(body).map_err(json_err)?;
    let idno = checked_idno(&c.idno)?;
    let name =
        clean_opt(c.full_name).ok_or_else(|| ParseError::Field("fullName is missing".into()))?;
    let address = c
        .address
        .map(|a| Address {
            full: clean_opt(a.full_name),
            city: clean_opt(a.city),
            district: clean_opt(a.district),
            street: clean_opt(a.street),
            street_number: clean_opt(a.street_number.as_ref().and_then(value_to_string)),
        })
        .unwrap_or_default();
    let mut acts = activities(c.licensed_activities, true);
    acts.extend(activities(c.unlicensed_activities, false));
    let mut fs = founders(c.person_founders, FounderKind::Person);
    fs.extend(founders(c.company_founders, FounderKind::Company));
    let mut admins = administrators(c.person_administrators);
    admins.extend(administrators(c.company_administrators));
    Ok(CompanyRecord {
        idno,
        name,
        legal_form: clean_opt(c.kind),
        status: if c.is_active.unwrap_or(false) {
            Status::Active
        } else {
            Status::Inactive
        },
        registered_at: c.registered_at.as_deref().and_then(parse_date),
        address,
        activities: acts,
        founders: fs,
        administrators: admins,
    })
}

#[derive(Deserialize)]
struct ApiListEntry {
    idno: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiList {
    data: Vec<ApiListEntry>,
    total_item_count: Option<u64>,
}

/// A registry list page: the IDNOs on it, and the registry's total.
#[derive(Debug, PartialEq)]
pub struct CompanyList {
    /// IDNOs on the page (malformed ones skipped).
    pub idnos: Vec<String>,
    /// `totalItemCount`.
    pub total: Option<u64>,
}

/// `/api/companies?page=N&size=M`.
pub fn parse_company_list(body: &[u8]) -> Result<CompanyList, ParseError> {
    let list: ApiList = serde_json::from_slice(body).map_err(json_err)?;
    Ok(CompanyList {
        idnos: list
            .data
            .iter()
            .filter_map(|e| checked_idno(&e.idno).ok())
            .collect(),
        total: list.total_item_count,
    })
}

#[derive(Deserialize)]
struct ApiFinancialYear {
    year: i32,
    values: serde_json::Map<String, Value>,
}

/// The value of the first code `CODE_<form>_<row>` or `CODE_<form>_<row>_<label>`.
fn figure(values: &serde_json::Map<String, Value>, code: &str) -> Option<f64> {
    values
        .iter()
        .find(|(k, _)| {
            k.as_str() == code
                || k.strip_prefix(code)
                    .is_some_and(|rest| rest.starts_with('_'))
        })
        .and_then(|(_, v)| v.as_f64())
}

/// `/api/fin-data-v1/{idno}`: statements per year, oldest first.
pub fn parse_financials(body: &[u8]) -> Result<Vec<FinancialYear>, ParseError> {
    let years: Vec<ApiFinancialYear> = serde_json::from_slice(body).map_err(json_err)?;
    let mut out: Vec<FinancialYear> = years
        .into_iter()
        .filter(|y| (1990..=2100).contains(&y.year))
        .map(|y| {
            let values: serde_json::Map<String, Value> = y
                .values
                .into_iter()
                .filter(|(k, v)| k.starts_with("CODE_") && v.is_number())
                .collect();
            FinancialYear {
                year: y.year,
                revenue: figure(&values, "CODE_2_010"),
                net_profit: figure(&values, "CODE_2_180"),
                total_assets: figure(&values, "CODE_1_220"),
                equity: figure(&values, "CODE_1_380"),
                values,
            }
        })
        .collect();
    out.sort_by_key(|y| y.year);
    out.dedup_by_key(|y| y.year);
    Ok(out)
}

fn selector(s: &str) -> Selector {
    // The selectors are literals of this file; a typo fails every HTML test.
    Selector::parse(s).unwrap_or_else(|e| panic!("selector {s:?}: {e}"))
}

static H1: LazyLock<Selector> = LazyLock::new(|| selector("h1"));
static FIELD_TERMS: LazyLock<Selector> = LazyLock::new(|| selector("dl.company-fields > dt"));
static ACTIVITY_ROWS: LazyLock<Selector> = LazyLock::new(|| selector("table.activities tr"));
static FOUNDER_ROWS: LazyLock<Selector> = LazyLock::new(|| selector("table.founders tr"));
static ADMIN_ROWS: LazyLock<Selector> = LazyLock::new(|| selector("table.administrators tr"));
static CODE: LazyLock<Selector> = LazyLock::new(|| selector("td.code"));
static NAME: LazyLock<Selector> = LazyLock::new(|| selector("td.name"));
static LICENSED: LazyLock<Selector> = LazyLock::new(|| selector("td.licensed"));
static KIND: LazyLock<Selector> = LazyLock::new(|| selector("td.kind"));
static SHARE: LazyLock<Selector> = LazyLock::new(|| selector("td.share"));
static ROLE: LazyLock<Selector> = LazyLock::new(|| selector("td.role"));

fn text(el: ElementRef<'_>) -> String {
    clean(&el.text().collect::<String>())
}

fn cell(row: ElementRef<'_>, sel: &Selector) -> Option<String> {
    row.select(sel).next().map(text).filter(|s| !s.is_empty())
}

/// Lower-case, accents folded: labels match however the page spells them.
fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ă' | 'â' | 'Ă' | 'Â' => 'a',
            'î' | 'Î' => 'i',
            'ș' | 'ş' | 'Ș' | 'Ş' => 's',
            'ț' | 'ţ' | 'Ț' | 'Ţ' => 't',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// `60,00%` or `60.5` → 60.0 / 60.5.
fn parse_share(s: &str) -> Option<f64> {
    s.trim()
        .trim_end_matches('%')
        .trim()
        .replace(' ', "")
        .replace(',', ".")
        .parse()
        .ok()
}

/// `/companies/{idno}`: the HTML page, for companies the JSON API lacks.
pub fn parse_company_html(body: &[u8]) -> Result<CompanyRecord, ParseError> {
    let html = String::from_utf8_lossy(body);
    let doc = Html::parse_document(&html);
    let name = doc
        .select(&H1)
        .next()
        .map(text)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ParseError::Field("no <h1> company name".into()))?;
    let mut fields = std::collections::HashMap::new();
    for dt in doc.select(&FIELD_TERMS) {
        let value = dt
            .next_siblings()
            .filter_map(ElementRef::wrap)
            .find(|e| e.value().name() == "dd")
            .map(text);
        if let Some(v) = value {
            fields.insert(fold(&text(dt)), v);
        }
    }
    let get = |label: &str| fields.get(label).cloned().filter(|v| !v.is_empty());
    let idno = get("idno").ok_or_else(|| ParseError::Field("no IDNO on the page".into()))?;
    let idno = checked_idno(&Value::String(idno))?;
    let status = match get("statut").map(|s| fold(&s)) {
        Some(s) if s.starts_with("activ") => Status::Active,
        Some(_) => Status::Inactive,
        None => return Err(ParseError::Field("no Statut on the page".into())),
    };
    let activities = doc
        .select(&ACTIVITY_ROWS)
        .filter_map(|row| {
            Some(Activity {
                code: cell(row, &CODE)?,
                name: cell(row, &NAME).unwrap_or_default(),
                licensed: cell(row, &LICENSED).is_some_and(|l| fold(&l).starts_with("licen")),
            })
        })
        .collect();
    let mut founders: Vec<Founder> = doc
        .select(&FOUNDER_ROWS)
        .filter_map(|row| {
            let kind = match cell(row, &KIND).map(|k| fold(&k)) {
                Some(k) if k.contains("juridic") => FounderKind::Company,
                _ => FounderKind::Person,
            };
            Some(Founder {
                name: cell(row, &NAME)?,
                kind,
                share: cell(row, &SHARE).as_deref().and_then(parse_share),
            })
        })
        .collect();
    // Persons first, as the JSON API lists them; stable within each kind.
    founders.sort_by_key(|f| f.kind == FounderKind::Company);
    let administrators = doc
        .select(&ADMIN_ROWS)
        .filter_map(|row| {
            Some(Administrator {
                name: cell(row, &NAME)?,
                role: cell(row, &ROLE),
            })
        })
        .collect();
    Ok(CompanyRecord {
        idno,
        name,
        legal_form: get("forma juridica"),
        status,
        registered_at: get("data inregistrarii").as_deref().and_then(parse_date),
        address: Address {
            full: get("adresa"),
            city: get("localitatea"),
            district: get("sectorul/raionul"),
            street: get("strada"),
            street_number: get("numarul"),
        },
        activities,
        founders,
        administrators,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COMPANY: &str = r#"{"id":1,"idno":"1003600012345","fullName":"  Agro-Prim SRL ","type":" SRL ",
      "isActive":true,"registeredAt":"2003-05-14T00:00:00","revisionDate":"2024-03-01T00:00:00",
      "address":{"fullName":"mun. Chișinău, str. Ștefan cel Mare 12","city":"Chișinău","street":"str. Ștefan cel Mare","streetNumber":"12","district":"Centru"},
      "cuatm":{"code":"0100"},
      "licensedActivities":[{"id":"47.73","name":"Farmacii"}],
      "unlicensedActivities":[{"id":"62.01","name":"Software"}],
      "personFounders":[{"fullName":"Ion Popescu","shares":60.0}],
      "companyFounders":[{"fullName":"Vinăria SA","idno":"1002600054321","shares":40.0}],
      "personAdministrators":[{"fullName":"Maria Rusu","type":"Administrator"}],
      "companyAdministrators":null,"unknownField":42}"#;

    #[test]
    fn json_company() {
        let c = parse_company_json(COMPANY.as_bytes()).unwrap();
        assert_eq!(c.name, "Agro-Prim SRL");
        assert_eq!(c.legal_form.as_deref(), Some("SRL"));
        assert_eq!(c.status, Status::Active);
        assert_eq!(c.registered_at, NaiveDate::from_ymd_opt(2003, 5, 14));
        assert_eq!(c.address.city.as_deref(), Some("Chișinău"));
        assert_eq!(c.activities.len(), 2);
        assert!(c.activities[0].licensed && !c.activities[1].licensed);
        assert_eq!(c.founders[1].kind, FounderKind::Company);
        assert_eq!(c.founders[0].share, Some(60.0));
        assert_eq!(c.administrators[0].role.as_deref(), Some("Administrator"));
    }

    #[test]
    fn json_garbage_and_bad_idno_fail() {
        assert!(matches!(
            parse_company_json(b"{\"idno\":"),
            Err(ParseError::Json(_))
        ));
        assert!(parse_company_json(b"\x00\xff garbage").is_err());
        let bad = json!({"idno": "123", "fullName": "X"}).to_string();
        assert!(matches!(
            parse_company_json(bad.as_bytes()),
            Err(ParseError::Field(_))
        ));
    }

    #[test]
    fn list_page() {
        let body = json!({"data":[{"idno":"1003600012345","fullName":"A"},{"idno":"bad"}],"totalItemCount":2});
        let l = parse_company_list(body.to_string().as_bytes()).unwrap();
        assert_eq!(l.idnos, ["1003600012345"]);
        assert_eq!(l.total, Some(2));
    }

    #[test]
    fn financial_codes_map_to_figures() {
        let body = json!([
            {"year": 2022, "values": {"CODE_2_010": 10.5, "CODE_2_180_profit_net": -3.0, "CODE_5_440": 7.0}},
            {"year": 2021, "values": {"CODE_1_220": 100.0, "CODE_1_380": 50.0, "CODE_1_2200": 1.0}},
        ]);
        let f = parse_financials(body.to_string().as_bytes()).unwrap();
        assert_eq!(f.iter().map(|y| y.year).collect::<Vec<_>>(), [2021, 2022]);
        assert_eq!(f[0].total_assets, Some(100.0));
        assert_eq!(f[0].revenue, None);
        assert_eq!(f[1].net_profit, Some(-3.0));
        assert_eq!(f[1].values.len(), 3);
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2003-05-14"),
            NaiveDate::from_ymd_opt(2003, 5, 14)
        );
        assert_eq!(
            parse_date("14.05.2003"),
            NaiveDate::from_ymd_opt(2003, 5, 14)
        );
        assert_eq!(
            parse_date("2003-05-14T00:00:00Z"),
            NaiveDate::from_ymd_opt(2003, 5, 14)
        );
        assert_eq!(parse_date("soon"), None);
    }

    #[test]
    fn html_page_with_whitespace_noise() {
        let page = r#"<html><body><nav>menu</nav><h1>
              Vinăria   Bălți SA
           </h1>
           <dl class="company-fields">
             <dt>IDNO</dt><dd> 1002600054321 </dd>
             <dt>Forma juridică</dt><dd>
               SA </dd>
             <dt>Statut</dt><dd>Inactivă</dd>
             <dt>Data înregistrării</dt><dd>01.02.1999</dd>
             <dt>Adresa</dt><dd>mun. Bălți, str. Independenței 5</dd>
             <dt>Localitatea</dt><dd>Bălți</dd>
             <dt>Sectorul/Raionul</dt><dd></dd>
             <dt>Strada</dt><dd>str. Independenței</dd>
             <dt>Numărul</dt><dd>5</dd>
           </dl>
           <table class="activities"><tr><th>Cod</th></tr>
             <tr><td class="code">11.02</td><td class="name">Fabricarea vinurilor</td><td class="licensed">Licențiată</td></tr>
             <tr><td class="code">46.34</td><td class="name">Comerț cu ridicata</td><td class="licensed">Nelicențiată</td></tr></table>
           <table class="founders">
             <tr><td class="name">Agro SRL</td><td class="kind">Persoană juridică</td><td class="share">25,50%</td></tr>
             <tr><td class="name">Ana Ceban</td><td class="kind">Persoană fizică</td><td class="share">74,50%</td></tr></table>
           <table class="administrators"><tr><td class="name">Ion Ceban</td><td class="role">Director</td></tr></table>
           </body></html>"#;
        let c = parse_company_html(page.as_bytes()).unwrap();
        assert_eq!(c.name, "Vinăria Bălți SA");
        assert_eq!(c.idno, "1002600054321");
        assert_eq!(c.legal_form.as_deref(), Some("SA"));
        assert_eq!(c.status, Status::Inactive);
        assert_eq!(c.registered_at, NaiveDate::from_ymd_opt(1999, 2, 1));
        assert_eq!(c.address.district, None);
        assert_eq!(c.address.street_number.as_deref(), Some("5"));
        assert_eq!(c.activities.len(), 2);
        assert!(c.activities[0].licensed && !c.activities[1].licensed);
        assert_eq!(c.founders[0].name, "Ana Ceban");
        assert_eq!(c.founders[1].kind, FounderKind::Company);
        assert_eq!(c.founders[1].share, Some(25.5));
        assert_eq!(c.administrators[0].role.as_deref(), Some("Director"));
    }

    #[test]
    fn html_without_a_name_fails() {
        assert!(parse_company_html(b"<html><body>Service down</body></html>").is_err());
    }
}
