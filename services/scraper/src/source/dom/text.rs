//! Elements and their text: which elements are headings, blocks or not page text,
//! and the text of an element as a reader sees it.

use ego_tree::NodeRef;
use ego_tree::iter::Edge;
use scraper::{ElementRef, Node};

use super::clean;

pub(super) fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// Elements that may carry a section heading.
pub(super) fn may_head(name: &str) -> bool {
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

pub(super) fn is_block(name: &str) -> bool {
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
pub(super) fn is_opaque(name: &str) -> bool {
    matches!(
        name,
        "script" | "style" | "template" | "noscript" | "textarea" | "head" | "svg"
    )
}

/// The text of an element: opaque content skipped, a space at line and block
/// boundaries, whitespace collapsed.
pub(super) fn text(el: ElementRef<'_>) -> String {
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
pub(super) fn short_text(el: ElementRef<'_>) -> Option<String> {
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
pub(super) fn lines(el: ElementRef<'_>) -> Option<Vec<String>> {
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

/// The next node in document order after `node` and its descendants.
pub(super) fn after<'a>(node: NodeRef<'a, Node>) -> Option<NodeRef<'a, Node>> {
    let mut n = node;
    loop {
        if let Some(s) = n.next_sibling() {
            return Some(s);
        }
        n = n.parent()?;
    }
}
