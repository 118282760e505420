use std::collections::HashMap;

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Name,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Section {
    Staff,
    Products,
}

/// A vocabulary of some other site: the reader knows none of its own.
struct Shop;

impl Vocabulary for Shop {
    type Field = Field;
    type Section = Section;

    fn field(&self, label: &str) -> Option<Field> {
        match label {
            "name" | "nume" => Some(Field::Name),
            "telefon" | "phone" => Some(Field::Phone),
            _ => None,
        }
    }

    fn section(&self, heading: &str) -> Option<Section> {
        if heading.starts_with("staff") {
            Some(Section::Staff)
        } else if heading.starts_with("products") {
            Some(Section::Products)
        } else {
            None
        }
    }
}

#[test]
fn folding_ignores_case_diacritics_punctuation_and_spacing() {
    assert_eq!(fold("Sectorul/Raionul"), fold("SECTORUL  RAIONUL"));
    assert_eq!(fold(" Sectorul/Raionul: "), "sectorul raionul");
    assert_eq!(fold("Ştefan Ţară ȘȚ"), "stefan tara st");
    assert_eq!(fold("Télé-phone:"), "tele phone");
    assert_eq!(fold(""), "");
}

#[test]
fn fields_are_found_by_their_labels_in_every_shape() {
    let page = Page::parse(
        "<html><body><h1> Corner   Shop </h1><dl><dt>NAME:</dt><dd> Corner Shop Ltd </dd></dl>\
         <ul><li>Téléphone: 022</li><li>Phone: 123</li></ul></body></html>"
            .as_bytes(),
    );
    assert_eq!(page.first_text("h1").as_deref(), Some("Corner Shop"));
    assert_eq!(
        page.fields(&Shop),
        HashMap::from([
            (Field::Name, "Corner Shop Ltd".to_string()),
            (Field::Phone, "123".to_string()),
        ])
    );
    assert!(Page::parse(b"<p>Nume</p>").fields(&Shop).is_empty());
}

#[test]
fn sections_are_found_by_their_headings_as_lists_or_tables() {
    let page = Page::parse(
        "<h2>Staff (2)</h2><ul><li>Ann — manager</li><li>Bob</li></ul>\
         <h3>PRODUCTS</h3><table><tr><th>SKU</th><th>Price</th></tr>\
         <tr><td>A1</td><td>5</td></tr></table><h3>Staff</h3><p>none</p>"
            .as_bytes(),
    );
    let staff = page.section(&Shop, Section::Staff);
    assert_eq!(staff.len(), 1, "an empty section has no list");
    assert_eq!(staff[0].heading, "staff 2");
    match &staff[0].content {
        Content::List(items) => assert_eq!(items, &["Ann — manager", "Bob"]),
        Content::Table(_) => panic!("a list"),
    }
    assert_eq!(item_parts("Ann — manager"), ["Ann", "manager"]);
    let products = page.section(&Shop, Section::Products);
    let Content::Table(table) = &products[0].content else {
        panic!("a table");
    };
    let column = |h: &str| match fold(h).as_str() {
        "sku" => Some("sku"),
        "price" => Some("price"),
        _ => None,
    };
    let rows = table.records(column, "sku").unwrap();
    assert_eq!(
        rows,
        [HashMap::from([
            ("sku", "A1".to_string()),
            ("price", "5".to_string())
        ])]
    );
    assert_eq!(
        table.records(|_| None::<&str>, "sku"),
        Err(TableError::NoHeader)
    );
    assert_eq!(
        table.records(column, "colour"),
        Err(TableError::NoColumn("\"colour\"".into()))
    );
}
