//! The served documents carry exactly the ground truth: a scraper-like parse of the
//! JSON API and of the HTML page both give `expected_company` / `expected_financials`.

use gleaner_demo_site::{
    DemoCompany, api_company, api_financials, expected_company, expected_financials, generate,
    html_company,
};
use scraper::{Html, Selector};
use serde_json::{Value, json};

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("selector")
}

fn text(el: scraper::ElementRef<'_>) -> String {
    el.text().collect::<String>().trim().to_owned()
}

fn from_json(doc: &Value) -> Value {
    let s = |v: &Value| v.as_str().unwrap_or_default().trim().to_owned();
    let arr = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let mut activities = Vec::new();
    for (key, licensed) in [
        ("licensedActivities", true),
        ("unlicensedActivities", false),
    ] {
        for a in arr(&doc[key]) {
            activities
                .push(json!({"code": s(&a["id"]), "name": s(&a["name"]), "licensed": licensed}));
        }
    }
    let mut founders = Vec::new();
    for (key, kind) in [("personFounders", "person"), ("companyFounders", "company")] {
        for f in arr(&doc[key]) {
            founders.push(
                json!({"name": s(&f["fullName"]), "kind": kind, "share": f["shares"].as_f64()}),
            );
        }
    }
    let mut administrators = Vec::new();
    for key in ["personAdministrators", "companyAdministrators"] {
        for a in arr(&doc[key]) {
            administrators.push(json!({"name": s(&a["fullName"]), "role": s(&a["type"])}));
        }
    }
    json!({
        "idno": s(&doc["idno"]),
        "name": s(&doc["fullName"]),
        "legal_form": s(&doc["type"]),
        "status": if doc["isActive"] == true { "active" } else { "inactive" },
        "registered_at": s(&doc["registeredAt"]).get(..10).unwrap_or_default(),
        "address": {
            "full": s(&doc["address"]["fullName"]),
            "city": s(&doc["address"]["city"]),
            "district": s(&doc["address"]["district"]),
            "street": s(&doc["address"]["street"]),
            "street_number": s(&doc["address"]["streetNumber"]),
        },
        "activities": activities,
        "founders": founders,
        "administrators": administrators,
    })
}

fn from_html(page: &str) -> Value {
    let doc = Html::parse_document(page);
    let name = doc.select(&sel("h1")).next().map(text).unwrap_or_default();
    let dts: Vec<String> = doc.select(&sel("dl.company-fields dt")).map(text).collect();
    let dds: Vec<String> = doc.select(&sel("dl.company-fields dd")).map(text).collect();
    let field = |label: &str| -> String {
        dts.iter()
            .position(|d| d == label)
            .and_then(|i| dds.get(i).cloned())
            .unwrap_or_default()
    };
    let date = field("Data înregistrării");
    let registered_at = match date.split('.').collect::<Vec<_>>()[..] {
        [d, m, y] => format!("{y}-{m}-{d}"),
        _ => String::new(),
    };
    let cell = |row: scraper::ElementRef<'_>, class: &str| {
        row.select(&sel(&format!("td.{class}")))
            .next()
            .map(text)
            .unwrap_or_default()
    };
    let activities: Vec<Value> = doc
        .select(&sel("table.activities tbody tr"))
        .map(|r| {
            (
                cell(r, "code"),
                cell(r, "name"),
                cell(r, "licensed") == "Licențiată",
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
        .filter(|a| a.2)
        .chain(
            doc.select(&sel("table.activities tbody tr"))
                .map(|r| {
                    (
                        cell(r, "code"),
                        cell(r, "name"),
                        cell(r, "licensed") == "Licențiată",
                    )
                })
                .filter(|a| !a.2),
        )
        .map(|(code, name, licensed)| json!({"code": code, "name": name, "licensed": licensed}))
        .collect();
    let founders: Vec<Value> = doc
        .select(&sel("table.founders tbody tr"))
        .map(|r| {
            let share: Option<f64> = cell(r, "share")
                .trim_end_matches('%')
                .replace(',', ".")
                .parse()
                .ok();
            let kind = if cell(r, "kind") == "Persoană fizică" {
                "person"
            } else {
                "company"
            };
            json!({"name": cell(r, "name"), "kind": kind, "share": share})
        })
        .collect();
    let administrators: Vec<Value> = doc
        .select(&sel("table.administrators tbody tr"))
        .map(|r| json!({"name": cell(r, "name"), "role": cell(r, "role")}))
        .collect();
    json!({
        "idno": field("IDNO"),
        "name": name,
        "legal_form": field("Forma juridică"),
        "status": if field("Statut") == "Activă" { "active" } else { "inactive" },
        "registered_at": registered_at,
        "address": {
            "full": field("Adresa"),
            "city": field("Localitatea"),
            "district": field("Sectorul/Raionul"),
            "street": field("Strada"),
            "street_number": field("Numărul"),
        },
        "activities": activities,
        "founders": founders,
        "administrators": administrators,
    })
}

fn financials_from_json(doc: &Value) -> Value {
    let figure = |values: &serde_json::Map<String, Value>, row: &str| -> Value {
        values
            .iter()
            .find(|(k, _)| k.as_str() == row || k.starts_with(&format!("{row}_")))
            .map_or(Value::Null, |(_, v)| v.clone())
    };
    Value::Array(
        doc.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                let values = s["values"].as_object().cloned().unwrap_or_default();
                json!({
                    "year": s["year"],
                    "revenue": figure(&values, "CODE_2_010"),
                    "net_profit": figure(&values, "CODE_2_180"),
                    "total_assets": figure(&values, "CODE_1_220"),
                    "equity": figure(&values, "CODE_1_380"),
                    "values": values,
                })
            })
            .collect(),
    )
}

fn companies() -> Vec<DemoCompany> {
    generate(42, 400)
}

#[test]
fn json_documents_give_expected_company() {
    for c in companies() {
        let served: Value = serde_json::from_str(&api_company(&c).to_string()).expect("json");
        assert_eq!(from_json(&served), expected_company(&c), "{}", c.idno);
    }
}

#[test]
fn html_page_gives_expected_company() {
    for c in companies() {
        assert_eq!(
            from_html(&html_company(&c)),
            expected_company(&c),
            "{}",
            c.idno
        );
    }
}

#[test]
fn financial_documents_give_expected_financials() {
    for c in companies() {
        let served: Value = serde_json::from_str(&api_financials(&c).to_string()).expect("json");
        assert_eq!(
            financials_from_json(&served),
            expected_financials(&c),
            "{}",
            c.idno
        );
    }
}

#[test]
fn html_escaping_survives_parsing() {
    let mut c = generate(3, 1).remove(0);
    c.full_name = "  Tom & Jerry <Impex> \"Nord\" SRL ".to_owned();
    c.address.street = "str. A&B <1>".to_owned();
    assert_eq!(from_html(&html_company(&c)), expected_company(&c));
}
