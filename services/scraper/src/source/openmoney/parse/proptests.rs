//! Property tests: no parser panics on any input, and what the demo site renders
//! for arbitrary companies (either page layout, any financial shape) parses back
//! to its ground truth.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use gleaner_demo_site::{
    Activity as DemoActivity, CompanyAdministrator, CompanyFounder, DemoCompany, FinancialShape,
    FinancialStatement, Layout, PersonAdministrator, PersonFounder, api_company, api_financials_in,
    expected_company, expected_financials, generate, html_company_in,
};
use proptest::prelude::*;
use serde_json::Value;

use super::html::field_label_or_heading;
use super::*;
use crate::source::dom::fold;

/// Keys the parsers look for, so arbitrary JSON reaches past the first check.
const KEYS: &[&str] = &[
    "idno",
    "fullName",
    "type",
    "isActive",
    "registeredAt",
    "address",
    "city",
    "street",
    "streetNumber",
    "district",
    "licensedActivities",
    "unlicensedActivities",
    "personFounders",
    "companyFounders",
    "personAdministrators",
    "companyAdministrators",
    "id",
    "name",
    "shares",
    "data",
    "totalItemCount",
    "year",
    "values",
    "CODE_2_010",
    "CODE_2_180_profit_net",
    "CODE_1_220",
    "CODE_1_380",
];

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(KEYS).prop_map(String::from),
        "[A-Za-z_0-9]{0,12}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[0-9]{13}".prop_map(Value::from),
        "[-+ \u{a0}0-9,.]{0,14}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Pieces of company pages: tags, labels, headings, values, noise.
const HTML_PIECES: &[&str] = &[
    "<h1>",
    "</h1>",
    "<h2>",
    "</h2>",
    "<h3>",
    "<strong>",
    "</strong>",
    "<dl>",
    "<dt>",
    "</dt>",
    "<dd>",
    "</dd>",
    "<table>",
    "</table>",
    "<caption>",
    "<thead>",
    "<tr>",
    "</tr>",
    "<th>",
    "</th>",
    "<td>",
    "</td>",
    "<ul>",
    "</ul>",
    "<ol>",
    "<li>",
    "</li>",
    "<p>",
    "</p>",
    "<b>",
    "</b>",
    "<br>",
    "<div>",
    "</div>",
    "<span>",
    "</span>",
    "<script>",
    "</script>",
    "<!--",
    "-->",
    "IDNO",
    "Statut",
    "Adresa",
    "Strada",
    "Nr.",
    "Cod CAEM",
    "Denumire",
    "Licențiată",
    "Cota",
    "Tip",
    "Funcția",
    "Nume",
    "Genuri de activitate",
    "Fondatori",
    "Administratori",
    ": ",
    " — ",
    "(",
    ")",
    "Activă",
    "1003600012345",
    "47.73",
    "60,00%",
    "persoană juridică",
    "&amp;",
    "&#0;",
    " ",
    "\n",
];

fn arb_html() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(HTML_PIECES).prop_map(String::from),
            1 => any::<String>(),
        ],
        0..300,
    )
    .prop_map(|pieces| pieces.concat())
}

/// A record as the parsers promise it: a 13-digit IDNO and a name.
fn assert_sane(record: &CompanyRecord) {
    assert!(Idno::is_valid(record.idno.as_str()), "{record:?}");
    assert!(!record.name.is_empty(), "{record:?}");
    assert_eq!(record.name, clean(&record.name));
}

proptest! {
    #[test]
    fn no_parser_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(r) = parse_company_html(&bytes) {
            assert_sane(&r);
        }
        if let Ok(r) = parse_company_json(&bytes) {
            assert_sane(&r);
        }
        let _ = parse_financials(&bytes);
        let _ = parse_company_list(&bytes);
    }

    #[test]
    fn no_html_parser_panic_on_page_like_soup(html in arb_html()) {
        if let Ok(r) = parse_company_html(html.as_bytes()) {
            assert_sane(&r);
        }
    }

    #[test]
    fn json_parsers_take_any_json(doc in arb_json()) {
        let body = serde_json::to_vec(&doc).unwrap_or_default();
        if let Ok(r) = parse_company_json(&body) {
            assert_sane(&r);
        }
        if let Ok(list) = parse_company_list(&body) {
            prop_assert!(list.idnos.iter().all(|i| Idno::is_valid(i.as_str())));
        }
        if let Ok(years) = parse_financials(&body) {
            prop_assert!(years.windows(2).all(|w| w[0].year < w[1].year));
            for y in &years {
                prop_assert!(y.values.keys().all(|k| k.starts_with("CODE_")));
                prop_assert!(y.values.values().all(|v| v.as_f64().is_some_and(f64::is_finite)));
            }
        }
    }

    #[test]
    fn numbers_survive_localized_notation(cents in -100_000_000_000_000i64..100_000_000_000_000) {
        let v = cents as f64 / 100.0;
        prop_assert_eq!(parse_number(&gleaner_demo_site::localized_number(v)), Some(v));
        prop_assert_eq!(parse_number(&v.to_string()), Some(v));
    }
}

/// Text as pages show it: words of letters (with Romanian diacritics), digits
/// and punctuation, single spaces. Never a label or heading on its own, which no
/// page can tell from the label itself, and no colon or item separator.
fn arb_text() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-zĂÂÎȘȚăâîșțşţ0-9&<>\"'.,/()]{1,8}", 1..4)
        .prop_map(|w| w.join(" "))
        .prop_filter("a label or heading", |t| !field_label_or_heading(t))
}

/// Text with the surrounding whitespace sources leave.
fn arb_padded() -> impl Strategy<Value = String> {
    ("[ \n]{0,2}", arb_text(), "[ \n]{0,2}").prop_map(|(a, t, b)| format!("{a}{t}{b}"))
}

fn arb_share() -> impl Strategy<Value = f64> {
    (1u32..=10_000).prop_map(|c| f64::from(c) / 100.0)
}

prop_compose! {
    fn arb_company()(
        idno in "[0-9]{13}",
        full_name in arb_padded(),
        legal_form in arb_padded(),
        is_active in any::<bool>(),
        (y, m, d) in (1991i32..2025, 1u32..=12, 1u32..=28),
        address in prop::array::uniform5(arb_padded()),
        activities in prop::collection::vec(("[0-9]{2}\\.[0-9]{2}", arb_text(), any::<bool>()), 0..5),
        person_founders in prop::collection::vec((arb_padded(), arb_share()), 0..3),
        company_founders in prop::collection::vec((arb_padded(), arb_share(), prop::option::of("[0-9]{13}")), 0..3),
        person_administrators in prop::collection::vec((arb_padded(), arb_text()), 0..3),
        company_administrators in prop::collection::vec((arb_padded(), arb_text(), prop::option::of("[0-9]{13}")), 0..2),
    ) -> DemoCompany {
        let mut c = generate(1, 1).remove(0);
        let [full, city, street, street_number, district] = address;
        c.idno = idno;
        c.full_name = full_name;
        c.legal_form = legal_form;
        c.is_active = is_active;
        c.registered_at = NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        c.address.full_name = full;
        c.address.city = city;
        c.address.street = street;
        c.address.street_number = street_number;
        c.address.district = district;
        c.activities = activities
            .into_iter()
            .map(|(code, name, licensed)| DemoActivity { code, name, licensed })
            .collect();
        c.person_founders = person_founders
            .into_iter()
            .map(|(full_name, shares)| PersonFounder { full_name, shares })
            .collect();
        c.company_founders = company_founders
            .into_iter()
            .map(|(full_name, shares, idno)| CompanyFounder { full_name, idno, shares })
            .collect();
        c.person_administrators = person_administrators
            .into_iter()
            .map(|(full_name, role)| PersonAdministrator { full_name, role })
            .collect();
        c.company_administrators = company_administrators
            .into_iter()
            .map(|(full_name, role, idno)| CompanyAdministrator { full_name, idno, role })
            .collect();
        c
    }
}

prop_compose! {
    fn arb_statements()(
        years in prop::collection::btree_map(
            2000i32..2030,
            prop::collection::btree_map(
                "CODE_[1-5]_[0-9]{3}(_[a-z]{1,8})?",
                (-10_000_000_000_000i64..10_000_000_000_000).prop_map(|c| c as f64 / 100.0),
                0..12,
            ),
            0..5,
        )
    ) -> Vec<FinancialStatement> {
        years.into_iter().map(|(year, values): (i32, BTreeMap<String, f64>)| FinancialStatement { year, values }).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn demo_pages_of_arbitrary_companies_parse_to_their_ground_truth(c in arb_company()) {
        let expected = expected_company(&c);
        for layout in [Layout::Cards, Layout::Tables] {
            let html = html_company_in(&c, layout);
            let got = parse_company_html(html.as_bytes());
            prop_assert!(got.is_ok(), "{:?}: {:?}", layout, got);
            let got = serde_json::to_value(got.unwrap_or_else(|_| unreachable!())).unwrap_or_default();
            prop_assert_eq!(&got, &expected, "{:?}", layout);
        }
        let json = parse_company_json(api_company(&c).to_string().as_bytes())
            .map(|r| serde_json::to_value(r).unwrap_or_default());
        prop_assert_eq!(json, Ok(expected));
    }

    #[test]
    fn financials_of_arbitrary_statements_parse_in_every_shape(statements in arb_statements()) {
        let mut c = generate(1, 1).remove(0);
        c.financials = statements;
        let expected = expected_financials(&c);
        for nested in [false, true] {
            for strings in [false, true] {
                let shape = FinancialShape { nested, strings };
                let body = api_financials_in(&c, shape).to_string();
                let got = parse_financials(body.as_bytes())
                    .map(|f| serde_json::to_value(f).unwrap_or_default());
                prop_assert_eq!(&got, &Ok(expected.clone()), "{:?}", shape);
            }
        }
    }
}

#[test]
fn folding_is_idempotent_on_labels() {
    for label in ["Data înregistrării", "SECTORUL/RAIONUL", "Numărul:"] {
        assert_eq!(fold(&fold(label)), fold(label));
    }
}
