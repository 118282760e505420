//! The HTML company page in its two layouts (cards and tables), and the 404 page.

use std::fmt::Write as _;

use super::chrome::chrome;
use super::idno_bits;
use crate::data::DemoCompany;

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

/// A founder or administrator as a page shows it.
struct Holder<'a> {
    name: &'a str,
    /// A company (legal person), else a natural person.
    company: bool,
    /// A company's IDNO, when the registry gives one.
    idno: Option<&'a str>,
    /// A founder's share, percent.
    share: f64,
    /// An administrator's function.
    role: &'a str,
}

/// Founders, persons first.
fn founder_rows(c: &DemoCompany) -> Vec<Holder<'_>> {
    c.person_founders
        .iter()
        .map(|f| Holder {
            name: &f.full_name,
            company: false,
            idno: None,
            share: f.shares,
            role: "",
        })
        .chain(c.company_founders.iter().map(|f| Holder {
            name: &f.full_name,
            company: true,
            idno: f.idno.as_deref(),
            share: f.shares,
            role: "",
        }))
        .collect()
}

/// Administrators, persons first.
fn administrator_rows(c: &DemoCompany) -> Vec<Holder<'_>> {
    c.person_administrators
        .iter()
        .map(|a| Holder {
            name: &a.full_name,
            company: false,
            idno: None,
            share: 0.0,
            role: &a.role,
        })
        .chain(c.company_administrators.iter().map(|a| Holder {
            name: &a.full_name,
            company: true,
            idno: a.idno.as_deref(),
            share: 0.0,
            role: &a.role,
        }))
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
        for f in founders {
            let kind = if f.company {
                "Persoană juridică"
            } else {
                "Persoană fizică"
            };
            let idno = f
                .idno
                .map(|i| format!(" — IDNO {}", e(i)))
                .unwrap_or_default();
            let _ = writeln!(
                body,
                "<li><strong>{}</strong> — {kind}{idno} — {}</li>",
                e(f.name),
                format_share(f.share)
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
        for a in admins {
            if a.company {
                let idno = a
                    .idno
                    .map(|i| format!(" (c/f {})", e(i)))
                    .unwrap_or_default();
                let _ = writeln!(
                    body,
                    "<li>{}{idno} — {} — persoană juridică</li>",
                    e(a.name),
                    e(a.role)
                );
            } else {
                let _ = writeln!(body, "<li>{} — {}</li>", e(a.name), e(a.role));
            }
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
            "<table class=\"grid\"><thead><tr><th>Funcția</th><th>Nume, prenume</th>\
             <th>Tip persoană</th><th>Cod fiscal</th></tr></thead><tbody>\n",
        );
        for a in admins {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(a.role),
                e(a.name),
                if a.company { "juridică" } else { "fizică" },
                e(a.idno.unwrap_or("—"))
            );
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
             <th>IDNO</th><th>Tip</th><th>Data intrării</th></tr></thead><tbody>\n",
        );
        for f in founders {
            let _ = writeln!(
                body,
                "<tr><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>—</td></tr>",
                f.share,
                e(f.name),
                e(f.idno.unwrap_or("—")),
                if f.company { "juridică" } else { "fizică" }
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
