//! The roles a company record names: who (a person, or a company) founded or manages
//! it, keyed so that a re-transform of the same documents gives the same rows.
//!
//! A person is their [`names::person_key`] (one [`names::person_id`] for every spelling
//! of one name); a company holding a role is the IDNO the source gives, else its
//! [`names::name_key`], matched when read against the one known company of that name.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::company::{CompanyRecord, FounderKind};
use crate::names;

/// A role held in a company.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RoleKind {
    /// Founder (shareholder).
    Founder,
    /// Administrator (director, manager).
    Administrator,
}

impl RoleKind {
    /// Wire and column name.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Founder => "founder",
            RoleKind::Administrator => "administrator",
        }
    }

    /// From the column name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "founder" => Some(RoleKind::Founder),
            "administrator" => Some(RoleKind::Administrator),
            _ => None,
        }
    }
}

/// Who holds a role: a person or a company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HolderKind {
    /// A natural person.
    Person,
    /// A legal person.
    Company,
}

impl HolderKind {
    /// Column name.
    pub fn as_str(self) -> &'static str {
        match self {
            HolderKind::Person => "person",
            HolderKind::Company => "company",
        }
    }

    /// From the column name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "person" => Some(HolderKind::Person),
            "company" => Some(HolderKind::Company),
            _ => None,
        }
    }
}

impl From<FounderKind> for HolderKind {
    fn from(kind: FounderKind) -> Self {
        match kind {
            FounderKind::Person => HolderKind::Person,
            FounderKind::Company => HolderKind::Company,
        }
    }
}

/// What identifies a role within its company: the role, the kind of holder and the
/// holder's key (a person id; a company's IDNO, else its folded name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleKey {
    /// Founder or administrator.
    pub role: RoleKind,
    /// Person or company.
    pub holder_kind: HolderKind,
    /// Person id, or the company's IDNO, else its [`names::name_key`].
    pub holder_key: String,
}

/// One role as a company record names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// Which role, held by whom.
    pub key: RoleKey,
    /// The person's [`names::person_key`] (persons only).
    pub person_key: Option<String>,
    /// The IDNO the source gives for a company holder.
    pub holder_idno: Option<String>,
    /// The holder's name as the source spells it, runs of white space made one space.
    pub holder_name: String,
    /// A founder's share, in percent.
    pub share: Option<f64>,
    /// An administrator's title as the source gives it.
    pub function: Option<String>,
}

impl Role {
    /// The person id of a person's role.
    pub fn person_id(&self) -> Option<&str> {
        (self.key.holder_kind == HolderKind::Person).then_some(self.key.holder_key.as_str())
    }

    /// Whether what the row says besides its key is the same.
    pub fn same_details(&self, other: &Role) -> bool {
        self.holder_idno == other.holder_idno
            && self.holder_name == other.holder_name
            && self.share == other.share
            && self.function == other.function
    }
}

/// A name for display: trimmed, every run of white space one space.
pub fn display_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A holder folded: a person's [`names::person_key`]; a company's IDNO, else its
/// [`names::name_key`]. `None` when that is empty.
fn folded_holder(kind: FounderKind, name: &str, idno: Option<&str>) -> Option<String> {
    let folded = match (kind, idno) {
        (FounderKind::Person, _) => names::person_key(name),
        (FounderKind::Company, Some(idno)) => idno.to_owned(),
        (FounderKind::Company, None) => names::name_key(name),
    };
    (!folded.is_empty()).then_some(folded)
}

/// The roles `record` names, one per [`RoleKey`], sorted by key. A holder named twice
/// in one role is one row: shares add up, the first title and spelling are kept. A
/// name with no letter or digit (and no IDNO) names nobody and gives no row.
pub fn roles_of(record: &CompanyRecord) -> Vec<Role> {
    let founders = record.founders.iter().map(|f| {
        (
            RoleKind::Founder,
            f.kind,
            f.name.as_str(),
            f.idno.as_ref().map(|i| i.as_str()),
            f.share,
            None,
        )
    });
    let administrators = record.administrators.iter().map(|a| {
        (
            RoleKind::Administrator,
            a.kind,
            a.name.as_str(),
            a.idno.as_ref().map(|i| i.as_str()),
            None,
            a.role.as_deref(),
        )
    });
    let mut roles: Vec<Role> = Vec::new();
    for (role, kind, name, idno, share, function) in founders.chain(administrators) {
        let Some(folded) = folded_holder(kind, name, idno) else {
            continue;
        };
        let (holder_key, person_key) = match kind {
            FounderKind::Person => (names::id_of_key(&folded), Some(folded)),
            FounderKind::Company => (folded, None),
        };
        let key = RoleKey {
            role,
            holder_kind: kind.into(),
            holder_key,
        };
        let function = function.map(display_name).filter(|f| !f.is_empty());
        if let Some(seen) = roles.iter_mut().find(|r| r.key == key) {
            seen.share = match (seen.share, share) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            if seen.function.is_none() {
                seen.function = function;
            }
            continue;
        }
        roles.push(Role {
            key,
            person_key,
            holder_idno: (kind == FounderKind::Company)
                .then(|| idno.map(str::to_owned))
                .flatten(),
            holder_name: display_name(name),
            share,
            function,
        });
    }
    roles.sort_by(|a, b| a.key.cmp(&b.key));
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::company::{Address, Administrator, Founder, Status};
    use gleaner_scrapejob::Idno;

    fn record(founders: Vec<Founder>, administrators: Vec<Administrator>) -> CompanyRecord {
        CompanyRecord {
            idno: Idno::parse("1003600012345").unwrap(),
            name: "Agro SRL".into(),
            legal_form: Some("SRL".into()),
            status: Status::Active,
            registered_at: None,
            address: Address::default(),
            activities: vec![],
            founders,
            administrators,
        }
    }

    fn person(name: &str, share: Option<f64>) -> Founder {
        Founder {
            name: name.into(),
            kind: FounderKind::Person,
            share,
            idno: None,
        }
    }

    #[test]
    fn a_person_is_one_row_per_role_whatever_the_spelling() {
        let r = record(
            vec![
                person("Ştefan  Ţurcan", Some(30.0)),
                person("TURCAN Ștefan", Some(20.0)),
                person(" ,. ", Some(50.0)),
            ],
            vec![Administrator {
                name: "Ștefan Țurcan".into(),
                role: Some(" Director  general ".into()),
                kind: FounderKind::Person,
                idno: None,
            }],
        );
        let roles = roles_of(&r);
        assert_eq!(roles.len(), 2, "{roles:?}");
        let id = names::person_id("Stefan Turcan").unwrap();
        assert!(roles.iter().all(|r| r.person_id() == Some(id.as_str())));
        let founder = &roles[0];
        assert_eq!(founder.key.role, RoleKind::Founder);
        assert_eq!(founder.share, Some(50.0));
        assert_eq!(founder.holder_name, "Ştefan Ţurcan");
        assert_eq!(founder.person_key.as_deref(), Some("stefan turcan"));
        let admin = &roles[1];
        assert_eq!(admin.key.role, RoleKind::Administrator);
        assert_eq!(admin.function.as_deref(), Some("Director general"));
        assert_eq!(admin.share, None);
    }

    #[test]
    fn a_company_holder_is_keyed_by_idno_else_by_folded_name() {
        let r = record(
            vec![
                Founder {
                    name: "Vinăria Nord SRL".into(),
                    kind: FounderKind::Company,
                    share: Some(40.0),
                    idno: Some(Idno::parse("1003600099999").unwrap()),
                },
                Founder {
                    name: "SC  Vinăria-Sud SRL".into(),
                    kind: FounderKind::Company,
                    share: Some(60.0),
                    idno: None,
                },
            ],
            vec![],
        );
        let roles = roles_of(&r);
        let keys: Vec<&str> = roles.iter().map(|r| r.key.holder_key.as_str()).collect();
        assert_eq!(keys, ["1003600099999", "sc vinaria sud srl"]);
        assert_eq!(roles[0].holder_idno.as_deref(), Some("1003600099999"));
        assert_eq!(roles[1].holder_idno, None);
        assert!(roles.iter().all(|r| r.person_id().is_none()));
    }

    #[test]
    fn the_rows_do_not_depend_on_the_order_of_the_record() {
        let a = record(
            vec![
                person("Ion Popescu", Some(50.0)),
                person("Maria Rusu", Some(50.0)),
            ],
            vec![],
        );
        let b = record(
            vec![
                person("Maria Rusu", Some(50.0)),
                person("Ion Popescu", Some(50.0)),
            ],
            vec![],
        );
        assert_eq!(roles_of(&a), roles_of(&b));
    }
}
