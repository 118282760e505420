//! Sections: a heading and the list or table it introduces; a table read through
//! its header row.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use scraper::ElementRef;

use super::text::{after, is_heading, is_opaque, may_head, short_text, text};
use super::{Vocabulary, fold};

/// A list or table of a section, with its heading.
pub struct Headed<'a> {
    /// The heading, folded: it may say more than the section's name
    /// ("genuri de activitate licentiate").
    pub heading: String,
    /// What the heading introduces.
    pub content: Content<'a>,
}

/// What a section heading introduces.
pub enum Content<'a> {
    /// A list: the text of each item.
    List(Vec<String>),
    /// A table.
    Table(Table<'a>),
}

/// A table of a section.
pub struct Table<'a>(ElementRef<'a>);

/// Why a table could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// Data rows, but no header row naming their columns.
    #[error("a table without a header row naming its columns")]
    NoHeader,
    /// A header row without the column every row needs (named).
    #[error("no {0} column")]
    NoColumn(String),
}

/// Most nodes between a heading and its list or table.
const SECTION_GAP: usize = 2000;

/// The list or table a heading introduces: for a table caption or header cell,
/// its table; otherwise the first `ul`, `ol` or `table` after it, unless another
/// heading comes first (the section is then empty).
fn headed_container<'a, V: Vocabulary>(
    heading: ElementRef<'a>,
    vocabulary: &V,
) -> Option<ElementRef<'a>> {
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
                    .map(|t| vocabulary.section(&fold(&t)).is_some())
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

/// The lists and tables of `section` among `elements` (a page's, in document order),
/// each with its heading (folded).
pub(super) fn section<'a, V: Vocabulary>(
    elements: impl Iterator<Item = ElementRef<'a>>,
    vocabulary: &V,
    section: V::Section,
) -> Vec<Headed<'a>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for el in elements {
        if !may_head(el.value().name()) {
            continue;
        }
        let Some(heading) = short_text(el).map(|t| fold(&t)) else {
            continue;
        };
        if vocabulary.section(&heading) != Some(section) {
            continue;
        }
        if let Some(container) = headed_container(el, vocabulary)
            && seen.insert(container.id())
        {
            let content = if container.value().name() == "table" {
                Content::Table(Table(container))
            } else {
                Content::List(list_items(container))
            };
            out.push(Headed { heading, content });
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

impl Table<'_> {
    /// The data rows as column → text, read through the header row: `column` names
    /// the column a header cell's text stands for, and every table of the section has
    /// a `required` column. A table with no rows at all has no records.
    pub fn records<C: Copy + Eq + Hash + std::fmt::Debug>(
        &self,
        column: impl Fn(&str) -> Option<C>,
        required: C,
    ) -> Result<Vec<HashMap<C, String>>, TableError> {
        let rows = table_rows(self.0);
        // A row of header cells naming a column, or (pages that bold a first row of
        // ordinary cells) a row naming the required column and another.
        let is_header = |row: &Vec<ElementRef<'_>>| {
            let named: Vec<C> = row.iter().filter_map(|c| column(&text(*c))).collect();
            let all_th = !row.is_empty() && row.iter().all(|c| c.value().name() == "th");
            (all_th && !named.is_empty())
                || (named.contains(&required) && named.iter().any(|c| *c != required))
        };
        let Some(header_at) = rows.iter().position(is_header) else {
            if rows
                .iter()
                .any(|r| r.iter().any(|c| c.value().name() == "td"))
            {
                return Err(TableError::NoHeader);
            }
            return Ok(Vec::new());
        };
        let mut columns: Vec<Option<C>> = Vec::new();
        for c in &rows[header_at] {
            let col = column(&text(*c));
            // The first column of each kind counts.
            columns.push(col.filter(|k| !columns.contains(&Some(*k))));
        }
        if !columns.contains(&Some(required)) {
            return Err(TableError::NoColumn(format!("{required:?}")));
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
}
