//! Company records as the API shows them (`GET /api/v1/companies/{idno}`), and field-by-field
//! comparison for history.

use chrono::{DateTime, NaiveDate, Utc};
pub use gleaner_common::events::FieldChange;
use gleaner_scrapejob::Idno;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Active or not, as registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Operating.
    Active,
    /// Liquidated, suspended or otherwise not operating.
    Inactive,
}

impl Status {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Inactive => "inactive",
        }
    }
}

/// Registered address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// The whole address in one line.
    pub full: Option<String>,
    /// City or village.
    pub city: Option<String>,
    /// Sector or district.
    pub district: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// House number.
    pub street_number: Option<String>,
}

/// An economic activity (CAEM code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Activity {
    /// CAEM code, e.g. `47.73`.
    pub code: String,
    /// Description.
    pub name: String,
    /// Whether the activity needs (and has) a licence.
    pub licensed: bool,
}

/// Person or company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FounderKind {
    /// A natural person.
    Person,
    /// A legal person.
    Company,
}

impl FounderKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FounderKind::Person => "person",
            FounderKind::Company => "company",
        }
    }

    fn is_person(&self) -> bool {
        *self == FounderKind::Person
    }
}

/// A founder and their share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Founder {
    /// Name.
    pub name: String,
    /// Person or company.
    pub kind: FounderKind,
    /// Share of the capital, in percent.
    pub share: Option<f64>,
    /// A founding company's IDNO, when the source gives one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{13}$")]
    pub idno: Option<Idno>,
}

/// An administrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Administrator {
    /// Name.
    pub name: String,
    /// Role, e.g. `Administrator`.
    pub role: Option<String>,
    /// A person (absent) or a managing company (`company`).
    #[serde(default = "person", skip_serializing_if = "FounderKind::is_person")]
    pub kind: FounderKind,
    /// A managing company's IDNO, when the source gives one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{13}$")]
    pub idno: Option<Idno>,
}

fn person() -> FounderKind {
    FounderKind::Person
}

/// What a parser produces from one document: the company's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompanyRecord {
    /// 13-digit fiscal code.
    #[schema(value_type = String, pattern = "^[0-9]{13}$")]
    pub idno: Idno,
    /// Registered name.
    pub name: String,
    /// Legal form as the source spells it (`SRL`, `SA`, `ÎI`, ...).
    pub legal_form: Option<String>,
    /// Active or inactive.
    pub status: Status,
    /// Registration date.
    pub registered_at: Option<NaiveDate>,
    /// Address.
    pub address: Address,
    /// Activities, licensed first.
    pub activities: Vec<Activity>,
    /// Founders, persons first.
    pub founders: Vec<Founder>,
    /// Administrators, persons first.
    pub administrators: Vec<Administrator>,
}

/// Where a company's current data came from.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SourceInfo {
    /// URL of the raw document.
    pub url: String,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
    /// Parser version that produced the record.
    pub parser_version: i32,
}

/// The company as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Company {
    /// The record's fields.
    #[serde(flatten)]
    pub record: CompanyRecord,
    /// Provenance.
    pub source: SourceInfo,
    /// Last change of any field.
    pub updated_at: DateTime<Utc>,
}

impl CompanyRecord {
    /// The tracked fields as (path, value) pairs, in a stable order.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("name", json!(self.name)),
            ("legal_form", json!(self.legal_form)),
            ("status", json!(self.status)),
            ("registered_at", json!(self.registered_at)),
            ("address.full", json!(self.address.full)),
            ("address.city", json!(self.address.city)),
            ("address.district", json!(self.address.district)),
            ("address.street", json!(self.address.street)),
            ("address.street_number", json!(self.address.street_number)),
            ("activities", json!(self.activities)),
            ("founders", json!(self.founders)),
            ("administrators", json!(self.administrators)),
        ]
    }

    /// The fields that differ from `before`, old and new values included.
    pub fn changes_since(&self, before: &CompanyRecord) -> Vec<FieldChange> {
        before
            .fields()
            .into_iter()
            .zip(self.fields())
            .filter(|((_, old), (_, new))| old != new)
            .map(|((field, old), (_, new))| FieldChange {
                field: field.to_string(),
                old,
                new,
            })
            .collect()
    }
}

/// One year of financial statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FinancialYear {
    /// Reporting year.
    pub year: i32,
    /// Sales revenue (`CODE_2_010`).
    pub revenue: Option<f64>,
    /// Net profit (`CODE_2_180`).
    pub net_profit: Option<f64>,
    /// Total assets (`CODE_1_220`).
    pub total_assets: Option<f64>,
    /// Equity (`CODE_1_380`).
    pub equity: Option<f64>,
    /// Every reported code and its value.
    #[schema(value_type = Object)]
    pub values: serde_json::Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CompanyRecord {
        CompanyRecord {
            idno: Idno::parse("1003600012345").unwrap(),
            name: "Agro SRL".into(),
            legal_form: Some("SRL".into()),
            status: Status::Active,
            registered_at: NaiveDate::from_ymd_opt(2003, 5, 14),
            address: Address {
                city: Some("Chișinău".into()),
                ..Address::default()
            },
            activities: vec![],
            founders: vec![],
            administrators: vec![],
        }
    }

    #[test]
    fn changes_are_exactly_the_changed_fields() {
        let a = record();
        let mut b = a.clone();
        assert!(b.changes_since(&a).is_empty());
        b.name = "Agro Prim SRL".into();
        b.address.city = Some("Bălți".into());
        let changes = b.changes_since(&a);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["name", "address.city"]);
        assert_eq!(changes[0].old, json!("Agro SRL"));
        assert_eq!(changes[1].new, json!("Bălți"));
    }

    #[test]
    fn company_json_flattens_the_record() {
        let c = Company {
            record: record(),
            source: SourceInfo {
                url: "u".into(),
                fetched_at: Utc::now(),
                parser_version: 1,
            },
            updated_at: Utc::now(),
        };
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(v["registered_at"], "2003-05-14");
        assert_eq!(v["status"], "active");
        assert_eq!(v["source"]["parser_version"], 1);
    }
}
