//! The documents the site serves, and the ground truth a correct scraper derives from them.

use std::fmt::Write as _;
use std::sync::OnceLock;

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

/// The Company JSON (contract §5) a correct scraper produces from this company,
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
        .chain(
            c.company_founders
                .iter()
                .map(|f| json!({"name": f.full_name.trim(), "kind": "company", "share": f.shares})),
        )
        .collect();
    let administrators: Vec<Value> = c
        .person_administrators
        .iter()
        .map(|a| json!({"name": a.full_name.trim(), "role": a.role.trim()}))
        .chain(
            c.company_administrators
                .iter()
                .map(|a| json!({"name": a.full_name.trim(), "role": a.role.trim()})),
        )
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

/// The financials (contract §5) a correct scraper produces: oldest year first,
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

/// HTML-escape text for element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A share in Romanian notation: `60,00%`.
pub fn format_share(share: f64) -> String {
    format!("{share:.2}%").replace('.', ",")
}

/// The two designs of the company page the site serves, so that scrapers are
/// tested against a redesign: the same data, different markup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Cards: fields in a `dl`, sections as `h2` headings over `ul` lists.
    Cards,
    /// Tables: fields in `th`/`td` rows and "Label: value" lines, sections as
    /// `h3` headings over tables whose columns come in another order.
    Tables,
}

/// One byte of the IDNO's hash: the per-company choice of layout and shapes.
fn idno_bits(idno: &str) -> u8 {
    Sha256::digest(idno.as_bytes())[0]
}

impl Layout {
    /// The layout a company's page has, fixed by its IDNO.
    pub fn for_idno(idno: &str) -> Self {
        if idno_bits(idno) & 1 == 0 {
            Layout::Cards
        } else {
            Layout::Tables
        }
    }
}

/// The HTML company page (`/companies/{idno}`) in the company's own layout, about 30 KB.
pub fn html_company(c: &DemoCompany) -> String {
    html_company_in(c, Layout::for_idno(&c.idno))
}

/// The HTML company page in the given layout.
pub fn html_company_in(c: &DemoCompany, layout: Layout) -> String {
    let chrome = chrome();
    let body = match layout {
        Layout::Cards => cards_body(c),
        Layout::Tables => tables_body(c),
    };
    let mut page = String::with_capacity(chrome.head.len() + chrome.tail.len() + body.len());
    page.push_str(&chrome.head);
    page.push_str(&body);
    page.push_str(&chrome.tail);
    page
}

/// Founders as (name, is a company, share), persons first.
fn founder_rows(c: &DemoCompany) -> Vec<(&str, bool, f64)> {
    c.person_founders
        .iter()
        .map(|f| (f.full_name.as_str(), false, f.shares))
        .chain(
            c.company_founders
                .iter()
                .map(|f| (f.full_name.as_str(), true, f.shares)),
        )
        .collect()
}

/// Administrators as (name, role), persons first.
fn administrator_rows(c: &DemoCompany) -> Vec<(&str, &str)> {
    c.person_administrators
        .iter()
        .map(|a| (a.full_name.as_str(), a.role.as_str()))
        .chain(
            c.company_administrators
                .iter()
                .map(|a| (a.full_name.as_str(), a.role.as_str())),
        )
        .collect()
}

const NO_DATA: &str = "<p class=\"muted\">Nu sunt date.</p>\n";

fn cards_body(c: &DemoCompany) -> String {
    let e = escape_html;
    let mut body = String::with_capacity(6 * 1024);
    let _ = write!(
        body,
        "<main class=\"container company\" id=\"content\">\n\
         <nav class=\"breadcrumbs\" aria-label=\"breadcrumb\"><a href=\"/\">Acasă</a> / <a href=\"/companies\">Companii</a> / <span>Fișa companiei</span></nav>\n\
         <section class=\"card company-header\">\n<h1 class=\"company-title\">\n      {}\n    </h1>\n\
         <p class=\"muted\">Date din Registrul de stat al persoanelor juridice și al întreprinzătorilor individuali.</p>\n\
         </section>\n<section class=\"card\">\n<h2>Informații generale</h2>\n<dl class=\"company-fields\">\n",
        e(&c.full_name)
    );
    let status = if c.is_active { "Activă" } else { "Inactivă" };
    let fields: [(&str, String, bool); 9] = [
        ("IDNO", c.idno.clone(), false),
        ("Forma juridică", c.legal_form.clone(), true),
        ("Statut", status.to_owned(), true),
        (
            "Data înregistrării",
            c.registered_at.format("%d.%m.%Y").to_string(),
            false,
        ),
        ("Adresa", c.address.full_name.clone(), true),
        ("Localitatea", c.address.city.clone(), false),
        ("Sectorul/Raionul", c.address.district.clone(), true),
        ("Strada", c.address.street.clone(), false),
        ("Numărul", c.address.street_number.clone(), true),
    ];
    for (label, value, noisy) in fields {
        if noisy {
            let _ = writeln!(
                body,
                "  <dt>{label}</dt>\n  <dd>\n        {}\n      </dd>",
                e(&value)
            );
        } else {
            let _ = writeln!(body, "  <dt>{label}</dt><dd>{}</dd>", e(&value));
        }
    }
    body.push_str("</dl>\n</section>\n<section class=\"card\">\n<h2>Genuri de activitate</h2>\n");
    if c.activities.is_empty() {
        body.push_str(NO_DATA);
    } else {
        body.push_str("<ul class=\"caem-list\">\n");
        for a in &c.activities {
            let _ = writeln!(
                body,
                "<li><span class=\"caem\">{}</span> — {} <small>({})</small></li>",
                e(&a.code),
                e(&a.name),
                if a.licensed {
                    "licențiată"
                } else {
                    "nelicențiată"
                }
            );
        }
        body.push_str("</ul>\n");
    }
    body.push_str("</section>\n<section class=\"card\">\n<h2>Fondatori</h2>\n");
    let founders = founder_rows(c);
    if founders.is_empty() {
        body.push_str(NO_DATA);
    } else {
        body.push_str("<ul class=\"people\">\n");
        for (name, company, share) in founders {
            let kind = if company {
                "Persoană juridică"
            } else {
                "Persoană fizică"
            };
            let _ = writeln!(
                body,
                "<li><strong>{}</strong> — {kind} — {}</li>",
                e(name),
                format_share(share)
            );
        }
        body.push_str("</ul>\n");
    }
    body.push_str("</section>\n<section class=\"card\">\n<h2>Administratori</h2>\n");
    let admins = administrator_rows(c);
    if admins.is_empty() {
        body.push_str(NO_DATA);
    } else {
        body.push_str("<ul class=\"people\">\n");
        for (name, role) in admins {
            let _ = writeln!(body, "<li>{} — {}</li>", e(name), e(role));
        }
        body.push_str("</ul>\n");
    }
    body.push_str("</section>\n</main>\n");
    body
}

fn tables_body(c: &DemoCompany) -> String {
    let e = escape_html;
    let mut body = String::with_capacity(6 * 1024);
    let _ = write!(
        body,
        "<div id=\"app\" class=\"page-wrapper\">\n<article class=\"firm\">\n\
         <header class=\"firm-head\"><h1 class=\"firm-name\">{}</h1>\
         <span class=\"badge {}\">{}</span></header>\n\
         <table class=\"kv-table\"><caption>Date de identificare</caption><tbody>\n\
         <tr><th scope=\"row\">Cod fiscal (IDNO)</th><td>{}</td></tr>\n\
         <tr><th scope=\"row\">FORMA JURIDICĂ</th><td>\n    {}\n  </td></tr>\n\
         <tr><th scope=\"row\">Data de înregistrare</th><td>{}</td></tr>\n\
         <tr><th scope=\"row\">Capital social</th><td>5 400 MDL</td></tr>\n\
         </tbody></table>\n",
        e(&c.full_name),
        if c.is_active { "badge-ok" } else { "badge-off" },
        if c.is_active {
            "în activitate"
        } else {
            "radiată"
        },
        e(&c.idno),
        e(&c.legal_form),
        c.registered_at.format("%d/%m/%Y"),
    );
    let _ = write!(
        body,
        "<div class=\"firm-state\"><p><b>Statut:</b> {}</p><p>Telefon: —</p></div>\n\
         <div class=\"firm-address\"><h4>Sediul și contactele</h4>\n\
         <p><span class=\"lbl\">Adresa juridică:</span> {}</p>\n\
         <ul class=\"addr-parts\"><li>Localitate: {}</li><li>Sector / raion: {}</li>\
         <li>Strada: {}</li><li>Nr.: {}</li></ul>\n</div>\n",
        if c.is_active { "ACTIVĂ" } else { "Lichidată" },
        e(&c.address.full_name),
        e(&c.address.city),
        e(&c.address.district),
        e(&c.address.street),
        e(&c.address.street_number),
    );
    body.push_str("<h3 class=\"sect-title\">Administratori</h3>\n");
    let admins = administrator_rows(c);
    if admins.is_empty() {
        body.push_str(NO_DATA);
    } else {
        body.push_str(
            "<table class=\"grid\"><thead><tr><th>Funcția</th><th>Nume, prenume</th></tr></thead><tbody>\n",
        );
        for (name, role) in admins {
            let _ = writeln!(body, "<tr><td>{}</td><td>{}</td></tr>", e(role), e(name));
        }
        body.push_str("</tbody></table>\n");
    }
    let founders = founder_rows(c);
    let _ = writeln!(
        body,
        "<h3 class=\"sect-title\">Fondatori ({})</h3>",
        founders.len()
    );
    if founders.is_empty() {
        body.push_str(NO_DATA);
    } else {
        body.push_str(
            "<div class=\"scroll\"><table class=\"grid\"><thead><tr><th>Cota parte, %</th><th>Denumire / Nume</th>\
             <th>Tip</th><th>Data intrării</th></tr></thead><tbody>\n",
        );
        for (name, company, share) in founders {
            let _ = writeln!(
                body,
                "<tr><td>{share:.2}</td><td>{}</td><td>{}</td><td>—</td></tr>",
                e(name),
                if company { "juridică" } else { "fizică" }
            );
        }
        body.push_str("</tbody></table></div>\n");
    }
    body.push_str(
        "<h3 class=\"sect-title\">Licențe</h3>\n<table class=\"grid\"><thead><tr><th>Nr.</th><th>Eliberată</th></tr></thead>\
         <tbody><tr><td>—</td><td>—</td></tr></tbody></table>\n<h3 class=\"sect-title\">Genuri de activitate</h3>\n",
    );
    if c.activities.is_empty() {
        body.push_str(NO_DATA);
    } else {
        body.push_str(
            "<table class=\"grid\"><thead><tr><th>Denumirea activității</th><th>Licență</th><th>Cod CAEM</th></tr></thead><tbody>\n",
        );
        for a in &c.activities {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&a.name),
                if a.licensed { "Da" } else { "Nu" },
                e(&a.code)
            );
        }
        body.push_str("</tbody></table>\n");
    }
    body.push_str("</article>\n</div>\n");
    body
}

/// A small HTML 404 page.
pub fn html_not_found() -> String {
    "<!DOCTYPE html>\n<html lang=\"ro\"><head><meta charset=\"utf-8\"><title>Pagina nu a fost găsită</title></head>\
     <body><h1>404</h1><p>Compania nu a fost găsită.</p></body></html>\n"
        .to_owned()
}

/// The page chrome around the data: head (inline CSS and JS), navigation, footer.
struct Chrome {
    head: String,
    tail: String,
}

fn chrome() -> &'static Chrome {
    static CHROME: OnceLock<Chrome> = OnceLock::new();
    CHROME.get_or_init(build_chrome)
}

const SECTIONS: &[(&str, &str)] = &[
    ("A", "Agricultură, silvicultură și pescuit"),
    ("B", "Industria extractivă"),
    ("C", "Industria prelucrătoare"),
    (
        "D",
        "Producția și furnizarea de energie electrică și termică, gaze, apă caldă și aer condiționat",
    ),
    (
        "E",
        "Distribuția apei; salubritate, gestionarea deșeurilor, activități de decontaminare",
    ),
    ("F", "Construcții"),
    (
        "G",
        "Comerț cu ridicata și cu amănuntul; întreținerea și repararea autovehiculelor și a motocicletelor",
    ),
    ("H", "Transport și depozitare"),
    ("I", "Activități de cazare și alimentație publică"),
    ("J", "Informații și comunicații"),
    ("K", "Activități financiare și asigurări"),
    ("L", "Tranzacții imobiliare"),
    ("M", "Activități profesionale, științifice și tehnice"),
    (
        "N",
        "Activități de servicii administrative și activități de servicii suport",
    ),
    (
        "O",
        "Administrație publică și apărare; asigurări sociale obligatorii",
    ),
    ("P", "Învățământ"),
    ("Q", "Sănătate și asistență socială"),
    ("R", "Artă, activități de recreere și de agrement"),
    ("S", "Alte activități de servicii"),
];

const REGIONS: &[&str] = &[
    "Anenii Noi",
    "Basarabeasca",
    "Briceni",
    "Cahul",
    "Cantemir",
    "Călărași",
    "Căușeni",
    "Cimișlia",
    "Criuleni",
    "Dondușeni",
    "Drochia",
    "Dubăsari",
    "Edineț",
    "Fălești",
    "Florești",
    "Glodeni",
    "Hîncești",
    "Ialoveni",
    "Leova",
    "Nisporeni",
    "Ocnița",
    "Orhei",
    "Rezina",
    "Rîșcani",
    "Sîngerei",
    "Soroca",
    "Strășeni",
    "Șoldănești",
    "Ștefan Vodă",
    "Taraclia",
    "Telenești",
    "Ungheni",
];

fn build_chrome() -> Chrome {
    let mut css = String::with_capacity(16 * 1024);
    css.push_str(
        ":root{--brand:#0b5fff;--brand-dark:#0842b0;--text:#1d2330;--muted:#6b7383;--bg:#f5f7fb;--card:#fff;--border:#e3e7ef;--radius:10px;--shadow:0 1px 3px rgba(16,24,40,.08),0 1px 2px rgba(16,24,40,.04)}\n\
         *,*::before,*::after{box-sizing:border-box}\nhtml{-webkit-text-size-adjust:100%;font-size:16px}\n\
         body{margin:0;font-family:Inter,\"Segoe UI\",Roboto,Helvetica,Arial,sans-serif;color:var(--text);background:var(--bg);line-height:1.5}\n\
         a{color:var(--brand);text-decoration:none}a:hover{color:var(--brand-dark);text-decoration:underline}\n\
         .container{max-width:1180px;margin:0 auto;padding:0 16px}\n\
         .topbar{background:#0f1b33;color:#cfd6e4;font-size:13px}.topbar a{color:#cfd6e4}\n\
         .header{background:var(--card);border-bottom:1px solid var(--border);position:sticky;top:0;z-index:50}\n\
         .header .logo{font-weight:800;font-size:22px;letter-spacing:-.5px;color:var(--text)}\n\
         .header .logo span{color:var(--brand)}\n\
         .search{display:flex;gap:8px}.search input{flex:1;padding:10px 14px;border:1px solid var(--border);border-radius:8px}\n\
         .search button{padding:10px 18px;border:0;border-radius:8px;background:var(--brand);color:#fff;font-weight:600;cursor:pointer}\n\
         .card{background:var(--card);border:1px solid var(--border);border-radius:var(--radius);box-shadow:var(--shadow);padding:20px 24px;margin:16px 0}\n\
         .company-title{font-size:28px;line-height:1.2;margin:0 0 8px}\n\
         .company-fields{display:grid;grid-template-columns:220px 1fr;gap:8px 16px;margin:0}\n\
         .company-fields dt{color:var(--muted);font-weight:500}.company-fields dd{margin:0;font-weight:600}\n\
         table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:10px 12px;border-bottom:1px solid var(--border);vertical-align:top}\n\
         th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}\n\
         .muted{color:var(--muted)}.badge{display:inline-block;padding:2px 8px;border-radius:999px;font-size:12px;font-weight:600}\n\
         .badge-ok{background:#e6f6ed;color:#137a3b}.badge-off{background:#fdecec;color:#b42318}\n\
         .footer{background:#0f1b33;color:#aab4c8;padding:40px 0 24px;margin-top:48px;font-size:14px}.footer a{color:#dfe5f0}\n\
         .footer .cols{display:grid;grid-template-columns:repeat(4,1fr);gap:24px}\n\
         @media (max-width:760px){.company-fields{grid-template-columns:1fr}.footer .cols{grid-template-columns:1fr 1fr}.nav-sections{display:none}}\n",
    );
    // Utility classes, as a CSS framework would ship them.
    let props = [
        ("m", "margin"),
        ("mt", "margin-top"),
        ("mb", "margin-bottom"),
        ("ml", "margin-left"),
        ("mr", "margin-right"),
        ("p", "padding"),
        ("pt", "padding-top"),
        ("pb", "padding-bottom"),
        ("pl", "padding-left"),
        ("pr", "padding-right"),
    ];
    for (short, prop) in props {
        for step in 0..=12 {
            let _ = writeln!(
                css,
                ".{short}-{step}{{{prop}:{}rem!important}}",
                f64::from(step) * 0.25
            );
        }
    }
    for (name, value) in [
        ("flex", "display:flex"),
        ("grid", "display:grid"),
        ("block", "display:block"),
        ("inline", "display:inline"),
        ("hidden", "display:none"),
        ("items-center", "align-items:center"),
        ("justify-between", "justify-content:space-between"),
        ("text-right", "text-align:right"),
        ("text-center", "text-align:center"),
        ("font-bold", "font-weight:700"),
        ("uppercase", "text-transform:uppercase"),
        (
            "truncate",
            "overflow:hidden;text-overflow:ellipsis;white-space:nowrap",
        ),
    ] {
        for bp in ["", "sm\\:", "md\\:", "lg\\:"] {
            let _ = writeln!(css, ".{bp}{name}{{{value}}}");
        }
    }
    for w in [10, 20, 25, 30, 33, 40, 50, 60, 66, 70, 75, 80, 90, 100] {
        let _ = writeln!(
            css,
            ".w-{w}{{width:{w}%!important}}.h-{w}{{height:{w}%!important}}"
        );
    }

    let js = "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}\n\
        (function(){'use strict';var cfg={apiUrl:'/api',locale:'ro-MD',currency:'MDL',pageSize:20,features:{financials:true,darkMode:false,compare:true}};\n\
        window.__OPENMONEY__=cfg;\n\
        function qs(s,r){return(r||document).querySelector(s)}function qsa(s,r){return Array.prototype.slice.call((r||document).querySelectorAll(s))}\n\
        function debounce(fn,ms){var t;return function(){var a=arguments,c=this;clearTimeout(t);t=setTimeout(function(){fn.apply(c,a)},ms)}}\n\
        function onReady(fn){if(document.readyState!=='loading'){fn()}else{document.addEventListener('DOMContentLoaded',fn)}}\n\
        onReady(function(){var input=qs('#search-input');if(!input){return}var box=qs('#search-suggest');\n\
        input.addEventListener('input',debounce(function(){var q=input.value.trim();if(q.length<3){box.innerHTML='';return}\n\
        fetch(cfg.apiUrl+'/companies?page=1&size=5&q='+encodeURIComponent(q)).then(function(r){return r.json()}).then(function(j){\n\
        box.innerHTML=(j.data||[]).map(function(c){return '<a class=\"suggest\" href=\"/companies/'+c.idno+'\">'+c.fullName.replace(/</g,'&lt;')+'</a>'}).join('')})\n\
        .catch(function(){box.innerHTML=''})},250));qsa('[data-toggle]').forEach(function(el){el.addEventListener('click',function(){\n\
        var t=qs(el.getAttribute('data-toggle'));if(t){t.classList.toggle('hidden')}})});\n\
        var theme=localStorage.getItem('theme');if(theme==='dark'){document.documentElement.classList.add('dark')}});\n\
        gtag('js',new Date());gtag('config','G-DEMO000000',{anonymize_ip:true});})();\n";

    let mut head = String::with_capacity(32 * 1024);
    head.push_str(
        "<!DOCTYPE html>\n<html lang=\"ro\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Fișa companiei — OpenMoney.md</title>\n\
         <meta name=\"description\" content=\"Informații publice despre companiile din Republica Moldova: date de înregistrare, fondatori, administratori, genuri de activitate și rapoarte financiare.\">\n\
         <meta property=\"og:site_name\" content=\"OpenMoney.md\">\n<meta property=\"og:type\" content=\"website\">\n\
         <link rel=\"icon\" href=\"/favicon.ico\">\n<link rel=\"manifest\" href=\"/site.webmanifest\">\n<style>\n",
    );
    head.push_str(&css);
    head.push_str("</style>\n<script>\n");
    head.push_str(js);
    head.push_str(
        "</script>\n</head>\n<body>\n<a class=\"hidden\" href=\"#content\">Treci la conținut</a>\n",
    );
    head.push_str(
        "<div class=\"topbar\"><div class=\"container flex justify-between items-center p-2\">\
         <span>Date deschise despre economia Republicii Moldova</span>\
         <span><a href=\"/ro\">RO</a> · <a href=\"/ru\">RU</a> · <a href=\"/en\">EN</a></span></div></div>\n\
         <header class=\"header\"><div class=\"container flex items-center justify-between p-4\">\n\
         <a class=\"logo\" href=\"/\">Open<span>Money</span>.md</a>\n\
         <form class=\"search w-50\" action=\"/search\" method=\"get\" role=\"search\"><input id=\"search-input\" name=\"q\" type=\"search\" placeholder=\"Caută după denumire sau IDNO\" autocomplete=\"off\"><button type=\"submit\">Caută</button><div id=\"search-suggest\"></div></form>\n\
         <nav class=\"flex\"><a class=\"ml-4\" href=\"/companies\">Companii</a><a class=\"ml-4\" href=\"/achizitii\">Achiziții publice</a><a class=\"ml-4\" href=\"/buget\">Buget</a><a class=\"ml-4\" href=\"/despre\">Despre</a><a class=\"ml-4\" href=\"/login\">Autentificare</a></nav>\n\
         </div></header>\n<nav class=\"nav-sections container\" aria-label=\"Secțiuni CAEM\">\n<ul class=\"flex\">\n",
    );
    for (code, name) in SECTIONS {
        let _ = writeln!(
            head,
            "<li class=\"mr-2\"><a href=\"/companies?section={code}\" title=\"{}\">Secțiunea {code}</a></li>",
            escape_html(name)
        );
    }
    head.push_str("</ul>\n</nav>\n<aside class=\"container hidden md\\:block\" aria-label=\"Raioane\">\n<ul class=\"flex\">\n");
    for region in REGIONS {
        let _ = writeln!(
            head,
            "<li class=\"mr-2\"><a href=\"/companies?raion={}\">{}</a></li>",
            escape_html(&region.to_lowercase().replace(' ', "-")),
            escape_html(region)
        );
    }
    head.push_str("</ul>\n</aside>\n");

    let mut tail = String::with_capacity(8 * 1024);
    tail.push_str("<section class=\"container card\">\n<h2>Despre date</h2>\n");
    for para in [
        "Informația prezentată pe această pagină provine din surse publice oficiale: Registrul de stat al persoanelor juridice, Biroul Național de Statistică și Serviciul Fiscal de Stat. Datele sunt actualizate periodic și pot conține întârzieri față de sursa primară.",
        "OpenMoney.md nu modifică datele primite și nu garantează exhaustivitatea acestora. Pentru confirmarea oficială a informațiilor, vă rugăm să solicitați un extras din registru la Agenția Servicii Publice.",
        "Rapoartele financiare sunt prezentate conform formularelor standard (bilanțul, situația de profit și pierdere, situația fluxurilor de numerar) depuse de entitățile raportoare.",
    ] {
        let _ = writeln!(tail, "<p class=\"muted\">{para}</p>");
    }
    tail.push_str("</section>\n<footer class=\"footer\">\n<div class=\"container cols\">\n");
    for (title, links) in [
        (
            "Platformă",
            &[
                "Despre proiect",
                "Metodologie",
                "Surse de date",
                "API pentru dezvoltatori",
                "Termeni de utilizare",
                "Politica de confidențialitate",
            ][..],
        ),
        (
            "Explorează",
            &[
                "Companii",
                "Achiziții publice",
                "Bugetul de stat",
                "Granturi",
                "Subvenții agricole",
                "Donații partide",
            ][..],
        ),
        (
            "Comunitate",
            &[
                "Blog",
                "Studii de caz",
                "Vizualizări",
                "Hackathoane",
                "Parteneri",
                "Voluntariat",
            ][..],
        ),
        (
            "Contact",
            &[
                "Scrie-ne",
                "Raportează o eroare",
                "Facebook",
                "Telegram",
                "GitHub",
                "Presă",
            ][..],
        ),
    ] {
        let _ = writeln!(tail, "<div><h4>{title}</h4><ul>");
        for link in links {
            let slug: String = link
                .to_lowercase()
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { '-' })
                .collect();
            let _ = writeln!(
                tail,
                "<li><a href=\"/{}\">{link}</a></li>",
                escape_html(&slug)
            );
        }
        tail.push_str("</ul></div>\n");
    }
    tail.push_str(
        "</div>\n<div class=\"container mt-8\"><p>© 2015–2024 OpenMoney.md. Conținutul este disponibil sub licența CC BY 4.0, cu excepția cazurilor în care se specifică altfel.</p></div>\n</footer>\n",
    );

    // Pad to a realistic page weight with the kind of payload real pages carry:
    // an inline bootstrap of translations for the client-side app.
    let mut i18n = String::from("<script type=\"application/json\" id=\"i18n\">{");
    let words = [
        "companie",
        "fondator",
        "administrator",
        "activitate",
        "raport",
        "bilanț",
        "venituri",
        "cheltuieli",
        "profit",
        "pierdere",
        "capital",
        "datorii",
        "active",
        "angajați",
        "impozite",
        "subvenții",
    ];
    let target = 30 * 1024 - 3 * 1024;
    let mut k = 0usize;
    while head.len() + tail.len() + i18n.len() < target {
        let w = words[k % words.len()];
        let _ = write!(
            i18n,
            "\"label.{w}.{k}\":\"Etichetă pentru {w} (varianta {k})\",",
        );
        k += 1;
    }
    i18n.push_str("\"_\":\"\"}</script>\n");
    tail.push_str(&i18n);
    tail.push_str("</body>\n</html>\n");
    Chrome { head, tail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate;

    #[test]
    fn html_size_and_labels_in_both_layouts() {
        let mut layouts = std::collections::HashSet::new();
        for c in generate(42, 300) {
            layouts.insert(format!("{:?}", Layout::for_idno(&c.idno)));
            assert_eq!(
                html_company(&c),
                html_company_in(&c, Layout::for_idno(&c.idno))
            );
            for layout in [Layout::Cards, Layout::Tables] {
                let html = html_company_in(&c, layout);
                assert!(
                    (25 * 1024..40 * 1024).contains(&html.len()),
                    "{} bytes",
                    html.len()
                );
                let labels: &[&str] = match layout {
                    Layout::Cards => &[
                        "<dt>IDNO</dt>",
                        "<dt>Statut</dt>",
                        "<dt>Sectorul/Raionul</dt>",
                        "<h2>Fondatori</h2>",
                    ],
                    Layout::Tables => &[
                        "<th scope=\"row\">Cod fiscal (IDNO)</th>",
                        "<p><b>Statut:</b> ",
                        "<li>Sector / raion: ",
                        "<h3 class=\"sect-title\">Fondatori (",
                    ],
                };
                for label in labels {
                    assert!(html.contains(label), "{layout:?} {label}");
                }
                assert_eq!(html.matches("<h1").count(), 1);
                assert!(html.contains(&escape_html(c.full_name.trim())));
                assert_eq!(html.matches(&c.idno).count(), 1, "the data only once");
            }
        }
        assert_eq!(layouts.len(), 2, "both layouts are served");
    }

    #[test]
    fn financial_shapes_vary_per_company() {
        let mut shapes = std::collections::HashSet::new();
        for c in generate(42, 300) {
            let shape = FinancialShape::for_idno(&c.idno);
            shapes.insert((shape.nested, shape.strings));
            assert_eq!(api_financials(&c), api_financials_in(&c, shape));
            for s in api_financials(&c).as_array().into_iter().flatten() {
                assert_eq!(s.get("values").is_some(), shape.nested);
                assert_eq!(s["year"].is_string(), shape.strings);
            }
        }
        assert_eq!(shapes.len(), 4, "every shape is served");
    }

    #[test]
    fn localized_numbers() {
        assert_eq!(localized_number(1_234_567.89), "1\u{a0}234\u{a0}567,89");
        assert_eq!(localized_number(-1_250.0), "-1 250");
        assert_eq!(localized_number(250.0), "250");
        assert_eq!(localized_number(0.5), "0,50");
        assert_eq!(localized_number(-999.01), "-999,01");
    }

    #[test]
    fn html_escapes_text() {
        let mut c = generate(1, 1).remove(0);
        c.full_name = "Tom & Jerry <SRL> \"x\"".to_owned();
        let html = html_company(&c);
        assert!(html.contains("Tom &amp; Jerry &lt;SRL&gt; &quot;x&quot;"));
        assert!(!html.contains("<SRL>"));
    }

    #[test]
    fn shares_in_romanian_notation() {
        assert_eq!(format_share(60.0), "60,00%");
        assert_eq!(format_share(33.5), "33,50%");
    }

    #[test]
    fn expected_company_shape() {
        for c in generate(42, 200) {
            let v = expected_company(&c);
            assert_eq!(v["name"], c.full_name.trim());
            assert_eq!(v["legal_form"], c.legal_form.trim());
            assert!(v["registered_at"].as_str().is_some_and(|s| s.len() == 10));
            let acts = v["activities"].as_array().cloned().unwrap_or_default();
            assert_eq!(acts.len(), c.activities.len());
            // licensed first
            let flags: Vec<bool> = acts.iter().map(|a| a["licensed"] == true).collect();
            let mut sorted = flags.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            assert_eq!(flags, sorted);
            let total: f64 = v["founders"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["share"].as_f64())
                .sum();
            assert!((total - 100.0).abs() < 1e-9);
        }
    }

    #[test]
    fn expected_financials_named_figures() {
        let companies = generate(42, 300);
        let mut saw_null = false;
        let mut saw_label = false;
        for c in &companies {
            let v = expected_financials(c);
            let arr = v.as_array().cloned().unwrap_or_default();
            assert_eq!(arr.len(), c.financials.len());
            for (s, e) in c.financials.iter().zip(&arr) {
                assert_eq!(e["year"], s.year);
                assert_eq!(
                    e["values"].as_object().map(|o| o.len()),
                    Some(s.values.len())
                );
                for (field, row) in [
                    ("revenue", "CODE_2_010"),
                    ("net_profit", "CODE_2_180"),
                    ("total_assets", "CODE_1_220"),
                    ("equity", "CODE_1_380"),
                ] {
                    let key = s
                        .values
                        .keys()
                        .find(|k| k.as_str() == row || k.starts_with(&format!("{row}_")));
                    match key {
                        Some(k) => {
                            saw_label |= k.len() > row.len();
                            assert_eq!(e[field].as_f64(), s.values.get(k).copied());
                        }
                        None => {
                            saw_null = true;
                            assert!(e[field].is_null());
                        }
                    }
                }
            }
        }
        assert!(saw_null && saw_label);
    }

    #[test]
    fn api_documents_shape() {
        let c = generate(42, 3).remove(2);
        let v = api_company(&c);
        for key in [
            "id",
            "idno",
            "fullName",
            "type",
            "isActive",
            "registeredAt",
            "revisionDate",
            "address",
            "cuatm",
            "licensedActivities",
            "unlicensedActivities",
            "personFounders",
            "companyFounders",
            "personAdministrators",
            "companyAdministrators",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(
            v["registeredAt"]
                .as_str()
                .is_some_and(|s| s.ends_with("T00:00:00"))
        );
        let s = api_summary(&c);
        assert_eq!(s.as_object().map(|o| o.len()), Some(6));
    }
}
