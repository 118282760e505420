//! openmoney's HTML company page (`/companies/{idno}`): its vocabulary (the labels of
//! its fields, the headings of its sections, the columns of their tables, the words of
//! its statuses and licences) and how the items of a section read. Finding a label,
//! a heading or a table's columns on the page is [`crate::source::dom`]'s.

use std::collections::HashMap;

use gleaner_scrapejob::Idno;

use super::{ParseError, checked_idno, parse_date, parse_number};
use crate::company::{
    Activity, Address, Administrator, CompanyRecord, Founder, FounderKind, Status,
};
use crate::source::dom::{
    Content, ITEM_SEPARATORS, Page, Table, Vocabulary, clean, fold, item_parts,
};

/// The company fields a page labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Idno,
    LegalForm,
    Status,
    RegisteredAt,
    Address,
    City,
    District,
    Street,
    StreetNumber,
}

/// Labels (folded) and the field each names.
const FIELD_LABELS: &[(&str, Field)] = &[
    ("idno", Field::Idno),
    ("cod fiscal", Field::Idno),
    ("cod fiscal idno", Field::Idno),
    ("idno cod fiscal", Field::Idno),
    ("forma juridica", Field::LegalForm),
    ("forma organizatorico juridica", Field::LegalForm),
    ("forma de organizare juridica", Field::LegalForm),
    ("statut", Field::Status),
    ("statutul", Field::Status),
    ("status", Field::Status),
    ("stare", Field::Status),
    ("starea", Field::Status),
    ("data inregistrarii", Field::RegisteredAt),
    ("data de inregistrare", Field::RegisteredAt),
    ("data inregistrare", Field::RegisteredAt),
    ("inregistrata la", Field::RegisteredAt),
    ("adresa", Field::Address),
    ("adresa juridica", Field::Address),
    ("sediul", Field::Address),
    ("localitatea", Field::City),
    ("localitate", Field::City),
    ("oras", Field::City),
    ("sectorul raionul", Field::District),
    ("sector raion", Field::District),
    ("raionul", Field::District),
    ("raion", Field::District),
    ("sectorul", Field::District),
    ("sector", Field::District),
    ("strada", Field::Street),
    ("str", Field::Street),
    ("numarul", Field::StreetNumber),
    ("numar", Field::StreetNumber),
    ("nr", Field::StreetNumber),
];

/// The sections a page heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Activities,
    Founders,
    Administrators,
}

/// Headings (folded) and the section each opens; a heading may add words
/// ("Fondatori (2)", "Genuri de activitate licențiate").
const SECTION_HEADINGS: &[(&str, Section)] = &[
    ("genuri de activitate", Section::Activities),
    ("genurile de activitate", Section::Activities),
    ("tipuri de activitate", Section::Activities),
    ("activitati", Section::Activities),
    ("activitati economice", Section::Activities),
    ("fondatori", Section::Founders),
    ("fondatorii", Section::Founders),
    ("asociati", Section::Founders),
    ("administratori", Section::Administrators),
    ("administratorii", Section::Administrators),
    ("conducatori", Section::Administrators),
];

/// The labels and headings of openmoney's company pages.
struct CompanyPage;

impl Vocabulary for CompanyPage {
    type Field = Field;
    type Section = Section;

    fn field(&self, label: &str) -> Option<Field> {
        FIELD_LABELS
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, f)| *f)
    }

    fn section(&self, heading: &str) -> Option<Section> {
        SECTION_HEADINGS
            .iter()
            .find(|(h, _)| {
                heading
                    .strip_prefix(h)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            })
            .map(|(_, s)| *s)
    }
}

/// Whether a text, standing alone, would read as a field label or a section heading.
#[cfg(test)]
pub(crate) fn field_label_or_heading(text: &str) -> bool {
    let folded = fold(text);
    CompanyPage.field(&folded).is_some() || CompanyPage.section(&folded).is_some()
}

/// Whether words say licensed (`true`), unlicensed (`false`) or neither (or both:
/// "licențiate și nelicențiate").
fn licence(s: &str) -> Option<bool> {
    let f = fold(s).replace("fara licent", "nelicent");
    let word = |p: &str| f.split(' ').any(|w| w.starts_with(p));
    let yes = word("licen");
    let no = word("nelicen");
    match (yes, no) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ if f == "da" => Some(true),
        _ if f == "nu" => Some(false),
        _ => None,
    }
}

/// What a column of a section's table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Code,
    Name,
    Licensed,
    Kind,
    Share,
    Role,
    Idno,
}

/// The column a header names, by its words.
fn column_for(section: Section, header: &str) -> Option<Column> {
    let f = fold(header);
    let has = |p: &str| f.split(' ').any(|w| w.starts_with(p));
    let names_idno = f.split(' ').any(|w| w == "idno") || f.contains("cod fiscal");
    match section {
        Section::Founders | Section::Administrators if names_idno => Some(Column::Idno),
        Section::Activities if has("cod") || has("caem") => Some(Column::Code),
        Section::Activities if has("licen") => Some(Column::Licensed),
        Section::Activities
            if has("denumir") || has("activitat") || has("descrier") || has("nume") =>
        {
            Some(Column::Name)
        }
        Section::Founders if has("cot") || has("procent") || header.contains('%') => {
            Some(Column::Share)
        }
        Section::Founders if has("tip") || has("categori") || has("persoan") => Some(Column::Kind),
        Section::Founders if has("nume") || has("denumir") || has("fondator") => Some(Column::Name),
        Section::Administrators if has("persoan") || has("categori") => Some(Column::Kind),
        Section::Administrators
            if has("functi") || has("rol") || has("calitat") || has("post") || has("tip") =>
        {
            Some(Column::Role)
        }
        Section::Administrators if has("nume") || has("denumir") || has("administrator") => {
            Some(Column::Name)
        }
        _ => None,
    }
}

/// The records of a section's table, read through its header row.
fn records(
    table: &Table<'_>,
    section: Section,
    required: Column,
) -> Result<Vec<HashMap<Column, String>>, ParseError> {
    table
        .records(|header| column_for(section, header), required)
        .map_err(|e| ParseError::Field(format!("{section:?}: {e}")))
}

/// `47.73`, `01.11`: a CAEM code.
fn is_caem(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
        && s.len() <= 10
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// A trailing `(licențiată)` or `— licențiată` of an activity, split off.
fn split_licence(name: &str) -> (String, Option<bool>) {
    let name = name.trim();
    if let Some(open) = name.rfind('(')
        && name.ends_with(')')
        && let Some(l) = licence(&name[open + 1..name.len() - 1])
    {
        return (clean(&name[..open]), Some(l));
    }
    for sep in ITEM_SEPARATORS {
        if let Some((head, tail)) = name.rsplit_once(sep)
            && let Some(l) = licence(tail)
        {
            return (clean(head), Some(l));
        }
    }
    (clean(name), None)
}

/// `47.73 — Farmacii (licențiată)`.
fn activity_item(item: &str, heading: Option<bool>) -> Result<Activity, ParseError> {
    let (code, rest) = item.split_once(' ').unwrap_or((item, ""));
    let code = code.trim_end_matches([':', ',', ';']);
    if !is_caem(code) {
        return Err(ParseError::Field(format!(
            "activity {item:?} has no CAEM code"
        )));
    }
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || "—–-:|".contains(c));
    let (name, licensed) = split_licence(rest);
    Ok(Activity {
        code: code.to_string(),
        name,
        licensed: licensed.or(heading).unwrap_or(false),
    })
}

/// `60,00%`, `60.5 %`: a percentage, so never above 100 (a bare 13-digit IDNO is
/// no share).
fn parse_share(s: &str) -> Option<f64> {
    parse_number(s.trim().trim_end_matches('%')).filter(|v| (0.0..=100.0).contains(v))
}

/// Labels (folded) that introduce a company's fiscal code inside an item.
const IDNO_LABELS: &[&str] = &[
    "idno",
    "c f",
    "cf",
    "cod fiscal",
    "cod fiscal idno",
    "idno cod fiscal",
];

/// `IDNO 1002600054321`, `IDNO: 1002600054321`, `c/f 1002600054321`: an IDNO
/// introduced by its label. A 13-digit number with no label is not one.
fn labelled_idno(part: &str) -> Option<Idno> {
    let folded = fold(part);
    let (label, number) = folded.rsplit_once(' ')?;
    if IDNO_LABELS.contains(&label) {
        Idno::parse(number).ok()
    } else {
        None
    }
}

/// A name followed by its labelled IDNO in parentheses (`Vinăria SA (c/f
/// 1002600054321)`), split; any other name as it is.
fn split_idno_suffix(name: &str) -> (String, Option<Idno>) {
    let name = name.trim();
    if let Some(open) = name.rfind('(')
        && open > 0
        && name.ends_with(')')
        && let Some(idno) = labelled_idno(&name[open + 1..name.len() - 1])
    {
        return (clean(&name[..open]), Some(idno));
    }
    (clean(name), None)
}

/// The IDNO in a cell of a column headed IDNO: its one 13-digit number, labelled
/// or not (the header is its label); `—` or anything else is none.
fn idno_cell(cell: &str) -> Option<Idno> {
    let mut numbers = cell
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty());
    let first = numbers.next()?;
    if numbers.next().is_some() {
        return None;
    }
    Idno::parse(first).ok()
}

/// A founder's or administrator's kind and IDNO, from what the page states: a stated
/// kind wins, then the section heading's; an IDNO alone says a company. Only a
/// company keeps an IDNO.
fn kind_and_idno(
    stated: Option<FounderKind>,
    heading: Option<FounderKind>,
    idno: Option<Idno>,
) -> (FounderKind, Option<Idno>) {
    let kind = stated.or(heading).unwrap_or(if idno.is_some() {
        FounderKind::Company
    } else {
        FounderKind::Person
    });
    (kind, idno.filter(|_| kind == FounderKind::Company))
}

/// An item part that is only a kind: `persoană juridică`, `Persoană fizică`,
/// `juridică`.
fn kind_part(part: &str) -> Option<FounderKind> {
    let f = fold(part);
    let f = f.strip_prefix("persoana ").unwrap_or(&f);
    match f {
        "juridica" | "juridic" => Some(FounderKind::Company),
        "fizica" | "fizic" => Some(FounderKind::Person),
        _ => None,
    }
}

fn founder_kind(s: &str) -> Option<FounderKind> {
    let f = fold(s);
    if f.contains("juridic") {
        Some(FounderKind::Company)
    } else if f.contains("fizic") {
        Some(FounderKind::Person)
    } else {
        None
    }
}

/// `Ion Popescu — persoană fizică — 60,00%`, `Vinăria SA — persoană juridică —
/// IDNO 1002600054321 — 40,00%`, `Vinăria SA (c/f 1002600054321) — 40%`.
fn founder_item(item: &str, heading_kind: Option<FounderKind>) -> Option<Founder> {
    let parts = item_parts(item);
    let (first, rest) = parts.split_first()?;
    let (name, mut idno) = split_idno_suffix(first);
    let mut stated = None;
    let mut share = None;
    for part in rest {
        if let Some(i) = labelled_idno(part) {
            idno = Some(i);
        } else if let Some(kind) = founder_kind(part) {
            stated = Some(kind);
        } else if let Some(s) = parse_share(part) {
            share = Some(s);
        }
    }
    let (kind, idno) = kind_and_idno(stated, heading_kind, idno);
    Some(Founder {
        name,
        kind,
        share,
        idno,
    })
}

/// `Maria Rusu — Administrator`, `Maria Rusu (Administrator)`, `Vinăria SA —
/// Administrator — persoană juridică — IDNO 1002600054321`.
fn administrator_item(item: &str) -> Option<Administrator> {
    let parts = item_parts(item);
    let (first, rest) = parts.split_first()?;
    let (name, mut idno) = split_idno_suffix(first);
    let mut stated = None;
    let mut role = Vec::new();
    for part in rest {
        if let Some(i) = labelled_idno(part) {
            idno = Some(i);
        } else if let Some(kind) = kind_part(part) {
            stated = Some(kind);
        } else {
            role.push(part.as_str());
        }
    }
    let (kind, idno) = kind_and_idno(stated, None, idno);
    if role.is_empty()
        && let Some(open) = name.rfind('(')
        && name.ends_with(')')
        && open > 0
    {
        return Some(Administrator {
            name: clean(&name[..open]),
            role: Some(clean(&name[open + 1..name.len() - 1])).filter(|r| !r.is_empty()),
            kind,
            idno,
        });
    }
    Some(Administrator {
        name,
        role: (!role.is_empty()).then(|| role.join(" — ")),
        kind,
        idno,
    })
}

fn activities(page: &Page) -> Result<Vec<Activity>, ParseError> {
    let mut out = Vec::new();
    for headed in page.section(&CompanyPage, Section::Activities) {
        let heading = licence(&headed.heading);
        match headed.content {
            Content::Table(table) => {
                for row in records(&table, Section::Activities, Column::Code)? {
                    let Some(code) = row.get(&Column::Code).filter(|c| !c.is_empty()) else {
                        continue;
                    };
                    out.push(Activity {
                        code: code.clone(),
                        name: row.get(&Column::Name).cloned().unwrap_or_default(),
                        licensed: row
                            .get(&Column::Licensed)
                            .and_then(|l| licence(l))
                            .or(heading)
                            .unwrap_or(false),
                    });
                }
            }
            Content::List(items) => {
                for item in items {
                    out.push(activity_item(&item, heading)?);
                }
            }
        }
    }
    // Licensed first, as the JSON API lists them; stable within each group.
    out.sort_by_key(|a| !a.licensed);
    Ok(out)
}

fn founders(page: &Page) -> Result<Vec<Founder>, ParseError> {
    let mut out = Vec::new();
    for headed in page.section(&CompanyPage, Section::Founders) {
        let heading = founder_kind(&headed.heading);
        match headed.content {
            Content::Table(table) => {
                for row in records(&table, Section::Founders, Column::Name)? {
                    let Some(name) = row.get(&Column::Name).filter(|n| !n.is_empty()) else {
                        continue;
                    };
                    let (kind, idno) = kind_and_idno(
                        row.get(&Column::Kind).and_then(|k| founder_kind(k)),
                        heading,
                        row.get(&Column::Idno).and_then(|i| idno_cell(i)),
                    );
                    out.push(Founder {
                        name: name.clone(),
                        kind,
                        share: row.get(&Column::Share).and_then(|s| parse_share(s)),
                        idno,
                    });
                }
            }
            Content::List(items) => {
                out.extend(items.iter().filter_map(|i| founder_item(i, heading)));
            }
        }
    }
    // Persons first, as the JSON API lists them; stable within each kind.
    out.sort_by_key(|f| f.kind == FounderKind::Company);
    Ok(out)
}

fn administrators(page: &Page) -> Result<Vec<Administrator>, ParseError> {
    let mut out = Vec::new();
    for headed in page.section(&CompanyPage, Section::Administrators) {
        match headed.content {
            Content::Table(table) => {
                for row in records(&table, Section::Administrators, Column::Name)? {
                    let Some(name) = row.get(&Column::Name).filter(|n| !n.is_empty()) else {
                        continue;
                    };
                    let (kind, idno) = kind_and_idno(
                        row.get(&Column::Kind).and_then(|k| founder_kind(k)),
                        None,
                        row.get(&Column::Idno).and_then(|i| idno_cell(i)),
                    );
                    out.push(Administrator {
                        name: name.clone(),
                        role: row.get(&Column::Role).cloned().filter(|r| !r.is_empty()),
                        kind,
                        idno,
                    });
                }
            }
            Content::List(items) => {
                out.extend(items.iter().filter_map(|i| administrator_item(i)));
            }
        }
    }
    // Persons first, as the JSON API lists them; stable within each kind.
    out.sort_by_key(|a| a.kind == FounderKind::Company);
    Ok(out)
}

/// `Activă`, `INACTIVĂ`, `Lichidată`: the status a page states, or an error
/// for wording not known (never a guess).
fn status(s: &str) -> Result<Status, ParseError> {
    const ACTIVE: &[&str] = &["activ", "activa", "active", "in activitate", "functioneaza"];
    const INACTIVE: &[&str] = &[
        "inactiv",
        "inactiva",
        "inactive",
        "lichidat",
        "lichidata",
        "in lichidare",
        "in proces de lichidare",
        "radiat",
        "radiata",
        "suspendat",
        "suspendata",
    ];
    let f = fold(s);
    let says = |words: &[&str]| {
        words
            .iter()
            .any(|w| f == *w || f.starts_with(&format!("{w} ")))
    };
    if says(INACTIVE) {
        Ok(Status::Inactive)
    } else if says(ACTIVE) {
        Ok(Status::Active)
    } else {
        Err(ParseError::Field(format!("unknown status {s:?}")))
    }
}

/// `/companies/{idno}`: the HTML page, for companies the JSON API lacks. The
/// name (`<h1>`), IDNO and status are required.
pub fn parse_company_html(body: &[u8]) -> Result<CompanyRecord, ParseError> {
    let page = Page::parse(body);
    let name = page
        .first_text("h1")
        .ok_or_else(|| ParseError::Field("no <h1> company name".into()))?;
    let mut fields = page.fields(&CompanyPage);
    let mut take = |f: Field| fields.remove(&f);
    let idno = take(Field::Idno).ok_or_else(|| ParseError::Field("no IDNO on the page".into()))?;
    // `1003600012345 (copiază)`: the 13 digits, never digits pieced together.
    let idno = idno
        .split(|c: char| !c.is_ascii_digit())
        .find(|t| t.len() == 13)
        .map_or(idno.clone(), str::to_string);
    let idno = checked_idno(Some(&serde_json::Value::String(idno)))?;
    let status = status(
        &take(Field::Status).ok_or_else(|| ParseError::Field("no status on the page".into()))?,
    )?;
    Ok(CompanyRecord {
        idno,
        name,
        legal_form: take(Field::LegalForm),
        status,
        registered_at: take(Field::RegisteredAt).as_deref().and_then(parse_date),
        address: Address {
            full: take(Field::Address),
            city: take(Field::City),
            district: take(Field::District),
            street: take(Field::Street),
            street_number: take(Field::StreetNumber),
        },
        activities: activities(&page)?,
        founders: founders(&page)?,
        administrators: administrators(&page)?,
    })
}

#[cfg(test)]
mod tests;
