//! A reader of HTML pages that knows no source: it finds a field by its label and a
//! section by its heading, never by CSS class names or element positions. What a
//! label or heading means is the source's vocabulary ([`Vocabulary`]); this module
//! only knows the shapes pages give them.
//!
//! A field is a label and its value in any of the shapes pages use: `dt`/`dd`,
//! `th`/`td`, a label element followed by its value (`<b>IDNO:</b> 100…`,
//! `<span>IDNO</span><span>100…</span>`), or a "Label: value" line of text
//! (`<li>Statut: Activ</li>`). A section is a heading (`h2`…`h6`, `caption`,
//! `strong`, ...) followed by a list or a table whose header row names its
//! columns. Labels and headings are compared with case, diacritics, punctuation
//! and whitespace folded ([`fold`]); what is not recognised is ignored.

mod fields;
mod sections;
mod text;

use std::collections::HashMap;
use std::hash::Hash;

use scraper::{ElementRef, Html};

pub use sections::{Content, Headed, Table, TableError};

/// What a source's pages say with their labels and headings.
pub trait Vocabulary {
    /// The fields a page labels.
    type Field: Copy + Eq + Hash;
    /// The sections a page heads.
    type Section: Copy + Eq;

    /// The field a label names; `label` is folded ([`fold`]), without its colon.
    fn field(&self, label: &str) -> Option<Self::Field>;

    /// The section a heading opens; `heading` is folded ([`fold`]) and may say more
    /// than the section's name ("fondatori 2", "genuri de activitate licentiate").
    fn section(&self, heading: &str) -> Option<Self::Section>;
}

/// A parsed HTML page.
pub struct Page {
    html: Html,
}

impl Page {
    /// The page in `body` (invalid UTF-8 replaced; HTML parsing never fails).
    pub fn parse(body: &[u8]) -> Self {
        Self {
            html: Html::parse_document(&String::from_utf8_lossy(body)),
        }
    }

    fn elements(&self) -> impl Iterator<Item = ElementRef<'_>> {
        self.html
            .root_element()
            .descendants()
            .filter_map(ElementRef::wrap)
    }

    /// The text of the first element named `name` that has any (`h1`: the title).
    pub fn first_text(&self, name: &str) -> Option<String> {
        self.elements()
            .filter(|e| e.value().name() == name)
            .map(text::text)
            .find(|t| !t.is_empty())
    }

    /// Every field of `vocabulary` the page labels: the first value of each.
    pub fn fields<V: Vocabulary>(&self, vocabulary: &V) -> HashMap<V::Field, String> {
        fields::fields(self.elements(), vocabulary)
    }

    /// The lists and tables of `section`, each with its heading (folded).
    pub fn section<V: Vocabulary>(&self, vocabulary: &V, section: V::Section) -> Vec<Headed<'_>> {
        sections::section(self.elements(), vocabulary, section)
    }
}

/// Lower-case, diacritics folded, every run of punctuation and whitespace one
/// space, trimmed: `" Sectorul/Raionul: "` and `"SECTORUL RAIONUL"` are the same.
pub fn fold(s: &str) -> String {
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

/// Collapse runs of whitespace and trim.
pub fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Separators between the parts of a list item (`Ion Popescu — 60 %`).
pub const ITEM_SEPARATORS: &[&str] = &[" — ", " – ", " - ", " | ", "; "];

/// The parts of a list item, split at [`ITEM_SEPARATORS`], cleaned, empty ones dropped.
pub fn item_parts(item: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests;
