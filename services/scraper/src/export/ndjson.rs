//! The NDJSON export: one company per line, as `GET /api/v1/companies/{idno}` gives
//! it (the same serializer), plus its `financials` as
//! `GET /api/v1/companies/{idno}/financials` gives them (built by PostgreSQL).

use crate::company::Company;

/// Append `company` and its `financials` (the JSON array, as PostgreSQL wrote it) as
/// one JSON line to `out`.
pub fn write_line(out: &mut Vec<u8>, company: &Company, financials: &str) {
    let start = out.len();
    // Serializing to memory fails only for a map with non-string keys, which no
    // field of a company has; should it ever, the line is left out whole. The
    // company is a JSON object: its closing brace makes way for `financials`.
    if serde_json::to_writer(&mut *out, company).is_err() || out.last() != Some(&b'}') {
        out.truncate(start);
        return;
    }
    out.pop();
    out.extend_from_slice(b",\"financials\":");
    out.extend_from_slice(financials.as_bytes());
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::company::{Address, CompanyRecord, SourceInfo, Status};
    use chrono::{TimeZone, Utc};
    use gleaner_scrapejob::Idno;
    use serde_json::{Value, json};

    fn company() -> Company {
        Company {
            record: CompanyRecord {
                idno: Idno::parse("1003600012345").expect("idno"),
                name: "Line\nbreak \"SRL\"".into(),
                legal_form: Some("SRL".into()),
                status: Status::Active,
                registered_at: None,
                address: Address::default(),
                activities: vec![],
                founders: vec![],
                administrators: vec![],
            },
            source: SourceInfo {
                url: "http://127.0.0.1/company/1003600012345".into(),
                fetched_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
                parser_version: 3,
            },
            updated_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 6).unwrap(),
        }
    }

    #[test]
    fn a_line_is_the_company_json_plus_financials() {
        let c = company();
        let years = r#"[{"year": 2024, "revenue": 10.5, "net_profit": null, "values": {"CODE_2_010": 10.5}}]"#;
        let mut out = Vec::new();
        write_line(&mut out, &c, years);
        write_line(&mut out, &c, "[]");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2, "a newline in a name is escaped: {text}");
        let first: Value = serde_json::from_str(lines[0]).expect("json");
        let mut expected = serde_json::to_value(&c).expect("company json");
        expected["financials"] = serde_json::from_str(years).expect("financials json");
        assert_eq!(first, expected);
        let second: Value = serde_json::from_str(lines[1]).expect("json");
        assert_eq!(second["financials"], json!([]));
        assert_eq!(second["source"]["parser_version"], 3);
    }
}
