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
