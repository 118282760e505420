//! The served documents carry exactly the ground truth: a scraper-like parse of the
//! JSON API and of the HTML page (either layout) gives `expected_company`, and of
//! the financial statements (either shape) `expected_financials`.

use gleaner_demo_site::{
    DemoCompany, FinancialShape, Layout, api_company, api_financials, api_financials_in,
    expected_company, expected_financials, generate, html_company, html_company_in,
};
use scraper::{Html, Selector};
use serde_json::{Value, json};

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("selector")
}

fn text(el: scraper::ElementRef<'_>) -> String {
    el.text().collect::<String>().trim().to_owned()
}

/// A founder as the API shows it: `idno` only when the source gives one.
fn founder(name: &str, kind: &str, share: Option<f64>, idno: Option<&str>) -> Value {
    let mut f = json!({"name": name, "kind": kind, "share": share});
    if let Some(idno) = idno.filter(|i| !i.is_empty() && *i != "—") {
        f["idno"] = json!(idno);
    }
    f
}

/// An administrator as the API shows it: `kind` only for a company, `idno` only
/// when the source gives one.
fn administrator(name: &str, role: &str, company: bool, idno: Option<&str>) -> Value {
    let mut a = json!({"name": name, "role": role});
    if company {
        a["kind"] = json!("company");
    }
    if let Some(idno) = idno.filter(|i| !i.is_empty() && *i != "—") {
        a["idno"] = json!(idno);
    }
    a
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
            founders.push(founder(
                &s(&f["fullName"]),
                kind,
                f["shares"].as_f64(),
                f["idno"].as_str(),
            ));
        }
    }
    let mut administrators = Vec::new();
    for (key, company) in [
        ("personAdministrators", false),
        ("companyAdministrators", true),
    ] {
        for a in arr(&doc[key]) {
            administrators.push(administrator(
                &s(&a["fullName"]),
                &s(&a["type"]),
                company,
                a["idno"].as_str(),
            ));
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

/// The Company JSON as a reader who knows both layouts of the demo site sees it.
fn from_html(page: &str) -> Value {
    let doc = Html::parse_document(page);
    let all = |s: &str| doc.select(&sel(s)).map(text).collect::<Vec<_>>();
    let name = all("h1").first().cloned().unwrap_or_default();
    let cards = doc.select(&sel("dl.company-fields")).next().is_some();
    // Label → value, whichever way the layout writes them.
    let mut fields: Vec<(String, String)> = Vec::new();
    if cards {
        fields.extend(
            all("dl.company-fields dt")
                .into_iter()
                .zip(all("dl.company-fields dd")),
        );
    } else {
        for row in doc.select(&sel("table.kv-table tr")) {
            let cells: Vec<String> = row.select(&sel("th, td")).map(text).collect();
            if let [label, value] = &cells[..] {
                fields.push((label.clone(), value.clone()));
            }
        }
        for line in all(".firm-state p, .firm-address p, .addr-parts li") {
            if let Some((label, value)) = line.split_once(':') {
                fields.push((label.trim().to_owned(), value.trim().to_owned()));
            }
        }
    }
    let field = |labels: &[&str]| -> String {
        fields
            .iter()
            .find(|(l, _)| labels.contains(&l.as_str()))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let date = field(&["Data înregistrării", "Data de înregistrare"]);
    let registered_at = match date.split(['.', '/']).collect::<Vec<_>>()[..] {
        [d, m, y] => format!("{y}-{m}-{d}"),
        _ => String::new(),
    };
    let status = field(&["Statut"]);
    let (activities, founders, administrators) = if cards {
        cards_sections(&doc)
    } else {
        tables_sections(&doc)
    };
    let licensed_first = |acts: Vec<Value>| -> Vec<Value> {
        let (mut yes, no): (Vec<Value>, Vec<Value>) =
            acts.into_iter().partition(|a| a["licensed"] == true);
        yes.extend(no);
        yes
    };
    json!({
        "idno": field(&["IDNO", "Cod fiscal (IDNO)"]),
        "name": name,
        "legal_form": field(&["Forma juridică", "FORMA JURIDICĂ"]),
        "status": if ["Activă", "ACTIVĂ"].contains(&status.as_str()) { "active" } else { "inactive" },
        "registered_at": registered_at,
        "address": {
            "full": field(&["Adresa", "Adresa juridică"]),
            "city": field(&["Localitatea", "Localitate"]),
            "district": field(&["Sectorul/Raionul", "Sector / raion"]),
            "street": field(&["Strada"]),
            "street_number": field(&["Numărul", "Nr."]),
        },
        "activities": licensed_first(activities),
        "founders": founders,
        "administrators": administrators,
    })
}

fn share(s: &str) -> Option<f64> {
    s.trim_end_matches('%').replace(',', ".").parse().ok()
}

/// Activities, founders and administrators of the card layout (lists).
fn cards_sections(doc: &Html) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let lists: Vec<_> = doc.select(&sel("section.card")).collect();
    let section = |heading: &str| {
        lists
            .iter()
            .find(|s| s.select(&sel("h2")).next().map(text).as_deref() == Some(heading))
            .map(|s| s.select(&sel("li")).map(text).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let activities = section("Genuri de activitate")
        .into_iter()
        .map(|item| {
            let (code, rest) = item.split_once(" — ").unwrap_or_default();
            let (name, licence) = rest.rsplit_once(" (").unwrap_or_default();
            json!({"code": code, "name": name, "licensed": licence == "licențiată)"})
        })
        .collect();
    let founders = section("Fondatori")
        .into_iter()
        .map(|item| {
            // `name — kind — [IDNO x — ]share`
            let parts: Vec<&str> = item.split(" — ").collect();
            let kind = if parts.get(1) == Some(&"Persoană fizică") {
                "person"
            } else {
                "company"
            };
            let idno = parts.iter().find_map(|p| p.strip_prefix("IDNO "));
            let share_part = parts.last().filter(|_| parts.len() > 2);
            founder(parts[0], kind, share_part.and_then(|s| share(s)), idno)
        })
        .collect();
    let administrators = section("Administratori")
        .into_iter()
        .map(|item| {
            // `name — role`, or `name[ (c/f x)] — role — persoană juridică`
            let parts: Vec<&str> = item.split(" — ").collect();
            let company = parts.get(2) == Some(&"persoană juridică");
            let (name, idno) = match parts[0].rsplit_once(" (c/f ") {
                Some((name, idno)) if company => (name, idno.strip_suffix(')')),
                _ => (parts[0], None),
            };
            administrator(
                name,
                parts.get(1).copied().unwrap_or_default(),
                company,
                idno,
            )
        })
        .collect();
    (activities, founders, administrators)
}

/// Activities, founders and administrators of the table layout, each table
/// read through its header row.
fn tables_sections(doc: &Html) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let headings: Vec<_> = doc.select(&sel("h3.sect-title")).collect();
    let table = |heading: &str| -> Vec<std::collections::HashMap<String, String>> {
        let Some(h) = headings.iter().find(|h| text(**h).starts_with(heading)) else {
            return Vec::new();
        };
        let Some(table) = h
            .next_siblings()
            .filter_map(scraper::ElementRef::wrap)
            .next()
            .and_then(|e| {
                if e.value().name() == "table" {
                    Some(e)
                } else {
                    e.select(&sel("table")).next()
                }
            })
        else {
            return Vec::new();
        };
        let header: Vec<String> = table.select(&sel("thead th")).map(text).collect();
        table
            .select(&sel("tbody tr"))
            .map(|r| {
                header
                    .iter()
                    .cloned()
                    .zip(r.select(&sel("td")).map(text))
                    .collect()
            })
            .collect()
    };
    let get = |row: &std::collections::HashMap<String, String>, col: &str| {
        row.get(col).cloned().unwrap_or_default()
    };
    let activities = table("Genuri de activitate")
        .iter()
        .map(|r| {
            json!({"code": get(r, "Cod CAEM"), "name": get(r, "Denumirea activității"),
                   "licensed": get(r, "Licență") == "Da"})
        })
        .collect();
    let founders = table("Fondatori")
        .iter()
        .map(|r| {
            let kind = if get(r, "Tip") == "fizică" {
                "person"
            } else {
                "company"
            };
            founder(
                &get(r, "Denumire / Nume"),
                kind,
                share(&get(r, "Cota parte, %")),
                Some(&get(r, "IDNO")),
            )
        })
        .collect();
    let administrators = table("Administratori")
        .iter()
        .map(|r| {
            administrator(
                &get(r, "Nume, prenume"),
                &get(r, "Funcția"),
                get(r, "Tip persoană") == "juridică",
                Some(&get(r, "Cod fiscal")),
            )
        })
        .collect();
    (activities, founders, administrators)
}

/// A figure as served: a JSON number or a localized string (`"1 234,56"`).
fn figure_value(v: &Value) -> Value {
    match v {
        Value::String(s) => {
            let plain: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            plain
                .replace(',', ".")
                .parse::<f64>()
                .map_or(Value::Null, |f| json!(f))
        }
        other => other.clone(),
    }
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
                // The codes sit under `values` or on the year object itself.
                let holder = s.get("values").unwrap_or(&s);
                let values: serde_json::Map<String, Value> = holder
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.starts_with("CODE_"))
                    .map(|(k, v)| (k.clone(), figure_value(v)))
                    .collect();
                let year = match &s["year"] {
                    Value::String(y) => y.parse::<i64>().map_or(Value::Null, |y| json!(y)),
                    other => other.clone(),
                };
                json!({
                    "year": year,
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
fn both_layouts_give_expected_company() {
    for c in companies().into_iter().take(100) {
        for layout in [Layout::Cards, Layout::Tables] {
            assert_eq!(
                from_html(&html_company_in(&c, layout)),
                expected_company(&c),
                "{} {layout:?}",
                c.idno
            );
        }
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
fn every_financial_shape_gives_expected_financials() {
    for c in companies().into_iter().take(100) {
        for nested in [false, true] {
            for strings in [false, true] {
                let shape = FinancialShape { nested, strings };
                let served = api_financials_in(&c, shape);
                assert_eq!(
                    financials_from_json(&served),
                    expected_financials(&c),
                    "{} {shape:?}",
                    c.idno
                );
            }
        }
    }
}

#[test]
fn html_escaping_survives_parsing() {
    let mut c = generate(3, 1).remove(0);
    c.full_name = "  Tom & Jerry <Impex> \"Nord\" SRL ".to_owned();
    c.address.street = "str. A&B <1>".to_owned();
    for layout in [Layout::Cards, Layout::Tables] {
        assert_eq!(
            from_html(&html_company_in(&c, layout)),
            expected_company(&c)
        );
    }
}
