//! Ground truth of people and relations: for each company, who holds a role in it
//! (persons, by the name as served) and which companies found or run it (by IDNO or
//! by name), and across companies, every person's roles and every company link a
//! correct scraper derives.
//!
//! A person is a name: the registry gives no personal identifier, so roles group by
//! [`person_key`] (case and diacritics folded, ș = ş, words sorted), which makes
//! `Popescu Ion` and `Ion Popescu` one person, as the scraper's people do.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::data::DemoCompany;

/// Founder or administrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A founder (`personFounders`, `companyFounders`).
    Founder,
    /// An administrator (`personAdministrators`, `companyAdministrators`).
    Administrator,
}

impl Role {
    /// Wire name: `founder` or `administrator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Founder => "founder",
            Role::Administrator => "administrator",
        }
    }
}

/// A role a natural person holds in a company.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PersonRole {
    /// The company's IDNO.
    pub idno: String,
    /// The person's name as this company serves it (trimmed).
    pub name: String,
    /// Founder or administrator.
    pub role: Role,
    /// A founder's share, percent.
    pub share: Option<f64>,
    /// An administrator's function (`Administrator`, `Director`).
    pub function: Option<String>,
}

/// A company that founds or runs another.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompanyLink {
    /// The IDNO of the company founded or run.
    pub idno: String,
    /// The founding or managing company's name as served (trimmed).
    pub name: String,
    /// Its IDNO, when the registry gives one.
    pub holder_idno: Option<String>,
    /// Founder or administrator.
    pub role: Role,
    /// A founder's share, percent.
    pub share: Option<f64>,
}

/// Everything that ties one company to people and to other companies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompanyRelations {
    /// The company's IDNO.
    pub idno: String,
    /// Its person founders then person administrators.
    pub people: Vec<PersonRole>,
    /// Its company founders then company administrators.
    pub companies: Vec<CompanyLink>,
}

/// The people and companies holding roles in `c`, in the order the API lists them.
pub fn relations(c: &DemoCompany) -> CompanyRelations {
    let people = c
        .person_founders
        .iter()
        .map(|f| PersonRole {
            idno: c.idno.clone(),
            name: f.full_name.trim().to_owned(),
            role: Role::Founder,
            share: Some(f.shares),
            function: None,
        })
        .chain(c.person_administrators.iter().map(|a| PersonRole {
            idno: c.idno.clone(),
            name: a.full_name.trim().to_owned(),
            role: Role::Administrator,
            share: None,
            function: Some(a.role.trim().to_owned()),
        }))
        .collect();
    let companies = c
        .company_founders
        .iter()
        .map(|f| CompanyLink {
            idno: c.idno.clone(),
            name: f.full_name.trim().to_owned(),
            holder_idno: f.idno.clone(),
            role: Role::Founder,
            share: Some(f.shares),
        })
        .chain(c.company_administrators.iter().map(|a| CompanyLink {
            idno: c.idno.clone(),
            name: a.full_name.trim().to_owned(),
            holder_idno: a.idno.clone(),
            role: Role::Administrator,
            share: None,
        }))
        .collect();
    CompanyRelations {
        idno: c.idno.clone(),
        people,
        companies,
    }
}

/// Case and diacritics folded (ș ş → s, ț ţ → t, ă â → a, î → i), every run of other
/// characters one space.
pub fn fold_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            let c = match c {
                'ă' | 'â' | 'Ă' | 'Â' => 'a',
                'î' | 'Î' => 'i',
                'ș' | 'ş' | 'Ș' | 'Ş' => 's',
                'ț' | 'ţ' | 'Ț' | 'Ţ' => 't',
                other => other,
            };
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The person a name stands for: [`fold_name`] with its words sorted, so word order,
/// case and ș/ş do not matter.
pub fn person_key(name: &str) -> String {
    let folded = fold_name(name);
    let mut words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    words.sort_unstable();
    words.join(" ")
}

/// One person across the data set.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExpectedPerson {
    /// Every form of the name the companies serve (`Ion Popescu`, `Popescu Ion`, ...).
    pub names: BTreeSet<String>,
    /// Every role, in company order.
    pub roles: Vec<PersonRole>,
}

impl ExpectedPerson {
    /// The distinct companies the person holds a role in.
    pub fn companies(&self) -> BTreeSet<&str> {
        self.roles.iter().map(|r| r.idno.as_str()).collect()
    }
}

/// Every person of `companies` by [`person_key`], with all their roles.
pub fn expected_people(companies: &[DemoCompany]) -> BTreeMap<String, ExpectedPerson> {
    let mut people: BTreeMap<String, ExpectedPerson> = BTreeMap::new();
    for c in companies {
        for role in relations(c).people {
            let person = people.entry(person_key(&role.name)).or_default();
            person.names.insert(role.name.clone());
            person.roles.push(role);
        }
    }
    people
}

/// The company a link points at among `companies`, as the scraper links it: by IDNO
/// when the registry gives one (whether or not that company is among them), else by
/// its name when exactly one company has that name ([`fold_name`] of both);
/// otherwise none (a foreign company, or a name several companies share).
pub fn linked_idno(link: &CompanyLink, companies: &[DemoCompany]) -> Option<String> {
    if let Some(idno) = &link.holder_idno {
        return Some(idno.clone());
    }
    let name = fold_name(&link.name);
    let mut matches = companies.iter().filter(|c| fold_name(&c.full_name) == name);
    let first = matches.next()?;
    matches.next().is_none().then(|| first.idno.clone())
}

/// Every company link of `companies` with the company it resolves to among them
/// ([`linked_idno`]), in company order.
pub fn expected_links(companies: &[DemoCompany]) -> Vec<(CompanyLink, Option<String>)> {
    let by_name = name_counts(companies);
    companies
        .iter()
        .flat_map(|c| relations(c).companies)
        .map(|link| {
            let target = match &link.holder_idno {
                Some(idno) => Some(idno.clone()),
                None => by_name
                    .get(&fold_name(&link.name))
                    .and_then(|(n, idno)| (*n == 1).then(|| idno.clone())),
            };
            (link, target)
        })
        .collect()
}

/// Folded company name → (how many companies have it, the IDNO of the first).
fn name_counts(companies: &[DemoCompany]) -> HashMap<String, (usize, String)> {
    let mut counts: HashMap<String, (usize, String)> = HashMap::new();
    for c in companies {
        counts
            .entry(fold_name(&c.full_name))
            .or_insert_with(|| (0, c.idno.clone()))
            .0 += 1;
    }
    counts
}

#[cfg(test)]
mod tests;
