//! The HTML company page (`/companies/{idno}`): fields found by their labels,
//! sections by their headings, never by CSS class names or element positions.
//!
//! A field is a label and its value in any of the shapes pages use: `dt`/`dd`,
//! `th`/`td`, a label element followed by its value (`<b>IDNO:</b> 100…`,
//! `<span>IDNO</span><span>100…</span>`), or a "Label: value" line of text
//! (`<li>Statut: Activ</li>`). A section is a heading (`h2`…`h6`, `caption`,
//! `strong`, ...) followed by a list or a table whose header row names its
//! columns. Labels and headings are compared with case, diacritics, punctuation
//! and whitespace folded; what is not recognised is ignored.

use std::collections::{HashMap, HashSet};

use ego_tree::NodeRef;
use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Node};

use super::{ParseError, checked_idno, clean, parse_date, parse_number};
use crate::company::{
    Activity, Address, Administrator, CompanyRecord, Founder, FounderKind, Status,
};

/// Lower-case, diacritics folded, every run of punctuation and whitespace one
/// space, trimmed: `" Sectorul/Raionul: "` and `"SECTORUL RAIONUL"` are the same.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars() {
        let c = match c {
            'ă' | 'â' | 'à' | 'á' | 'ä' | 'Ă' | 'Â' | 'À' | 'Á' | 'Ä' => 'a',
            'î' | 'í' | 'ì' | 'ï' | 'Î' | 'Í' | 'Ì' | 'Ï' => 'i',
            'ș' | 'ş' | 'Ș' | 'Ş' => 's',
            'ț' | 'ţ' | 'Ț' | 'Ţ' => 't',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' => 'e',
            'ó' | 'ò' | 'ô' | 'ö' | 'Ó' | 'Ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ü' => 'u',
            other => other,
        };
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

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

fn field_for(label: &str) -> Option<Field> {
    let label = fold(label);
    FIELD_LABELS
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, f)| *f)
}

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

fn section_for(folded: &str) -> Option<Section> {
    SECTION_HEADINGS
        .iter()
        .find(|(h, _)| {
            folded
                .strip_prefix(h)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        })
        .map(|(_, s)| *s)
}

/// Whether a text, standing alone, would read as a field label or a section heading.
#[cfg(test)]
pub(crate) fn field_label_or_heading(text: &str) -> bool {
    field_for(text).is_some() || section_for(&fold(text)).is_some()
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// Elements that may carry a section heading.
fn may_head(name: &str) -> bool {
    is_heading(name)
        || matches!(
            name,
            "caption"
                | "th"
                | "strong"
                | "b"
                | "em"
                | "legend"
                | "summary"
                | "dt"
                | "label"
                | "header"
                | "p"
                | "div"
                | "span"
        )
}

fn is_block(name: &str) -> bool {
    is_heading(name)
        || matches!(
            name,
            "address"
                | "article"
                | "aside"
                | "blockquote"
                | "body"
                | "caption"
                | "dd"
                | "details"
                | "div"
                | "dl"
                | "dt"
                | "fieldset"
                | "figcaption"
                | "figure"
                | "footer"
                | "form"
                | "header"
                | "hr"
                | "html"
                | "legend"
                | "li"
                | "main"
                | "nav"
                | "ol"
                | "p"
                | "pre"
                | "section"
                | "summary"
                | "table"
                | "tbody"
                | "td"
                | "tfoot"
                | "th"
                | "thead"
                | "tr"
                | "ul"
        )
}

/// Elements whose content is not page text.
fn is_opaque(name: &str) -> bool {
    matches!(
        name,
        "script" | "style" | "template" | "noscript" | "textarea" | "head" | "svg"
    )
}

/// The text of an element: opaque content skipped, a space at line and block
/// boundaries, whitespace collapsed.
fn text(el: ElementRef<'_>) -> String {
    let mut out = String::new();
    let mut skip_depth = 0usize;
    for edge in el.traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(e) if is_opaque(e.name()) || skip_depth > 0 => skip_depth += 1,
                Node::Element(e) if e.name() == "br" || is_block(e.name()) => out.push(' '),
                Node::Text(t) if skip_depth == 0 => out.push_str(t),
                _ => {}
            },
            Edge::Close(node) => match node.value() {
                Node::Element(_) if skip_depth > 0 => skip_depth -= 1,
                Node::Element(e) if is_block(e.name()) => out.push(' '),
                _ => {}
            },
        }
    }
    clean(&out)
}

/// Most nodes and characters a label or heading spans: beyond that an element
/// is content, not a label, and costs nothing more to look at.
const SHORT_NODES: usize = 24;
const SHORT_CHARS: usize = 160;

/// The text of a small element, or `None` if the element is not small.
fn short_text(el: ElementRef<'_>) -> Option<String> {
    let mut out = String::new();
    for (i, node) in el.descendants().enumerate() {
        if i > SHORT_NODES {
            return None;
        }
        match node.value() {
            Node::Element(e) if is_opaque(e.name()) => return None,
            Node::Text(t) => {
                out.push_str(t);
                if out.len() > SHORT_CHARS {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// Most nodes a "Label: value" line element spans.
const LINE_NODES: usize = 64;

/// The lines of text of an element holding no block elements (split at `<br>`),
/// or `None` if it holds blocks or is large.
fn lines(el: ElementRef<'_>) -> Option<Vec<String>> {
    let mut lines = vec![String::new()];
    for (i, node) in el.descendants().enumerate() {
        if i > LINE_NODES {
            return None;
        }
        match node.value() {
            Node::Element(e) if i > 0 && (is_block(e.name()) || is_opaque(e.name())) => {
                return None;
            }
            Node::Element(e) if e.name() == "br" => lines.push(String::new()),
            Node::Text(t) => {
                if let Some(line) = lines.last_mut() {
                    line.push_str(t);
                }
            }
            _ => {}
        }
    }
    Some(lines)
}

/// The value a label element introduces: the element right after it (`dd`, `td`,
/// a value `span`), or the text that follows it up to the next label-like element.
fn value_after(label: ElementRef<'_>) -> Option<String> {
    let label_name = label.value().name();
    let mut inline = String::new();
    for node in label.next_siblings() {
        match node.value() {
            Node::Text(t) => inline.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                if is_opaque(name) {
                    continue;
                }
                let pending = inline.trim().trim_start_matches(':').trim().is_empty();
                let el = ElementRef::wrap(node)?;
                if pending {
                    // A header cell or heading after a label is a header row or a
                    // new section: the label heads a column, it has no value.
                    if name == "th" || is_heading(name) {
                        return None;
                    }
                    let v = text(el);
                    let v = v.trim_start_matches(':').trim();
                    return (!v.is_empty()).then(|| v.to_string());
                }
                if name == "br" || is_block(name) || name == label_name {
                    break;
                }
                inline.push(' ');
                inline.push_str(&text(el));
            }
            _ => {}
        }
    }
    let v = clean(inline.trim().trim_start_matches(':'));
    (!v.is_empty()).then_some(v)
}

/// The field an element names when its whole text is a label (a trailing colon
/// allowed) and it holds no blocks: `<dt>IDNO</dt>`, `<b>IDNO:</b>`. Not
/// `<li>IDNO: …</li>` nor a row `<tr><th>IDNO</th><td>…</td></tr>`, whose values
/// are inside them.
fn label_element(el: ElementRef<'_>) -> Option<Field> {
    let t = short_text(el)?;
    if t.trim().trim_end_matches(':').contains(':')
        || el
            .descendants()
            .skip(1)
            .any(|n| n.value().as_element().is_some_and(|e| is_block(e.name())))
    {
        return None;
    }
    field_for(&t)
}

/// How many empty occurrences of a label are read before the label is given up.
const LABEL_TRIES: usize = 8;

/// Every labelled field of the page, the first occurrence of each.
fn fields(doc: &Html) -> HashMap<Field, String> {
    let mut found = HashMap::new();
    let mut tries: HashMap<Field, usize> = HashMap::new();
    for el in doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        if is_opaque(el.value().name()) {
            continue;
        }
        if let Some(field) = label_element(el)
            && !found.contains_key(&field)
        {
            // A label without a value may repeat; reading each one's value costs
            // the size of what follows it, so only the first few are read.
            let tried = tries.entry(field).or_default();
            *tried += 1;
            if *tried <= LABEL_TRIES
                && let Some(value) = value_after(el)
            {
                found.insert(field, value);
            }
        }
        for line in lines(el).into_iter().flatten() {
            if let Some((label, value)) = line.split_once(':')
                && let Some(field) = field_for(label)
            {
                let value = clean(value);
                if !value.is_empty() {
                    found.entry(field).or_insert(value);
                }
            }
        }
    }
    found
}

/// The next node in document order after `node` and its descendants.
fn after<'a>(node: NodeRef<'a, Node>) -> Option<NodeRef<'a, Node>> {
    let mut n = node;
    loop {
        if let Some(s) = n.next_sibling() {
            return Some(s);
        }
        n = n.parent()?;
    }
}

/// Most nodes between a heading and its list or table.
const SECTION_GAP: usize = 2000;

/// The list or table a heading introduces: for a table caption or header cell,
/// its table; otherwise the first `ul`, `ol` or `table` after it, unless another
/// heading comes first (the section is then empty).
fn headed_container(heading: ElementRef<'_>) -> Option<ElementRef<'_>> {
    if matches!(heading.value().name(), "caption" | "th") {
        return heading
            .ancestors()
            .filter_map(ElementRef::wrap)
            .find(|a| a.value().name() == "table");
    }
    let mut node = after(*heading);
    for _ in 0..SECTION_GAP {
        let n = node?;
        if let Some(el) = ElementRef::wrap(n) {
            let name = el.value().name();
            if matches!(name, "ul" | "ol" | "table") {
                return Some(el);
            }
            if is_heading(name) {
                return None;
            }
            if may_head(name)
                && short_text(el)
                    .map(|t| section_for(&fold(&t)).is_some())
                    .unwrap_or(false)
            {
                return None;
            }
            if is_opaque(name) {
                node = after(n);
                continue;
            }
        }
        node = n.first_child().or_else(|| after(n));
    }
    None
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

/// The lists and tables of a section, each with its heading (folded), which may
/// say more: "Genuri de activitate licențiate", "Fondatori persoane juridice".
fn section_containers(doc: &Html, section: Section) -> Vec<(ElementRef<'_>, String)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for el in doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        if !may_head(el.value().name()) {
            continue;
        }
        let Some(heading) = short_text(el).map(|t| fold(&t)) else {
            continue;
        };
        if section_for(&heading) != Some(section) {
            continue;
        }
        if let Some(container) = headed_container(el)
            && seen.insert(container.id())
        {
            out.push((container, heading));
        }
    }
    out
}

/// The items of a list (not of lists nested in it).
fn list_items(list: ElementRef<'_>) -> Vec<String> {
    list.children()
        .filter_map(ElementRef::wrap)
        .filter(|li| li.value().name() == "li")
        .map(text)
        .filter(|t| !t.is_empty())
        .collect()
}

/// The rows of a table (not of tables nested in it), as cells.
fn table_rows(table: ElementRef<'_>) -> Vec<Vec<ElementRef<'_>>> {
    table
        .descendants()
        .filter_map(ElementRef::wrap)
        .filter(|tr| tr.value().name() == "tr")
        .filter(|tr| {
            tr.ancestors()
                .filter_map(ElementRef::wrap)
                .find(|a| a.value().name() == "table")
                .is_some_and(|t| t.id() == table.id())
        })
        .map(|tr| {
            tr.children()
                .filter_map(ElementRef::wrap)
                .filter(|c| matches!(c.value().name(), "td" | "th"))
                .collect()
        })
        .collect()
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
}

/// The column a header names, by its words.
fn column_for(section: Section, header: &str) -> Option<Column> {
    let f = fold(header);
    let has = |p: &str| f.split(' ').any(|w| w.starts_with(p));
    match section {
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

/// A table's data rows as column → text, read through its header row.
fn table_records(
    table: ElementRef<'_>,
    section: Section,
    required: Column,
) -> Result<Vec<HashMap<Column, String>>, ParseError> {
    let rows = table_rows(table);
    // A row of header cells naming a column, or (pages that bold a first row of
    // ordinary cells) a row naming the required column and another.
    let is_header = |row: &Vec<ElementRef<'_>>| {
        let named: Vec<Column> = row
            .iter()
            .filter_map(|c| column_for(section, &text(*c)))
            .collect();
        let all_th = !row.is_empty() && row.iter().all(|c| c.value().name() == "th");
        (all_th && !named.is_empty())
            || (named.contains(&required) && named.iter().any(|c| *c != required))
    };
    let Some(header_at) = rows.iter().position(is_header) else {
        if rows
            .iter()
            .any(|r| r.iter().any(|c| c.value().name() == "td"))
        {
            return Err(ParseError::Field(format!(
                "{section:?}: a table without a header row naming its columns"
            )));
        }
        return Ok(Vec::new());
    };
    let mut columns: Vec<Option<Column>> = Vec::new();
    for c in &rows[header_at] {
        let col = column_for(section, &text(*c));
        // The first column of each kind counts.
        columns.push(col.filter(|k| !columns.contains(&Some(*k))));
    }
    if !columns.contains(&Some(required)) {
        return Err(ParseError::Field(format!(
            "{section:?}: no {required:?} column"
        )));
    }
    Ok(rows[header_at + 1..]
        .iter()
        .filter(|r| r.iter().any(|c| c.value().name() == "td"))
        .map(|r| {
            columns
                .iter()
                .zip(r)
                .filter_map(|(col, cell)| Some(((*col)?, text(*cell))))
                .collect()
        })
        .collect())
}

/// Separators between the parts of a list item.
const ITEM_SEPARATORS: &[&str] = &[" — ", " – ", " - ", " | ", "; "];

fn item_parts(item: &str) -> Vec<String> {
    let mut parts = vec![item.to_string()];
    for sep in ITEM_SEPARATORS {
        parts = parts
            .iter()
            .flat_map(|p| p.split(sep).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    parts
        .into_iter()
        .map(|p| clean(&p))
        .filter(|p| !p.is_empty())
        .collect()
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

/// `60,00%`, `60.5 %`.
fn parse_share(s: &str) -> Option<f64> {
    parse_number(s.trim().trim_end_matches('%'))
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

/// `Ion Popescu — persoană fizică — 60,00%`.
fn founder_item(item: &str, heading_kind: Option<FounderKind>) -> Option<Founder> {
    let parts = item_parts(item);
    let (name, rest) = parts.split_first()?;
    let mut founder = Founder {
        name: name.clone(),
        kind: heading_kind.unwrap_or(FounderKind::Person),
        share: None,
    };
    for part in rest {
        if let Some(kind) = founder_kind(part) {
            founder.kind = kind;
        } else if let Some(share) = parse_share(part) {
            founder.share = Some(share);
        }
    }
    Some(founder)
}

/// `Maria Rusu — Administrator` or `Maria Rusu (Administrator)`.
fn administrator_item(item: &str) -> Option<Administrator> {
    let parts = item_parts(item);
    let (first, rest) = parts.split_first()?;
    if rest.is_empty()
        && let Some(open) = first.rfind('(')
        && first.ends_with(')')
        && open > 0
    {
        return Some(Administrator {
            name: clean(&first[..open]),
            role: Some(clean(&first[open + 1..first.len() - 1])).filter(|r| !r.is_empty()),
        });
    }
    Some(Administrator {
        name: first.clone(),
        role: (!rest.is_empty()).then(|| rest.join(" — ")),
    })
}

fn activities(doc: &Html) -> Result<Vec<Activity>, ParseError> {
    let mut out = Vec::new();
    for (container, heading) in section_containers(doc, Section::Activities) {
        let heading = licence(&heading);
        if container.value().name() == "table" {
            for row in table_records(container, Section::Activities, Column::Code)? {
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
        } else {
            for item in list_items(container) {
                out.push(activity_item(&item, heading)?);
            }
        }
    }
    // Licensed first, as the JSON API lists them; stable within each group.
    out.sort_by_key(|a| !a.licensed);
    Ok(out)
}

fn founders(doc: &Html) -> Result<Vec<Founder>, ParseError> {
    let mut out = Vec::new();
    for (container, heading) in section_containers(doc, Section::Founders) {
        let heading = founder_kind(&heading);
        if container.value().name() == "table" {
            for row in table_records(container, Section::Founders, Column::Name)? {
                let Some(name) = row.get(&Column::Name).filter(|n| !n.is_empty()) else {
                    continue;
                };
                out.push(Founder {
                    name: name.clone(),
                    kind: row
                        .get(&Column::Kind)
                        .and_then(|k| founder_kind(k))
                        .or(heading)
                        .unwrap_or(FounderKind::Person),
                    share: row.get(&Column::Share).and_then(|s| parse_share(s)),
                });
            }
        } else {
            out.extend(
                list_items(container)
                    .iter()
                    .filter_map(|i| founder_item(i, heading)),
            );
        }
    }
    // Persons first, as the JSON API lists them; stable within each kind.
    out.sort_by_key(|f| f.kind == FounderKind::Company);
    Ok(out)
}

fn administrators(doc: &Html) -> Result<Vec<Administrator>, ParseError> {
    let mut out = Vec::new();
    for (container, _) in section_containers(doc, Section::Administrators) {
        if container.value().name() == "table" {
            for row in table_records(container, Section::Administrators, Column::Name)? {
                let Some(name) = row.get(&Column::Name).filter(|n| !n.is_empty()) else {
                    continue;
                };
                out.push(Administrator {
                    name: name.clone(),
                    role: row.get(&Column::Role).cloned().filter(|r| !r.is_empty()),
                });
            }
        } else {
            out.extend(
                list_items(container)
                    .iter()
                    .filter_map(|i| administrator_item(i)),
            );
        }
    }
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
    let html = String::from_utf8_lossy(body);
    let doc = Html::parse_document(&html);
    let name = doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
        .filter(|e| e.value().name() == "h1")
        .map(text)
        .find(|n| !n.is_empty())
        .ok_or_else(|| ParseError::Field("no <h1> company name".into()))?;
    let mut fields = fields(&doc);
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
        activities: activities(&doc)?,
        founders: founders(&doc)?,
        administrators: administrators(&doc)?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use gleaner_demo_site::{Layout, expected_company, generate, html_company_in};

    use super::*;

    fn page(body: &str) -> String {
        format!(
            "<!DOCTYPE html><html><head><title>x</title><script>var IDNO = 'Statut: x';</script></head>\
             <body><nav><ul><li><a href=\"/\">Acasă</a></li></ul></nav>{body}<footer><h4>Contact</h4>\
             <ul><li>Telefon: 022</li></ul></footer></body></html>"
        )
    }

    fn parse(body: &str) -> Result<CompanyRecord, ParseError> {
        parse_company_html(page(body).as_bytes())
    }

    #[test]
    fn labels_are_folded() {
        for label in [
            "Forma juridică",
            "FORMA JURIDICA",
            " forma\n  juridică: ",
            "Forma Juridică:",
        ] {
            assert_eq!(field_for(label), Some(Field::LegalForm), "{label:?}");
        }
        assert_eq!(fold("Sectorul/Raionul"), fold("SECTORUL  RAIONUL"));
        assert_eq!(fold("Ştefan Ţară ȘȚ"), "stefan tara st");
        assert_eq!(field_for("Capital social"), None);
    }

    #[test]
    fn definition_list_page() {
        let c = parse(
            r#"<h1>
              Vinăria   Bălți SA
           </h1>
           <dl class="whatever">
             <dt>IDNO</dt><dd> 1002600054321 </dd>
             <dt>Forma juridică</dt><dd>
               SA </dd>
             <dt>Statut</dt><dd>Inactivă</dd>
             <dt>Data înregistrării</dt><dd>01.02.1999</dd>
             <dt>Adresa</dt><dd>mun. Bălți, str. Independenței 5</dd>
             <dt>Capital social</dt><dd>5 400 MDL</dd>
             <dt>Localitatea</dt><dd>Bălți</dd>
             <dt>Sectorul/Raionul</dt><dd></dd>
             <dt>Strada</dt><dd>str. Independenței</dd>
             <dt>Numărul</dt><dd>5</dd>
           </dl>"#,
        )
        .unwrap();
        assert_eq!(c.name, "Vinăria Bălți SA");
        assert_eq!(c.idno, "1002600054321");
        assert_eq!(c.legal_form.as_deref(), Some("SA"));
        assert_eq!(c.status, Status::Inactive);
        assert_eq!(c.registered_at, NaiveDate::from_ymd_opt(1999, 2, 1));
        assert_eq!(
            c.address.full.as_deref(),
            Some("mun. Bălți, str. Independenței 5")
        );
        assert_eq!(c.address.city.as_deref(), Some("Bălți"));
        assert_eq!(c.address.district, None, "an empty value is no value");
        assert_eq!(c.address.street.as_deref(), Some("str. Independenței"));
        assert_eq!(c.address.street_number.as_deref(), Some("5"));
        assert!(c.activities.is_empty() && c.founders.is_empty() && c.administrators.is_empty());
    }

    #[test]
    fn upper_case_no_diacritics_reordered_and_wrapped_labels() {
        let c = parse(
            r#"<div class="a"><div class="b"><header><h1><span>Agro</span>
                 <span>Prim</span>   SRL</h1></header></div></div>
               <div><div><table><tbody>
                 <tr><th> STATUT </th><td> ACTIVA </td></tr>
                 <tr><th>NUMARUL:</th><td>12/1</td></tr>
                 <tr><th>cod fiscal (idno)</th><td><span> 1003600012345 </span></td></tr>
               </tbody></table></div></div>
               <section><p><b>DATA INREGISTRARII:</b> 14/05/2003</p>
                 <p>Telefon: 022 123 456</p>
                 <ul><li>ADRESA : mun. Chisinau, str. Stefan cel Mare 12/1</li>
                     <li><span>Strada</span>: <em>str. Ștefan cel Mare</em></li></ul>
                 <div><div class="k">Localitate</div><div class="v">Chișinău</div></div>
                 <p>Forma de organizare juridică: <i>SRL</i><br>Sector/Raion: Centru</p>
               </section>"#,
        )
        .unwrap();
        assert_eq!(c.name, "Agro Prim SRL");
        assert_eq!(c.idno, "1003600012345");
        assert_eq!(c.status, Status::Active);
        assert_eq!(c.registered_at, NaiveDate::from_ymd_opt(2003, 5, 14));
        assert_eq!(
            c.address.full.as_deref(),
            Some("mun. Chisinau, str. Stefan cel Mare 12/1")
        );
        assert_eq!(c.address.street.as_deref(), Some("str. Ștefan cel Mare"));
        assert_eq!(c.address.city.as_deref(), Some("Chișinău"));
        assert_eq!(c.address.district.as_deref(), Some("Centru"));
        assert_eq!(c.address.street_number.as_deref(), Some("12/1"));
        assert_eq!(c.legal_form.as_deref(), Some("SRL"));
    }

    const FIELDS: &str = "<h1>Agro SRL</h1><dl><dt>IDNO</dt><dd>1003600012345</dd><dt>Statut</dt><dd>Activă</dd></dl>";

    #[test]
    fn sections_as_tables_with_reordered_and_extra_columns() {
        let c = parse(&format!(
            r#"{FIELDS}
            <div class="card"><div class="card-head"><strong>Administratorii</strong></div>
              <div class="card-body"><table>
                <tr><th>Nr.</th><th>Funcția</th><th>Numele și prenumele</th><th>Din</th></tr>
                <tr><td>1</td><td>Director</td><td>Ion  Ceban</td><td>2001</td></tr>
                <tr><td>2</td><td></td><td>Ana Rusu</td><td>2005</td></tr>
              </table></div></div>
            <h3>LICENȚE</h3><table><tr><th>Cod</th><th>Denumire</th></tr><tr><td>99.99</td><td>Not an activity</td></tr></table>
            <table><caption>Fondatori (2)</caption>
              <thead><tr><th>Cota, %</th><th>Tipul fondatorului</th><th>Denumire</th></tr></thead>
              <tbody><tr><td>25,50</td><td>Persoană juridică</td><td>Agro SRL</td></tr>
                     <tr><td>74.5%</td><td>persoana fizica</td><td>Ana Ceban</td></tr></tbody></table>
            <h4>Genuri de activitate</h4>
            <table><thead><tr><th>Licențiere</th><th>Descriere</th><th>Cod CAEM</th><th>Extra</th></tr></thead>
              <tbody><tr><td>Nelicențiată</td><td>Comerț cu ridicata</td><td>46.34</td><td>x</td></tr>
                     <tr><td>Licențiată</td><td>Fabricarea vinurilor</td><td>11.02</td><td>y</td></tr></tbody></table>
            <h3>Istoric</h3><ul><li>2020: schimbare</li></ul>"#
        ))
        .unwrap();
        let acts: Vec<_> = c
            .activities
            .iter()
            .map(|a| (a.code.as_str(), a.name.as_str(), a.licensed))
            .collect();
        assert_eq!(
            acts,
            [
                ("11.02", "Fabricarea vinurilor", true),
                ("46.34", "Comerț cu ridicata", false)
            ],
            "licensed first; the LICENȚE table is not an activity list"
        );
        assert_eq!(c.founders.len(), 2);
        assert_eq!(c.founders[0].name, "Ana Ceban");
        assert_eq!(c.founders[0].kind, FounderKind::Person);
        assert_eq!(c.founders[0].share, Some(74.5));
        assert_eq!(c.founders[1].kind, FounderKind::Company);
        assert_eq!(c.founders[1].share, Some(25.5));
        let admins: Vec<_> = c
            .administrators
            .iter()
            .map(|a| (a.name.as_str(), a.role.as_deref()))
            .collect();
        assert_eq!(
            admins,
            [("Ion Ceban", Some("Director")), ("Ana Rusu", None)]
        );
    }

    #[test]
    fn sections_as_lists() {
        let c = parse(&format!(
            r#"{FIELDS}
            <h2>Genuri de activitate licențiate</h2>
            <ol><li>47.73 Farmacii</li></ol>
            <h2>Genuri de activitate nelicențiate</h2>
            <ol><li>62.01: Programare</li><li>01.11 — Cultivarea cerealelor (exclusiv orez)</li></ol>
            <p><strong>FONDATORI</strong></p>
            <ul><li><b>Vinăria SA</b> — persoană juridică — 40,00%</li><li>Ion Popescu | 60 %</li></ul>
            <h2>Administratori</h2><ul><li>Maria Rusu (Administrator)</li><li>Ion Popescu — Director</li></ul>"#
        ))
        .unwrap();
        let acts: Vec<_> = c
            .activities
            .iter()
            .map(|a| (a.code.as_str(), a.name.as_str(), a.licensed))
            .collect();
        assert_eq!(
            acts,
            [
                ("47.73", "Farmacii", true),
                ("62.01", "Programare", false),
                ("01.11", "Cultivarea cerealelor (exclusiv orez)", false)
            ]
        );
        assert_eq!(c.founders[0].name, "Ion Popescu");
        assert_eq!(c.founders[0].share, Some(60.0));
        assert_eq!(c.founders[1].name, "Vinăria SA");
        assert_eq!(c.founders[1].kind, FounderKind::Company);
        assert_eq!(c.administrators[0].name, "Maria Rusu");
        assert_eq!(c.administrators[0].role.as_deref(), Some("Administrator"));
        assert_eq!(c.administrators[1].role.as_deref(), Some("Director"));
    }

    #[test]
    fn headings_say_kind_and_header_rows_may_be_ordinary_cells() {
        let c = parse(&format!(
            r#"{FIELDS}
            <h3>Fondatori — persoane juridice</h3>
            <table><tr><td><b>Denumirea</b></td><td><b>Cota (%)</b></td></tr>
                   <tr><td>Vinăria SA</td><td>40</td></tr></table>
            <h3>Fondatori — persoane fizice</h3>
            <ul><li>Ion Popescu — 60%</li></ul>"#
        ))
        .unwrap();
        let founders: Vec<_> = c
            .founders
            .iter()
            .map(|f| (f.name.as_str(), f.kind, f.share))
            .collect();
        assert_eq!(
            founders,
            [
                ("Ion Popescu", FounderKind::Person, Some(60.0)),
                ("Vinăria SA", FounderKind::Company, Some(40.0))
            ]
        );
    }

    #[test]
    fn an_empty_section_takes_nothing_from_the_next() {
        let c = parse(&format!(
            r#"{FIELDS}<h2>Fondatori</h2><p>Nu sunt date.</p>
               <h2>Administratori</h2><ul><li>Maria Rusu — Administrator</li></ul>
               <h2>Genuri de activitate</h2><p>—</p>"#
        ))
        .unwrap();
        assert!(c.founders.is_empty());
        assert_eq!(c.administrators.len(), 1);
        assert!(
            c.activities.is_empty(),
            "the footer's list is not activities"
        );
    }

    #[test]
    fn unreadable_pages_are_errors() {
        let cases = [
            ("no h1", "<dl><dt>IDNO</dt><dd>1003600012345</dd><dt>Statut</dt><dd>Activă</dd></dl>".to_string()),
            ("no IDNO", "<h1>X</h1><dl><dt>Statut</dt><dd>Activă</dd></dl>".to_string()),
            ("bad IDNO", "<h1>X</h1><dl><dt>IDNO</dt><dd>12345</dd><dt>Statut</dt><dd>Activă</dd></dl>".to_string()),
            ("no status", "<h1>X</h1><dl><dt>IDNO</dt><dd>1003600012345</dd></dl>".to_string()),
            ("unknown status", "<h1>X</h1><dl><dt>IDNO</dt><dd>1003600012345</dd><dt>Statut</dt><dd>Poate</dd></dl>".to_string()),
            (
                "table without column names",
                format!("{FIELDS}<h2>Fondatori</h2><table><tr><td>Ion</td><td>50%</td></tr></table>"),
            ),
            (
                "activity without a code",
                format!("{FIELDS}<h2>Genuri de activitate</h2><ul><li>Comerț</li></ul>"),
            ),
        ];
        for (what, body) in cases {
            assert!(parse(&body).is_err(), "{what}");
        }
        assert!(parse_company_html(b"<html><body>Service down</body></html>").is_err());
        assert!(parse_company_html(b"").is_err());
    }

    #[test]
    fn licence_words() {
        for (s, want) in [
            ("Licențiată", Some(true)),
            ("LICENTIATA", Some(true)),
            ("Licență nr. 123", Some(true)),
            ("Nelicențiată", Some(false)),
            ("fără licență", Some(false)),
            ("Da", Some(true)),
            ("nu", Some(false)),
            ("Genuri de activitate licențiate", Some(true)),
            ("Genuri de activitate (licențiate și nelicențiate)", None),
            ("Activități (date actualizate)", None),
            ("—", None),
        ] {
            assert_eq!(licence(s), want, "{s:?}");
        }
    }

    #[test]
    fn deeply_nested_and_repetitive_pages_are_read() {
        let depth = 1000;
        let body = format!(
            "{}<h1>Adânc SRL</h1><p>IDNO: 1003600012345 (copiază)</p><p>Statut: Activă</p>{}{}",
            "<div>".repeat(depth),
            "<dt>Strada</dt><dd></dd>".repeat(depth),
            "</div>".repeat(depth)
        );
        let c = parse(&body).unwrap();
        assert_eq!(c.name, "Adânc SRL");
        assert_eq!(c.idno, "1003600012345");
        assert_eq!(c.address.street, None);
        assert!(parse("<h1>X</h1><p>IDNO: 10036000123456</p><p>Statut: Activă</p>").is_err());
    }

    #[test]
    fn script_and_style_text_is_not_page_text() {
        let c = parse(
            "<h1>X</h1><style>p::after{content:'IDNO: 1111111111111'}</style>\
             <p>IDNO: 1003600012345</p><p>Statut: Activă</p>",
        )
        .unwrap();
        assert_eq!(c.idno, "1003600012345");
    }

    #[test]
    fn demo_pages_in_both_layouts_parse_to_their_ground_truth() {
        for c in generate(42, 150) {
            for layout in [Layout::Cards, Layout::Tables] {
                let html = html_company_in(&c, layout);
                let got = parse_company_html(html.as_bytes())
                    .unwrap_or_else(|e| panic!("{} {layout:?}: {e}", c.idno));
                assert_eq!(
                    serde_json::to_value(got).unwrap(),
                    expected_company(&c),
                    "{} {layout:?}",
                    c.idno
                );
            }
        }
    }
}
