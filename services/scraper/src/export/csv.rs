//! The CSV export: RFC 4180 (CRLF line ends, a header row, a field quoted when it
//! holds a double quote, a comma, a CR or an LF, its quotes doubled), UTF-8
//! without a byte-order mark, one company per row.

use crate::company::Company;

/// The header row's columns, in order.
pub const COLUMNS: [&str; 12] = [
    "idno",
    "name",
    "legal_form",
    "status",
    "registered_at",
    "address",
    "city",
    "district",
    "activity_codes",
    "founders",
    "administrators",
    "updated_at",
];

/// Separator inside the list columns (`activity_codes`, `founders`,
/// `administrators`).
pub const LIST_SEPARATOR: &str = ";";

/// Append one field to `out`, quoted when RFC 4180 needs it.
pub fn write_field(out: &mut Vec<u8>, field: &str) {
    if field.contains(['"', ',', '\r', '\n']) {
        out.push(b'"');
        for part in field.split_inclusive('"') {
            out.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                out.push(b'"');
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

fn write_record<'a>(out: &mut Vec<u8>, fields: impl IntoIterator<Item = &'a str>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_field(out, field);
    }
    out.extend_from_slice(b"\r\n");
}

/// Append the header row.
pub fn write_header(out: &mut Vec<u8>) {
    write_record(out, COLUMNS);
}

fn joined<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(LIST_SEPARATOR)
}

/// Append one company's row.
pub fn write_row(out: &mut Vec<u8>, company: &Company) {
    let r = &company.record;
    let registered_at = r.registered_at.map(|d| d.to_string()).unwrap_or_default();
    let activity_codes = joined(r.activities.iter().map(|a| a.code.as_str()));
    let founders = joined(r.founders.iter().map(|f| f.name.as_str()));
    let administrators = joined(r.administrators.iter().map(|a| a.name.as_str()));
    // RFC 3339 in UTC, as the JSON of the API writes it.
    let updated_at = company
        .updated_at
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    write_record(
        out,
        [
            r.idno.as_str(),
            r.name.as_str(),
            r.legal_form.as_deref().unwrap_or(""),
            r.status.as_str(),
            registered_at.as_str(),
            r.address.full.as_deref().unwrap_or(""),
            r.address.city.as_deref().unwrap_or(""),
            r.address.district.as_deref().unwrap_or(""),
            activity_codes.as_str(),
            founders.as_str(),
            administrators.as_str(),
            updated_at.as_str(),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: &str) -> String {
        let mut out = Vec::new();
        write_field(&mut out, s);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn fields_are_quoted_only_when_rfc_4180_needs_it() {
        assert_eq!(field("Agro SRL"), "Agro SRL");
        assert_eq!(field(""), "");
        assert_eq!(field("Chișinău; Bălți"), "Chișinău; Bălți");
        assert_eq!(field("A, B"), "\"A, B\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("\""), "\"\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn the_header_is_one_crlf_line() {
        let mut out = Vec::new();
        write_header(&mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "idno,name,legal_form,status,registered_at,address,city,district,activity_codes,founders,administrators,updated_at\r\n"
        );
    }
}
