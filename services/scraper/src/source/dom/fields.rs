//! Fields: a label and the value it introduces, in whatever shape the page gives them.

use std::collections::HashMap;

use scraper::{ElementRef, Node};

use super::text::{is_block, is_heading, is_opaque, lines, short_text, text};
use super::{Vocabulary, clean, fold};

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
fn label_element<V: Vocabulary>(el: ElementRef<'_>, vocabulary: &V) -> Option<V::Field> {
    let t = short_text(el)?;
    if t.trim().trim_end_matches(':').contains(':')
        || el
            .descendants()
            .skip(1)
            .any(|n| n.value().as_element().is_some_and(|e| is_block(e.name())))
    {
        return None;
    }
    vocabulary.field(&fold(&t))
}

/// How many empty occurrences of a label are read before the label is given up.
const LABEL_TRIES: usize = 8;

/// Every field of `vocabulary` labelled among `elements` (a page's, in document
/// order), the first occurrence of each.
pub(super) fn fields<'a, V: Vocabulary>(
    elements: impl Iterator<Item = ElementRef<'a>>,
    vocabulary: &V,
) -> HashMap<V::Field, String> {
    let mut found = HashMap::new();
    let mut tries: HashMap<V::Field, usize> = HashMap::new();
    for el in elements {
        if is_opaque(el.value().name()) {
            continue;
        }
        if let Some(field) = label_element(el, vocabulary)
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
                && let Some(field) = vocabulary.field(&fold(label))
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
