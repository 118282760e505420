//! The NDJSON export: one company per line, as `GET /api/v1/companies/{idno}` gives
//! it (the same serializer), plus its `financials` as
//! `GET /api/v1/companies/{idno}/financials` gives them.

use serde::Serialize;

use crate::company::{Company, FinancialYear};

/// A company with its financial years.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    company: &'a Company,
    financials: &'a [FinancialYear],
}

/// Append `company` and its `financials` as one JSON line to `out`.
pub fn write_line(out: &mut Vec<u8>, company: &Company, financials: &[FinancialYear]) {
    let line = Line {
        company,
        financials,
    };
    // Serializing to memory fails only for a map with non-string keys, which no
    // field of a company has; should it ever, the line is left out whole.
    let start = out.len();
    if serde_json::to_writer(&mut *out, &line).is_err() {
        out.truncate(start);
        return;
    }
    out.push(b'\n');
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
        let years = [FinancialYear {
            year: 2024,
            revenue: Some(10.5),
            net_profit: None,
            total_assets: None,
            equity: None,
            values: serde_json::Map::from_iter([("CODE_2_010".to_owned(), json!(10.5))]),
        }];
        let mut out = Vec::new();
        write_line(&mut out, &c, &years);
        write_line(&mut out, &c, &[]);
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2, "a newline in a name is escaped: {text}");
        let first: Value = serde_json::from_str(lines[0]).expect("json");
        let mut expected = serde_json::to_value(&c).expect("company json");
        expected["financials"] = serde_json::to_value(years).expect("financials json");
        assert_eq!(first, expected);
        let second: Value = serde_json::from_str(lines[1]).expect("json");
        assert_eq!(second["financials"], json!([]));
        assert_eq!(second["source"]["parser_version"], 3);
    }
}
