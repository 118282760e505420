//! The openmoney parsers: its documents into typed records. JSON with serde_json, HTML
//! pages with the `scraper` crate. Parsers are pure functions of the bytes, so any
//! stored document can be transformed again at will.
//!
//! The source is not ours and changes without notice: parsers read
//! what they recognise, ignore what they don't, and fail (never guess) when the
//! essentials are missing.

mod html;
#[cfg(test)]
mod proptests;

use chrono::NaiveDate;
use gleaner_scrapejob::Idno;
use serde_json::{Map, Value};

use crate::company::{
    Activity, Address, Administrator, CompanyRecord, FinancialYear, Founder, FounderKind, Status,
};
use crate::source::ParseError;

pub use html::parse_company_html;

/// Version of the parsers; stored on every company record, so documents parsed by
/// an older version are transformed again.
pub const PARSER_VERSION: i32 = 3;

fn json_err(e: serde_json::Error) -> ParseError {
    ParseError::Json(e.to_string())
}

pub use crate::source::dom::clean;

fn clean_opt(s: Option<String>) -> Option<String> {
    s.map(|s| clean(&s)).filter(|s| !s.is_empty())
}

/// Dates as the source writes them: ISO date or date-time, `DD.MM.YYYY` or `DD/MM/YYYY`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let date_part = s.split(['T', ' ']).next().unwrap_or(s);
    ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(date_part, f).ok())
}

/// A number as the source writes it: `1234.56`, `1 234,56` (ordinary, non-breaking
/// or thin spaces as thousands separators), `1.234.567`, `-5`, `+7`.
pub fn parse_number(s: &str) -> Option<f64> {
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\'')
        .collect();
    let (sign, digits) = match compact.strip_prefix(['-', '\u{2212}']) {
        Some(rest) => (-1.0, rest),
        None => (1.0, compact.strip_prefix('+').unwrap_or(&compact)),
    };
    if !digits.bytes().any(|b| b.is_ascii_digit())
        || !digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b',' || b == b'.')
    {
        return None;
    }
    // A separator that appears once alone is the decimal one; repeated alone, it
    // groups thousands; with both kinds, the last one is decimal and appears once.
    let decimal = match (digits.matches(',').count(), digits.matches('.').count()) {
        (0, 0) => None,
        (1, 0) => Some(','),
        (0, 1) => Some('.'),
        (_, 0) | (0, _) => None,
        _ => {
            let last = digits.rfind([',', '.'])?;
            let d = digits[last..].chars().next()?;
            if digits.matches(d).count() != 1 {
                return None;
            }
            Some(d)
        }
    };
    let plain: String = digits
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            c if Some(c) == decimal => Some('.'),
            _ => None,
        })
        .collect();
    plain
        .parse::<f64>()
        .ok()
        .map(|v| sign * v)
        .filter(|v| v.is_finite())
}

/// A JSON number, or a string holding one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
        Value::String(s) => parse_number(s),
        _ => None,
    }
}

/// A string or number in the source, as a string.
fn value_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The cleaned, non-empty text of `v[key]`.
fn text_at(v: &Value, key: &str) -> Option<String> {
    clean_opt(v.get(key).and_then(value_to_string))
}

/// `v[key]` as a list of objects; anything else as no list.
fn list_at<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.is_object())
}

fn checked_idno(v: Option<&Value>) -> Result<Idno, ParseError> {
    let idno = v.and_then(value_to_string).unwrap_or_default();
    let idno = idno.trim();
    Idno::parse(idno).map_err(|_| ParseError::Field(format!("idno {idno:?} is not 13 digits")))
}

/// `true`, `"true"`, `1`: the ways a flag may come.
fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().and_then(|n| match n {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn activities(doc: &Value, key: &str, licensed: bool) -> impl Iterator<Item = Activity> {
    list_at(doc, key).filter_map(move |a| {
        Some(Activity {
            code: text_at(a, "id")?,
            name: text_at(a, "name").unwrap_or_default(),
            licensed,
        })
    })
}

fn founders(doc: &Value, key: &str, kind: FounderKind) -> impl Iterator<Item = Founder> {
    list_at(doc, key).filter_map(move |f| {
        Some(Founder {
            name: text_at(f, "fullName")?,
            kind,
            share: f.get("shares").and_then(number),
            idno: linked_idno(f, kind),
        })
    })
}

fn administrators(
    doc: &Value,
    key: &str,
    kind: FounderKind,
) -> impl Iterator<Item = Administrator> {
    list_at(doc, key).filter_map(move |a| {
        Some(Administrator {
            name: text_at(a, "fullName")?,
            role: text_at(a, "type"),
            kind,
            idno: linked_idno(a, kind),
        })
    })
}

/// The IDNO a company founder or administrator entry gives (ignored when malformed,
/// and for persons).
fn linked_idno(entry: &Value, kind: FounderKind) -> Option<Idno> {
    (kind == FounderKind::Company)
        .then(|| checked_idno(entry.get("idno")).ok())
        .flatten()
}

/// `/api/companies/{idno}` into a record. `idno`, `fullName` and `isActive` are
/// required; every other field may be missing, null or of another type.
pub fn parse_company_json(body: &[u8]) -> Result<CompanyRecord, ParseError> {
    let doc: Value = serde_json::from_slice(body).map_err(json_err)?;
    if !doc.is_object() {
        return Err(ParseError::Json("a company is a JSON object".into()));
    }
    let idno = checked_idno(doc.get("idno"))?;
    let name =
        text_at(&doc, "fullName").ok_or_else(|| ParseError::Field("fullName is missing".into()))?;
    let status = match doc.get("isActive").and_then(flag) {
        Some(true) => Status::Active,
        Some(false) => Status::Inactive,
        None => return Err(ParseError::Field("isActive is missing".into())),
    };
    let null = Value::Null;
    let a = doc.get("address").unwrap_or(&null);
    Ok(CompanyRecord {
        idno,
        name,
        legal_form: text_at(&doc, "type"),
        status,
        registered_at: doc
            .get("registeredAt")
            .and_then(Value::as_str)
            .and_then(parse_date),
        address: Address {
            full: text_at(a, "fullName"),
            city: text_at(a, "city"),
            district: text_at(a, "district"),
            street: text_at(a, "street"),
            street_number: text_at(a, "streetNumber"),
        },
        activities: activities(&doc, "licensedActivities", true)
            .chain(activities(&doc, "unlicensedActivities", false))
            .collect(),
        founders: founders(&doc, "personFounders", FounderKind::Person)
            .chain(founders(&doc, "companyFounders", FounderKind::Company))
            .collect(),
        administrators: administrators(&doc, "personAdministrators", FounderKind::Person)
            .chain(administrators(
                &doc,
                "companyAdministrators",
                FounderKind::Company,
            ))
            .collect(),
    })
}

/// A registry list page: the IDNOs on it, and the registry's total.
#[derive(Debug, PartialEq)]
pub struct CompanyList {
    /// IDNOs on the page (malformed ones skipped).
    pub idnos: Vec<Idno>,
    /// `totalItemCount`.
    pub total: Option<u64>,
}

/// `/api/companies?page=N&size=M`: `data` must be a list; entries without a
/// 13-digit `idno` are skipped.
pub fn parse_company_list(body: &[u8]) -> Result<CompanyList, ParseError> {
    let doc: Value = serde_json::from_slice(body).map_err(json_err)?;
    let data = doc
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::Json("a list page has a `data` array".into()))?;
    Ok(CompanyList {
        idnos: data
            .iter()
            .filter_map(|e| checked_idno(e.get("idno")).ok())
            .collect(),
        total: doc.get("totalItemCount").and_then(|t| {
            t.as_u64()
                .or_else(|| t.as_str().and_then(|s| s.trim().parse().ok()))
        }),
    })
}

/// Whether `key` is row `row` (`CODE_<form>_<row>`), exactly or followed by `_<label>`.
fn is_row(key: &str, row: &str) -> bool {
    key.strip_prefix(row)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
}

/// The value of the first code of row `row`.
fn figure(values: &Map<String, Value>, row: &str) -> Option<f64> {
    values
        .iter()
        .find(|(k, _)| is_row(k, row))
        .and_then(|(_, v)| v.as_f64())
}

/// The reporting year of a statement: a number or a string, within reason.
fn statement_year(v: &Value) -> Option<i32> {
    let year = match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // 2022.0 is a year; 2022.5 is not.
            (f.fract() == 0.0 && f.abs() < 1e6).then_some(f as i64)
        })?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (1990..=2100)
        .contains(&year)
        .then(|| i32::try_from(year).ok())
        .flatten()
}

/// The `CODE_*` figures of one statement, wherever they sit: on the year object
/// itself or under `values`; numbers or number strings; anything else ignored.
fn statement_values(statement: &Map<String, Value>) -> Map<String, Value> {
    let nested = statement.get("values").and_then(Value::as_object);
    statement
        .iter()
        .chain(nested.into_iter().flatten())
        .filter(|(k, _)| k.starts_with("CODE_") && k.len() > "CODE_".len())
        .filter_map(|(k, v)| Some((k.clone(), Value::from(number(v)?))))
        .collect()
}

/// `/api/fin-data-v1/{idno}`: statements per year, oldest first. The document
/// must be a list; entries without a readable year are skipped.
pub fn parse_financials(body: &[u8]) -> Result<Vec<FinancialYear>, ParseError> {
    let doc: Value = serde_json::from_slice(body).map_err(json_err)?;
    let statements = doc
        .as_array()
        .ok_or_else(|| ParseError::Json("financial statements are a JSON array".into()))?;
    let mut out: Vec<FinancialYear> = statements
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|s| {
            let year = statement_year(s.get("year")?)?;
            let values = statement_values(s);
            Some(FinancialYear {
                year,
                revenue: figure(&values, "CODE_2_010"),
                net_profit: figure(&values, "CODE_2_180"),
                total_assets: figure(&values, "CODE_1_220"),
                equity: figure(&values, "CODE_1_380"),
                values,
            })
        })
        .collect();
    out.sort_by_key(|y| y.year);
    out.dedup_by_key(|y| y.year);
    Ok(out)
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
    fn json_company_tolerates_nulls_missing_fields_and_other_types() {
        let body = json!({
            "idno": 1003600012345u64, "fullName": "Agro SRL", "isActive": "false",
            "type": null, "registeredAt": 20030514, "address": "mun. Chișinău",
            "licensedActivities": {"id": "x"}, "unlicensedActivities": [null, 3, {"id": 62.01, "name": null}, {"name": "no code"}],
            "personFounders": [{"fullName": "Ion", "shares": "33,5"}, {"fullName": null, "shares": 1}, {"fullName": "Ana", "shares": "n/a"}],
            "companyFounders": [], "personAdministrators": [{"fullName": " Maria  Rusu ", "type": " "}],
            "newField": {"nested": [1, 2]}
        });
        let c = parse_company_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(c.idno.as_str(), "1003600012345");
        assert_eq!(c.status, Status::Inactive);
        assert_eq!(c.legal_form, None);
        assert_eq!(c.registered_at, None);
        assert_eq!(c.address, Address::default());
        assert_eq!(c.activities.len(), 1);
        assert_eq!(c.activities[0].code, "62.01");
        assert_eq!(c.activities[0].name, "");
        let founders: Vec<_> = c
            .founders
            .iter()
            .map(|f| (f.name.as_str(), f.share))
            .collect();
        assert_eq!(founders, [("Ion", Some(33.5)), ("Ana", None)]);
        assert_eq!(c.administrators[0].name, "Maria Rusu");
        assert_eq!(c.administrators[0].role, None);
    }

    #[test]
    fn json_company_without_its_essentials_fails() {
        assert!(matches!(
            parse_company_json(b"{\"idno\":"),
            Err(ParseError::Json(_))
        ));
        assert!(parse_company_json(b"\x00\xff garbage").is_err());
        assert!(parse_company_json(b"[1, 2]").is_err());
        assert!(parse_company_json(b"null").is_err());
        for body in [
            json!({"idno": "123", "fullName": "X", "isActive": true}),
            json!({"idno": "1003600012345", "fullName": " ", "isActive": true}),
            json!({"idno": "1003600012345", "fullName": "X"}),
            json!({"idno": "1003600012345", "fullName": "X", "isActive": "maybe"}),
        ] {
            assert!(
                matches!(
                    parse_company_json(body.to_string().as_bytes()),
                    Err(ParseError::Field(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn list_page() {
        let body = json!({"data":[{"idno":"1003600012345","fullName":"A"},{"idno":"bad"},{"fullName":"no idno"},null,{"idno":1002600054321u64}],"totalItemCount":"5"});
        let l = parse_company_list(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            l.idnos.iter().map(Idno::as_str).collect::<Vec<_>>(),
            ["1003600012345", "1002600054321"]
        );
        assert_eq!(l.total, Some(5));
        assert!(parse_company_list(br#"{"items": []}"#).is_err());
        assert!(parse_company_list(b"[]").is_err());
    }

    #[test]
    fn numbers_as_the_source_writes_them() {
        let cases = [
            ("1234.56", Some(1234.56)),
            ("1 234,56", Some(1234.56)),
            ("1\u{a0}234\u{a0}567,89", Some(1_234_567.89)),
            ("1\u{202f}234", Some(1234.0)),
            (" -5 ", Some(-5.0)),
            ("+7", Some(7.0)),
            ("1 234", Some(1234.0)),
            ("1.234.567", Some(1_234_567.0)),
            ("1,234,567", Some(1_234_567.0)),
            ("1.234,5", Some(1234.5)),
            ("1,234.5", Some(1234.5)),
            ("0,5", Some(0.5)),
            ("", None),
            ("-", None),
            ("n/a", None),
            ("1e5", None),
            ("inf", None),
            ("NaN", None),
            ("1,2,3.4.5", None),
            ("1.2,3.4", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_number(s), want, "{s:?}");
        }
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
        assert_eq!(f[0].revenue, None, "CODE_1_2200 is not row 220");
        assert_eq!(f[1].net_profit, Some(-3.0));
        assert_eq!(f[1].values.len(), 3);
    }

    #[test]
    fn financial_values_flat_or_nested_numbers_or_strings() {
        let body = json!([
            {"year": "2023", "idno": "1003600012345", "currency": "MDL", "CODE_2_010_venituri": "1 234 567,89",
             "CODE_1_220": "-5", "CODE_1_380": null, "CODE_": 1, "code_2_180": 3, "CODE_9_999": "n/a", "notes": {"a": 1}},
            {"year": 2022.0, "values": {"CODE_2_010": "1234.56", "CODE_2_180": 12, "CODE_1_220": "1\u{a0}000"}, "extra": true},
            {"year": null, "values": {"CODE_2_010": 1}},
            {"values": {"CODE_2_010": 1}},
            {"year": 1800, "values": {"CODE_2_010": 1}},
            "not a statement",
            {"year": 2024, "values": null},
        ]);
        let f = parse_financials(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            f.iter().map(|y| y.year).collect::<Vec<_>>(),
            [2022, 2023, 2024],
            "statements without a readable year are skipped"
        );
        let y2022 = &f[0];
        assert_eq!(y2022.revenue, Some(1234.56));
        assert_eq!(y2022.net_profit, Some(12.0));
        assert_eq!(y2022.total_assets, Some(1000.0));
        let y2023 = &f[1];
        assert_eq!(y2023.revenue, Some(1_234_567.89));
        assert_eq!(y2023.total_assets, Some(-5.0));
        assert_eq!(y2023.equity, None);
        assert_eq!(y2023.net_profit, None);
        let keys: Vec<&str> = y2023.values.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["CODE_1_220", "CODE_2_010_venituri"],
            "other keys ignored"
        );
        assert!(f[2].values.is_empty());
        assert!(parse_financials(b"{\"year\": 2022}").is_err());
        assert!(parse_financials(b"[").is_err());
        assert_eq!(parse_financials(b"[]").unwrap(), []);
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
            parse_date("14/05/2003"),
            NaiveDate::from_ymd_opt(2003, 5, 14)
        );
        assert_eq!(
            parse_date("2003-05-14T00:00:00Z"),
            NaiveDate::from_ymd_opt(2003, 5, 14)
        );
        assert_eq!(parse_date("soon"), None);
    }

    #[test]
    fn demo_documents_in_every_shape_parse_to_their_ground_truth() {
        use gleaner_demo_site::{
            FinancialShape, api_company, api_financials_in, expected_company, expected_financials,
            generate,
        };
        for c in generate(7, 120) {
            let company = parse_company_json(api_company(&c).to_string().as_bytes()).unwrap();
            assert_eq!(serde_json::to_value(company).unwrap(), expected_company(&c));
            for nested in [false, true] {
                for strings in [false, true] {
                    let shape = FinancialShape { nested, strings };
                    let doc = api_financials_in(&c, shape).to_string();
                    let got = parse_financials(doc.as_bytes()).unwrap();
                    assert_eq!(
                        serde_json::to_value(got).unwrap(),
                        expected_financials(&c),
                        "{} {shape:?}",
                        c.idno
                    );
                }
            }
        }
    }
}
