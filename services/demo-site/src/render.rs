//! The documents the site serves, and the ground truth a correct scraper derives from them.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::data::{DemoCompany, FinancialStatement};

const DATETIME: &str = "%Y-%m-%dT%H:%M:%S";

/// The list-page entry (`/api/companies`).
pub fn api_summary(c: &DemoCompany) -> Value {
    json!({
        "fullName": c.full_name,
        "id": c.id,
        "idno": c.idno,
        "type": c.legal_form,
        "isActive": c.is_active,
        "registeredAt": c.registered_at.and_hms_opt(0, 0, 0).unwrap_or_default().format(DATETIME).to_string(),
    })
}

/// The company document (`/api/companies/{idno}`).
pub fn api_company(c: &DemoCompany) -> Value {
    let activities = |licensed: bool| -> Vec<Value> {
        c.activities
            .iter()
            .filter(|a| a.licensed == licensed)
            .map(|a| json!({"id": a.code, "name": a.name}))
            .collect()
    };
    json!({
        "id": c.id,
        "idno": c.idno,
        "fullName": c.full_name,
        "type": c.legal_form,
        "isActive": c.is_active,
        "registeredAt": c.registered_at.and_hms_opt(0, 0, 0).unwrap_or_default().format(DATETIME).to_string(),
        "revisionDate": c.revision_date.format(DATETIME).to_string(),
        "address": {
            "fullName": c.address.full_name,
            "city": c.address.city,
            "street": c.address.street,
            "streetNumber": c.address.street_number,
            "district": c.address.district,
        },
        "cuatm": {"code": c.cuatm.code, "name": c.cuatm.name},
        "licensedActivities": activities(true),
        "unlicensedActivities": activities(false),
        "personFounders": c.person_founders.iter()
            .map(|f| json!({"fullName": f.full_name, "shares": f.shares})).collect::<Vec<_>>(),
        "companyFounders": c.company_founders.iter()
            .map(|f| json!({"fullName": f.full_name, "idno": f.idno, "shares": f.shares})).collect::<Vec<_>>(),
        "personAdministrators": c.person_administrators.iter()
            .map(|a| json!({"fullName": a.full_name, "type": a.role})).collect::<Vec<_>>(),
        "companyAdministrators": c.company_administrators.iter()
            .map(|a| json!({"fullName": a.full_name, "idno": a.idno, "type": a.role})).collect::<Vec<_>>(),
    })
}

/// How a company's financial statements document is shaped: the codes on the
/// year object itself or under `values`, numbers as JSON numbers or as
/// localized strings (`"1 234 567,89"`). Both vary per company.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinancialShape {
    /// Codes under `values` (else on the year object, next to other keys).
    pub nested: bool,
    /// Numbers (and the year) as localized strings.
    pub strings: bool,
}

impl FinancialShape {
    /// The shape a company's document has, fixed by its IDNO.
    pub fn for_idno(idno: &str) -> Self {
        let bits = idno_bits(idno);
        FinancialShape {
            nested: bits & 2 == 0,
            strings: bits & 4 != 0,
        }
    }
}

/// `1234567.89` as `"1 234 567,89"` (non-breaking spaces), whole numbers as `"250"`
/// or `"1 250"` (ordinary spaces).
pub fn localized_number(v: f64) -> String {
    let whole = v.fract() == 0.0;
    let digits = if whole {
        format!("{:.0}", v.abs())
    } else {
        format!("{:.2}", v.abs())
    };
    let (int, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    let group = if whole { ' ' } else { '\u{a0}' };
    let mut out = String::with_capacity(digits.len() + 8);
    if v < 0.0 {
        out.push('-');
    }
    for (i, d) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(d);
    }
    if !frac.is_empty() {
        out.push(',');
        out.push_str(frac);
    }
    out
}

/// The financial statements document (`/api/fin-data-v1/{idno}`) in the company's
/// own shape, oldest year first.
pub fn api_financials(c: &DemoCompany) -> Value {
    api_financials_in(c, FinancialShape::for_idno(&c.idno))
}

/// The financial statements document in the given shape, oldest year first.
pub fn api_financials_in(c: &DemoCompany, shape: FinancialShape) -> Value {
    let mut statements: Vec<&FinancialStatement> = c.financials.iter().collect();
    statements.sort_by_key(|s| s.year);
    let number = |v: f64| {
        if shape.strings {
            json!(localized_number(v))
        } else {
            json!(v)
        }
    };
    Value::Array(
        statements
            .into_iter()
            .map(|s| {
                let values: Map<String, Value> = s
                    .values
                    .iter()
                    .map(|(k, v)| (k.clone(), number(*v)))
                    .collect();
                let year = if shape.strings {
                    json!(s.year.to_string())
                } else {
                    json!(s.year)
                };
                if shape.nested {
                    json!({"year": year, "values": values})
                } else {
                    let mut flat = values;
                    flat.insert("year".into(), year);
                    flat.insert("idno".into(), json!(c.idno));
                    flat.insert("currency".into(), json!("MDL"));
                    flat.insert("formType".into(), json!("BS+PL"));
                    Value::Object(flat)
                }
            })
            .collect(),
    )
}

/// The Company JSON of `GET /api/v1/companies/{idno}` a correct scraper produces from this company,
/// without `source` and `updated_at`.
pub fn expected_company(c: &DemoCompany) -> Value {
    let licensed = c.activities.iter().filter(|a| a.licensed);
    let unlicensed = c.activities.iter().filter(|a| !a.licensed);
    let activities: Vec<Value> = licensed
        .chain(unlicensed)
        .map(|a| json!({"code": a.code, "name": a.name, "licensed": a.licensed}))
        .collect();
    let founders: Vec<Value> = c
        .person_founders
        .iter()
        .map(|f| json!({"name": f.full_name.trim(), "kind": "person", "share": f.shares}))
        .chain(c.company_founders.iter().map(|f| {
            let mut v = json!({"name": f.full_name.trim(), "kind": "company", "share": f.shares});
            if let Some(idno) = &f.idno {
                v["idno"] = json!(idno);
            }
            v
        }))
        .collect();
    let administrators: Vec<Value> = c
        .person_administrators
        .iter()
        .map(|a| json!({"name": a.full_name.trim(), "role": a.role.trim()}))
        .chain(c.company_administrators.iter().map(|a| {
            let mut v =
                json!({"name": a.full_name.trim(), "role": a.role.trim(), "kind": "company"});
            if let Some(idno) = &a.idno {
                v["idno"] = json!(idno);
            }
            v
        }))
        .collect();
    json!({
        "idno": c.idno,
        "name": c.full_name.trim(),
        "legal_form": c.legal_form.trim(),
        "status": if c.is_active { "active" } else { "inactive" },
        "registered_at": c.registered_at.format("%Y-%m-%d").to_string(),
        "address": {
            "full": c.address.full_name.trim(),
            "city": c.address.city.trim(),
            "district": c.address.district.trim(),
            "street": c.address.street.trim(),
            "street_number": c.address.street_number.trim(),
        },
        "activities": activities,
        "founders": founders,
        "administrators": administrators,
    })
}

/// The value of the first code of row `row` (`CODE_<form>_<row>` exactly, or followed by `_<label>`).
pub fn named_figure(values: &std::collections::BTreeMap<String, f64>, row: &str) -> Option<f64> {
    values.iter().find_map(|(k, v)| {
        let rest = k.strip_prefix(row)?;
        (rest.is_empty() || rest.starts_with('_')).then_some(*v)
    })
}

/// The financials of `GET /api/v1/companies/{idno}/financials` a correct scraper produces: oldest year first,
/// named figures null when the statement lacks them.
pub fn expected_financials(c: &DemoCompany) -> Value {
    let mut statements: Vec<&FinancialStatement> = c.financials.iter().collect();
    statements.sort_by_key(|s| s.year);
    Value::Array(
        statements
            .into_iter()
            .map(|s| {
                json!({
                    "year": s.year,
                    "revenue": named_figure(&s.values, "CODE_2_010"),
                    "net_profit": named_figure(&s.values, "CODE_2_180"),
                    "total_assets": named_figure(&s.values, "CODE_1_220"),
                    "equity": named_figure(&s.values, "CODE_1_380"),
                    "values": s.values.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
                })
            })
            .collect(),
    )
}
/// One byte of the IDNO's hash: the per-company choice of layout and shapes.
fn idno_bits(idno: &str) -> u8 {
    Sha256::digest(idno.as_bytes())[0]
}

mod chrome;
mod html;

pub use html::{Layout, escape_html, format_share, html_company, html_company_in, html_not_found};

#[cfg(test)]
mod tests;
