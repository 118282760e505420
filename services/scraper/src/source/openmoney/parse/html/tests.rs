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
        assert_eq!(
            CompanyPage.field(&fold(label)),
            Some(Field::LegalForm),
            "{label:?}"
        );
    }
    assert_eq!(CompanyPage.field(&fold("Capital social")), None);
    assert_eq!(
        CompanyPage.section(&fold("Fondatori (2)")),
        Some(Section::Founders)
    );
    assert_eq!(
        CompanyPage.section(&fold("Fondatorii firmei")),
        Some(Section::Founders)
    );
    assert_eq!(CompanyPage.section(&fold("Fondatoriii")), None);
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
    assert_eq!(c.idno.as_str(), "1002600054321");
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
    assert_eq!(c.idno.as_str(), "1003600012345");
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

const FIELDS: &str =
    "<h1>Agro SRL</h1><dl><dt>IDNO</dt><dd>1003600012345</dd><dt>Statut</dt><dd>Activă</dd></dl>";

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
        (
            "no h1",
            "<dl><dt>IDNO</dt><dd>1003600012345</dd><dt>Statut</dt><dd>Activă</dd></dl>"
                .to_string(),
        ),
        (
            "no IDNO",
            "<h1>X</h1><dl><dt>Statut</dt><dd>Activă</dd></dl>".to_string(),
        ),
        (
            "bad IDNO",
            "<h1>X</h1><dl><dt>IDNO</dt><dd>12345</dd><dt>Statut</dt><dd>Activă</dd></dl>"
                .to_string(),
        ),
        (
            "no status",
            "<h1>X</h1><dl><dt>IDNO</dt><dd>1003600012345</dd></dl>".to_string(),
        ),
        (
            "unknown status",
            "<h1>X</h1><dl><dt>IDNO</dt><dd>1003600012345</dd><dt>Statut</dt><dd>Poate</dd></dl>"
                .to_string(),
        ),
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
    assert_eq!(c.idno.as_str(), "1003600012345");
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
    assert_eq!(c.idno.as_str(), "1003600012345");
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

#[test]
fn founders_and_administrators_carry_their_labelled_idno_in_lists() {
    let c = parse(&format!(
        r#"{FIELDS}
        <h2>Fondatori</h2>
        <ul><li><strong>Vinăria SA</strong> — Persoană juridică — IDNO 1002600054321 — 40,00%</li>
            <li>Agro SRL (c/f 1003600012345) — 10%</li>
            <li>Ion Popescu — Persoană fizică — 1009600000001 — 50,00%</li>
            <li>Foreign Ltd — persoană juridică</li></ul>
        <h2>Administratori</h2>
        <ul><li>Maria Rusu — Administrator</li>
            <li>Vinăria SA (c/f 1002600054321) — Administrator — persoană juridică</li>
            <li>Tabac SA — Director — IDNO: 1003600012345</li></ul>"#
    ))
    .unwrap();
    let founders: Vec<_> = c
        .founders
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.kind,
                f.share,
                f.idno.as_ref().map(Idno::as_str),
            )
        })
        .collect();
    assert_eq!(
        founders,
        [
            ("Ion Popescu", FounderKind::Person, Some(50.0), None),
            (
                "Vinăria SA",
                FounderKind::Company,
                Some(40.0),
                Some("1002600054321")
            ),
            (
                "Agro SRL",
                FounderKind::Company,
                Some(10.0),
                Some("1003600012345")
            ),
            ("Foreign Ltd", FounderKind::Company, None, None),
        ],
        "an unlabelled 13-digit number is neither an IDNO nor a share"
    );
    let admins: Vec<_> = c
        .administrators
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.role.as_deref(),
                a.kind,
                a.idno.as_ref().map(Idno::as_str),
            )
        })
        .collect();
    assert_eq!(
        admins,
        [
            (
                "Maria Rusu",
                Some("Administrator"),
                FounderKind::Person,
                None
            ),
            (
                "Vinăria SA",
                Some("Administrator"),
                FounderKind::Company,
                Some("1002600054321")
            ),
            (
                "Tabac SA",
                Some("Director"),
                FounderKind::Company,
                Some("1003600012345")
            ),
        ]
    );
    assert_eq!(c.idno.as_str(), "1003600012345");
}

#[test]
fn founders_and_administrators_carry_the_idno_of_their_column() {
    let c = parse(&format!(
        r#"{FIELDS}
        <h3>Administratori</h3>
        <table><tr><th>Cod fiscal</th><th>Funcția</th><th>Nume, prenume</th><th>Tip persoană</th></tr>
          <tr><td>1002600054321</td><td>Administrator</td><td>Vinăria SA</td><td>juridică</td></tr>
          <tr><td>—</td><td>Director</td><td>Ion Ceban</td><td>fizică</td></tr></table>
        <h3>Fondatori (3)</h3>
        <table><tr><th>Denumire / Nume</th><th>IDNO / cod fiscal</th><th>Tip</th><th>Cota, %</th></tr>
          <tr><td>Vinăria SA</td><td> 1002600054321 </td><td>juridică</td><td>40</td></tr>
          <tr><td>Foreign Ltd</td><td>—</td><td>juridică</td><td>10</td></tr>
          <tr><td>Ana Rusu</td><td>—</td><td>fizică</td><td>50</td></tr></table>"#
    ))
    .unwrap();
    let founders: Vec<_> = c
        .founders
        .iter()
        .map(|f| (f.name.as_str(), f.kind, f.idno.as_ref().map(Idno::as_str)))
        .collect();
    assert_eq!(
        founders,
        [
            ("Ana Rusu", FounderKind::Person, None),
            ("Vinăria SA", FounderKind::Company, Some("1002600054321")),
            ("Foreign Ltd", FounderKind::Company, None),
        ]
    );
    let admins: Vec<_> = c
        .administrators
        .iter()
        .map(|a| (a.name.as_str(), a.kind, a.idno.as_ref().map(Idno::as_str)))
        .collect();
    assert_eq!(
        admins,
        [
            ("Ion Ceban", FounderKind::Person, None),
            ("Vinăria SA", FounderKind::Company, Some("1002600054321")),
        ],
        "persons first, as the JSON API lists them"
    );
}

#[test]
fn idno_labels_and_cells() {
    for (part, want) in [
        ("IDNO 1002600054321", Some("1002600054321")),
        ("idno: 1002600054321", Some("1002600054321")),
        ("c/f 1002600054321", Some("1002600054321")),
        ("Cod fiscal 1002600054321", Some("1002600054321")),
        ("1002600054321", None),
        ("IDNO 100260005432", None),
        ("Cota 1002600054321", None),
    ] {
        assert_eq!(
            labelled_idno(part).as_ref().map(Idno::as_str),
            want,
            "{part:?}"
        );
    }
    assert_eq!(parse_share("1002600054321"), None);
    assert_eq!(parse_share("100"), Some(100.0));
    assert_eq!(
        idno_cell(" 1002600054321 ").as_ref().map(Idno::as_str),
        Some("1002600054321")
    );
    assert_eq!(idno_cell("—"), None);
    assert_eq!(idno_cell("1002600054321 / 1003600012345"), None);
}
