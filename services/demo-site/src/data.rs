//! The generated data set: realistic but invented Moldovan companies.
//!
//! Every company is generated from `(seed, index)` alone, so the data is
//! deterministic and a prefix of a larger data set equals a smaller one.
//!
//! People recur across companies as in a real registry: every person role is drawn
//! from a pool of people that grows with the index (company `i` draws from the
//! first `30 + i` people, [`pool_person`], whose names are unique), so a person
//! founds one company and runs another, and a typical person holds roles in two to
//! five companies at any size of the data set. Now and then a person's name is served surname first
//! (`Popescu Ion`) or with the cedilla letters ş ţ in one of their companies.
//! Companies are founded or run by other companies too, always of a lower index so
//! that prefixes stay consistent: by an earlier demo company with its IDNO, by a
//! holding ([`is_holding`], whose name no other company has) named without IDNO,
//! or by a foreign company the registry knows only by name.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

mod idno;
mod people;
mod vocabulary;
pub use idno::*;
pub use people::*;
use vocabulary::*;

/// One generated company, in the source's terms (raw values as served).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoCompany {
    /// Numeric id of the source (`id`).
    pub id: u64,
    /// 13-digit fiscal code, unique, starts with `100`.
    pub idno: String,
    /// `fullName` as served (may carry surrounding whitespace).
    pub full_name: String,
    /// `type` as served: `SRL`, `SA`, `II`, `ÎI`, `SC`, `GȚ`, `ÎCS`, sometimes padded with spaces.
    pub legal_form: String,
    /// `isActive`.
    pub is_active: bool,
    /// `registeredAt` (served as `YYYY-MM-DDT00:00:00`).
    pub registered_at: NaiveDate,
    /// `revisionDate`; also the `Last-Modified` of the company's documents.
    pub revision_date: NaiveDateTime,
    /// `address`.
    pub address: Address,
    /// `cuatm` (territorial code).
    pub cuatm: Cuatm,
    /// Activities in source order; served split into `licensedActivities` and `unlicensedActivities`.
    pub activities: Vec<Activity>,
    /// `personFounders`.
    pub person_founders: Vec<PersonFounder>,
    /// `companyFounders`.
    pub company_founders: Vec<CompanyFounder>,
    /// `personAdministrators`.
    pub person_administrators: Vec<PersonAdministrator>,
    /// `companyAdministrators`.
    pub company_administrators: Vec<CompanyAdministrator>,
    /// Financial statements, oldest year first (served by `/api/fin-data-v1/{idno}`).
    pub financials: Vec<FinancialStatement>,
}

/// A company's address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// `fullName`, e.g. `mun. Chișinău, sec. Centru, str. Ștefan cel Mare și Sfânt 12`.
    pub full_name: String,
    /// `city`.
    pub city: String,
    /// `street`.
    pub street: String,
    /// `streetNumber`.
    pub street_number: String,
    /// `district` (sector in Chișinău, raion elsewhere).
    pub district: String,
}

/// Territorial unit code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cuatm {
    /// e.g. `0100`.
    pub code: String,
    /// e.g. `mun. Chișinău`.
    pub name: String,
}

/// An activity (CAEM code).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// CAEM code, e.g. `47.73`.
    pub code: String,
    /// Romanian name.
    pub name: String,
    /// Whether the activity is licensed.
    pub licensed: bool,
}

/// A natural-person founder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonFounder {
    /// `fullName`.
    pub full_name: String,
    /// `shares`, percent.
    pub shares: f64,
}

/// A legal-person founder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanyFounder {
    /// `fullName`.
    pub full_name: String,
    /// `idno` of the founding company; `None` (served as `null`) when the registry
    /// names it without one (a holding named by its unique name, a foreign company).
    pub idno: Option<String>,
    /// `shares`, percent.
    pub shares: f64,
}

/// A natural-person administrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonAdministrator {
    /// `fullName`.
    pub full_name: String,
    /// `type`: `Administrator` or `Director`.
    pub role: String,
}

/// A legal-person administrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanyAdministrator {
    /// `fullName`.
    pub full_name: String,
    /// `idno` of the managing company; `None` (served as `null`) when the registry
    /// gives none.
    pub idno: Option<String>,
    /// `type`.
    pub role: String,
}

/// One year's financial statement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinancialStatement {
    /// Reporting year (2020–2024).
    pub year: i32,
    /// `CODE_<form>_<row>[_<label>]` → value.
    pub values: BTreeMap<String, f64>,
}

/// Small deterministic PRNG (SplitMix64): stable across platforms and crate versions.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64, index: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B);
        let a = r.next_u64();
        r.0 = a ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let b = r.next_u64();
        r.0 = b ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        r.next_u64();
        r
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// Streams of the per-company PRNG.
const STREAM_IDENTITY: u64 = 1;
const STREAM_DETAIL: u64 = 2;
/// The stream of a pool person (indexed by the person, not the company).
const STREAM_PERSON: u64 = 3;

/// People company 0 draws from; company `i` draws from `POOL_BASE + i`.
pub const POOL_BASE: u64 = 30;

/// Every `HOLDING_EVERY`-th company (index ≡ [`HOLDING_AT`]) is a holding.
pub const HOLDING_EVERY: u64 = 40;
/// See [`HOLDING_EVERY`].
pub const HOLDING_AT: u64 = 7;

/// Whether company `index` is a holding: an `SA` named `{A} & {B} Holding SA` after
/// two surnames, a name no other company of the set has (up to a million companies),
/// so a founder naming it without IDNO still names exactly one company.
pub fn is_holding(index: u64) -> bool {
    index % HOLDING_EVERY == HOLDING_AT
}

/// The unique name of holding `index`.
pub(crate) fn holding_name(index: u64) -> String {
    let s = SURNAMES.len() as u64;
    let h = index / HOLDING_EVERY;
    let a = h % s;
    // b ≠ a, and (a, b) differs for every h < s·(s−1).
    let b = (a + 1 + (h / s) % (s - 1)) % s;
    format!(
        "{} & {} Holding SA",
        SURNAMES[a as usize], SURNAMES[b as usize]
    )
}

/// A holding of lower index than `index`, if there is one.
fn earlier_holding(rng: &mut Rng, index: u64) -> Option<u64> {
    let before = (index + HOLDING_EVERY - HOLDING_AT - 1) / HOLDING_EVERY;
    (before > 0).then(|| rng.below(before) * HOLDING_EVERY + HOLDING_AT)
}

/// An earlier company to found or run company `index` (index > 0): a holding half
/// the time (holdings own many companies), else an earlier company that is not a
/// sole trader (`II`, `ÎI`, `GȚ`) when a few draws find one.
fn earlier_company(rng: &mut Rng, seed: u64, index: u64) -> Identity {
    if rng.chance(0.5)
        && let Some(h) = earlier_holding(rng, index)
    {
        return identity(seed, h);
    }
    let mut other = identity(seed, rng.below(index));
    for _ in 0..3 {
        if other.owner.is_none() {
            break;
        }
        other = identity(seed, rng.below(index));
    }
    other
}

/// Generate `count` companies from `seed`. Company `i` depends only on `(seed, i)`.
pub fn generate(seed: u64, count: usize) -> Vec<DemoCompany> {
    (0..count as u64).map(|i| company(seed, i)).collect()
}

struct Identity {
    idno: String,
    name: String,
    form: &'static str,
    /// The pool person who owns and runs a sole-trader form (`II`, `ÎI`, `GȚ`).
    owner: Option<u64>,
}

/// Replace comma-below ș/ț by the legacy cedilla forms ş/ţ.
fn cedilla(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ș' => 'ş',
            'ț' => 'ţ',
            'Ș' => 'Ş',
            'Ț' => 'Ţ',
            other => other,
        })
        .collect()
}

/// Drop Romanian diacritics altogether.
fn plain(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ă' | 'â' => 'a',
            'Ă' | 'Â' => 'A',
            'î' => 'i',
            'Î' => 'I',
            'ș' | 'ş' => 's',
            'Ș' | 'Ş' => 'S',
            'ț' | 'ţ' => 't',
            'Ț' | 'Ţ' => 'T',
            other => other,
        })
        .collect()
}

fn identity(seed: u64, index: u64) -> Identity {
    let mut rng = Rng::new(seed, index, STREAM_IDENTITY);
    let total: u64 = LEGAL_FORMS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    let mut form = "SRL";
    for (f, w) in LEGAL_FORMS {
        if roll < *w {
            form = f;
            break;
        }
        roll -= w;
    }
    let base = match rng.below(3) {
        0 => format!("{}-{}", rng.pick(NAME_LEFT), rng.pick(NAME_RIGHT)),
        1 => format!("{} {}", rng.pick(NAME_NOUN), rng.pick(NAME_PLACE)),
        _ => (*rng.pick(NAME_PHRASE)).to_owned(),
    };
    let owner_k = draw_person(&mut rng, index);
    if is_holding(index) {
        return Identity {
            idno: idno_for(seed, index),
            name: holding_name(index),
            form: "SA",
            owner: None,
        };
    }
    let (name, owner) = match form {
        "II" | "ÎI" | "GȚ" => (
            format!("{form} {}", pool_person(seed, owner_k).surname_first()),
            Some(owner_k),
        ),
        "ÎCS" => (format!("ÎCS {base} SRL"), None),
        _ => (format!("{base} {form}"), None),
    };
    let variant = rng.below(100);
    let name = if variant < 12 {
        cedilla(&name)
    } else if variant < 20 {
        plain(&name)
    } else {
        name
    };
    Identity {
        idno: idno_for(seed, index),
        name,
        form,
        owner,
    }
}

fn random_date(rng: &mut Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0);
    from + chrono::Duration::days(rng.range(0, span))
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Company `index` of the data set of `seed` (the `index`-th of [`generate`]), made on
/// demand: the same company every time.
pub fn company(seed: u64, index: u64) -> DemoCompany {
    let ident = identity(seed, index);
    let mut rng = Rng::new(seed, index, STREAM_DETAIL);
    let fallback = NaiveDate::MIN;
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or(fallback);

    let registered_at = random_date(&mut rng, d(1992, 1, 1), d(2024, 12, 31));
    let rev_from = registered_at.max(d(2023, 1, 1));
    let revision_date = random_date(&mut rng, rev_from, d(2024, 12, 31))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let is_active = rng.chance(0.85);

    // The served name and type, sometimes with whitespace noise to test trimming.
    let full_name = if rng.chance(0.08) {
        format!("{} ", ident.name)
    } else {
        ident.name.clone()
    };
    let legal_form = match rng.below(12) {
        0 => format!(" {} ", ident.form),
        1 => format!("{}  ", ident.form),
        _ => ident.form.to_owned(),
    };

    // Address.
    let city = if rng.chance(0.55) {
        &CITIES[0]
    } else {
        &CITIES[1 + rng.below(CITIES.len() as u64 - 1) as usize]
    };
    let district = (*rng.pick(city.districts)).to_owned();
    let street = (*rng.pick(STREETS)).to_owned();
    let mut street_number = rng.range(1, 180).to_string();
    match rng.below(6) {
        0 => street_number.push_str(&format!("/{}", rng.range(1, 9))),
        1 => street_number.push(*rng.pick(&['A', 'B', 'V'])),
        _ => {}
    }
    let full = if city.chisinau {
        format!("mun. Chișinău, sec. {district}, {street} {street_number}")
    } else if city.city == "Bălți" {
        format!("mun. Bălți, {street} {street_number}")
    } else if city.city == "Comrat" {
        format!("or. Comrat, UTA Găgăuzia, {street} {street_number}")
    } else {
        format!(
            "or. {}, r-nul {district}, {street} {street_number}",
            city.city
        )
    };
    let address = Address {
        full_name: full,
        city: city.city.to_owned(),
        street,
        street_number,
        district,
    };
    let cuatm = Cuatm {
        code: city.code.to_owned(),
        name: city.cuatm.to_owned(),
    };

    // Activities: 1–5 distinct codes.
    let n_act = rng.range(1, 5) as usize;
    let mut activities: Vec<Activity> = Vec::with_capacity(n_act);
    while activities.len() < n_act {
        let (code, name, usually) = *rng.pick(ACTIVITIES);
        if activities.iter().any(|a| a.code == code) {
            continue;
        }
        let licensed = if usually {
            rng.chance(0.8)
        } else {
            rng.chance(0.1)
        };
        activities.push(Activity {
            code: code.to_owned(),
            name: name.to_owned(),
            licensed,
        });
    }

    // Founders (shares in half-percent steps, so they sum to exactly 100).
    let mut person_founders = Vec::new();
    let mut company_founders = Vec::new();
    // The pool people of this company's person roles, founders first.
    let mut used: Vec<u64> = Vec::new();
    if let Some(owner) = ident.owner {
        person_founders.push(PersonFounder {
            full_name: served_name(&mut rng, seed, owner),
            shares: 100.0,
        });
        used.push(owner);
    } else {
        let with_company = index > 0 && rng.chance(0.25);
        let n_persons = rng.range(1, 3) as usize;
        let parts = n_persons + usize::from(with_company);
        // Split 200 half-percents into `parts` positive pieces.
        let mut cuts: Vec<i64> = (0..parts - 1).map(|_| rng.range(1, 199)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut bounds = vec![0];
        bounds.extend(cuts);
        bounds.push(200);
        let mut pieces: Vec<f64> = bounds
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 2.0)
            .collect();
        let company_share = if with_company && pieces.len() > 1 {
            pieces.pop()
        } else {
            None
        };
        for share in pieces {
            let mut k = draw_person(&mut rng, index);
            while used.contains(&k) {
                k = draw_person(&mut rng, index);
            }
            used.push(k);
            person_founders.push(PersonFounder {
                full_name: served_name(&mut rng, seed, k),
                shares: share,
            });
        }
        if let Some(share) = company_share {
            // An earlier demo company with its IDNO, a holding by its name alone, or
            // a foreign company.
            let roll = rng.below(100);
            let holding = earlier_holding(&mut rng, index);
            let (full_name, idno) = match (roll, holding) {
                (60..80, Some(h)) => (identity(seed, h).name, None),
                (80.., _) => (foreign_name(&mut rng), None),
                _ => {
                    let other = earlier_company(&mut rng, seed, index);
                    (other.name, Some(other.idno))
                }
            };
            company_founders.push(CompanyFounder {
                full_name,
                idno,
                shares: share,
            });
        }
    }

    // Administrators: 1–2 persons, rarely a managing company.
    // Administrators: 1–2 persons (the first often one of the founders), rarely a
    // managing company.
    let mut person_administrators = Vec::new();
    if let Some(owner) = ident.owner {
        person_administrators.push(PersonAdministrator {
            full_name: served_name(&mut rng, seed, owner),
            role: "Administrator".to_owned(),
        });
    } else {
        let founders = used.clone();
        let mut running: Vec<u64> = Vec::new();
        for n in 0..rng.range(1, 2) {
            let mut k = if n == 0 && rng.chance(0.5) {
                *rng.pick(&founders)
            } else {
                draw_person(&mut rng, index)
            };
            while running.contains(&k) {
                k = draw_person(&mut rng, index);
            }
            running.push(k);
            person_administrators.push(PersonAdministrator {
                full_name: served_name(&mut rng, seed, k),
                role: if n == 0 && rng.chance(0.6) {
                    "Administrator".to_owned()
                } else {
                    "Director".to_owned()
                },
            });
        }
    }
    let mut company_administrators = Vec::new();
    if ident.owner.is_none() && index > 0 && rng.chance(0.05) {
        let other = earlier_company(&mut rng, seed, index);
        company_administrators.push(CompanyAdministrator {
            full_name: other.name,
            idno: Some(other.idno),
            role: "Administrator".to_owned(),
        });
    }

    // Financial statements: 0–4 consecutive years within 2020–2024, not before registration.
    let mut financials = Vec::new();
    let n_years = match rng.below(10) {
        0 | 1 => 0,
        2 => 1,
        3 | 4 => 2,
        5 | 6 => 3,
        _ => 4,
    };
    let last_year = if rng.chance(0.7) { 2024 } else { 2023 };
    let first_year = (last_year - n_years + 1)
        .max(registered_at.year())
        .max(2020);
    let scale = 10f64.powf(rng.range(50, 75) as f64 / 10.0); // 100 k – 30 M MDL
    for year in first_year..=last_year {
        if n_years == 0 {
            break;
        }
        let mut values = BTreeMap::new();
        let revenue = scale * (0.6 + rng.below(800) as f64 / 1000.0);
        let assets = revenue * (0.4 + rng.below(1200) as f64 / 1000.0);
        let equity = assets * (rng.range(-200, 800) as f64 / 1000.0);
        let profit = revenue * (rng.range(-150, 250) as f64 / 1000.0);
        let named = [revenue, profit, assets, equity];
        for ((row, labels), value) in NAMED_CODES.iter().zip(named) {
            if rng.chance(0.88) {
                values.insert(format!("{row}{}", rng.pick(labels)), round_cents(value));
            }
        }
        let target = rng.range(6, 15) as usize;
        let mut others: Vec<&str> = OTHER_CODES.to_vec();
        while values.len() < target && !others.is_empty() {
            let code = others.swap_remove(rng.below(others.len() as u64) as usize);
            let v = if code.starts_with("CODE_5_450") {
                rng.range(1, 250) as f64
            } else {
                round_cents(revenue * rng.below(600) as f64 / 1000.0)
            };
            values.insert(code.to_owned(), v);
        }
        financials.push(FinancialStatement { year, values });
    }

    DemoCompany {
        id: 100_000 + index,
        idno: ident.idno,
        full_name,
        legal_form,
        is_active,
        registered_at,
        revision_date,
        address,
        cuatm,
        activities,
        person_founders,
        company_founders,
        person_administrators,
        company_administrators,
        financials,
    }
}

#[cfg(test)]
mod tests;
