//! The generated data set: realistic but invented Moldovan companies.
//!
//! Every company is generated from `(seed, index)` alone, so the data is
//! deterministic and a prefix of a larger data set equals a smaller one.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

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
    /// `idno` of the founding company.
    pub idno: String,
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
    /// `idno`.
    pub idno: String,
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

const SURNAMES: &[&str] = &[
    "Popescu",
    "Rusu",
    "Ciobanu",
    "Ceban",
    "Lungu",
    "Munteanu",
    "Cojocaru",
    "Rotari",
    "Țurcanu",
    "Bălan",
    "Moraru",
    "Sârbu",
    "Guțu",
    "Croitoru",
    "Cebotari",
    "Botnaru",
    "Ursu",
    "Melnic",
    "Bivol",
    "Roșca",
    "Stratan",
    "Vrabie",
    "Grosu",
    "Căpățînă",
    "Țâgănaș",
    "Lupașcu",
];

const GIVEN_NAMES: &[&str] = &[
    "Ion",
    "Maria",
    "Vasile",
    "Elena",
    "Andrei",
    "Natalia",
    "Sergiu",
    "Tatiana",
    "Mihai",
    "Ana",
    "Nicolae",
    "Svetlana",
    "Dumitru",
    "Olga",
    "Victor",
    "Ludmila",
    "Alexandru",
    "Irina",
    "Gheorghe",
    "Doina",
    "Ștefan",
    "Cristina",
    "Petru",
    "Aurelia",
    "Constantin",
    "Mariana",
];

const NAME_LEFT: &[&str] = &[
    "Agro", "Moldo", "Euro", "Nord", "Sud", "Vest", "Est", "Tehno", "Info", "Auto", "Medi", "Eco",
    "Bio", "Terra", "Nistru", "Prut", "Codru", "Dacia", "Basarab", "Lux",
];

const NAME_RIGHT: &[&str] = &[
    "Prim",
    "Trans",
    "Construct",
    "Service",
    "Com",
    "Grup",
    "Plus",
    "Invest",
    "Soft",
    "Farm",
    "Logistic",
    "Impex",
    "Nova",
    "Star",
    "Țesut",
    "Lemn",
];

const NAME_NOUN: &[&str] = &[
    "Vinăria",
    "Brutăria",
    "Farmacia",
    "Tipografia",
    "Combinatul Agricol",
    "Cramele",
    "Livada",
    "Clinica Stomatologică",
    "Fabrica de Conserve",
    "Casa de Comerț",
    "Mobila",
    "Școala Auto",
];

const NAME_PLACE: &[&str] = &[
    "Bălți",
    "Orhei",
    "Cahul",
    "Soroca",
    "Ungheni",
    "Comrat",
    "Chișinău",
    "Codru",
    "Nistru",
    "Purcari",
    "Cricova",
    "Ialoveni",
    "Hîncești",
    "Ștefănești",
];

const NAME_PHRASE: &[&str] = &[
    "Dulce Casă",
    "Țara Vinului",
    "Lumea Copiilor",
    "Grădina Verde",
    "Mărul de Aur",
    "Pâinea Noastră",
    "Viață Sănătoasă",
    "Izvorul Curat",
    "Fântâna Dorințelor",
    "Cuptorul Bunicii",
    "Soare și Vânt",
    "Albinuța Harnică",
];

/// CAEM code, Romanian name, whether it is usually licensed.
const ACTIVITIES: &[(&str, &str, bool)] = &[
    (
        "01.11",
        "Cultivarea cerealelor (exclusiv orez), a plantelor leguminoase și a plantelor producătoare de semințe oleaginoase",
        false,
    ),
    ("01.21", "Cultivarea strugurilor", false),
    (
        "01.24",
        "Cultivarea fructelor semințoase și sâmburoase",
        false,
    ),
    (
        "10.71",
        "Fabricarea pâinii; fabricarea prăjiturilor și a produselor proaspete de patiserie",
        false,
    ),
    ("11.02", "Fabricarea vinurilor din struguri", true),
    (
        "41.20",
        "Lucrări de construcții a clădirilor rezidențiale și nerezidențiale",
        true,
    ),
    ("45.20", "Întreținerea și repararea autovehiculelor", false),
    ("46.34", "Comerț cu ridicata al băuturilor", true),
    ("46.90", "Comerț cu ridicata nespecializat", false),
    (
        "47.11",
        "Comerț cu amănuntul în magazine nespecializate, cu vânzare predominantă de produse alimentare, băuturi și tutun",
        false,
    ),
    (
        "47.73",
        "Comerț cu amănuntul al produselor farmaceutice",
        true,
    ),
    ("49.41", "Transporturi rutiere de mărfuri", true),
    ("52.10", "Depozitări", false),
    (
        "55.10",
        "Hoteluri și alte facilități de cazare similare",
        false,
    ),
    ("56.10", "Restaurante", false),
    (
        "62.01",
        "Activități de realizare a soft-ului la comandă",
        false,
    ),
    (
        "62.02",
        "Activități de consultanță în tehnologia informației",
        false,
    ),
    (
        "68.20",
        "Închirierea și subînchirierea bunurilor imobiliare proprii sau închiriate",
        false,
    ),
    (
        "69.20",
        "Activități de contabilitate și audit financiar; consultanță în domeniul fiscal",
        true,
    ),
    (
        "70.22",
        "Activități de consultanță pentru afaceri și management",
        false,
    ),
    ("71.11", "Activități de arhitectură", true),
    ("85.59", "Alte forme de învățământ n.c.a.", true),
    ("86.23", "Activități de asistență stomatologică", true),
    (
        "96.02",
        "Coafură și alte activități de înfrumusețare",
        false,
    ),
];

/// City, district choices, CUATM code, CUATM name, address prefix.
struct City {
    city: &'static str,
    districts: &'static [&'static str],
    code: &'static str,
    cuatm: &'static str,
    chisinau: bool,
}

const CITIES: &[City] = &[
    City {
        city: "Chișinău",
        districts: &["Centru", "Botanica", "Buiucani", "Ciocana", "Râșcani"],
        code: "0100",
        cuatm: "mun. Chișinău",
        chisinau: true,
    },
    City {
        city: "Bălți",
        districts: &["Bălți"],
        code: "0300",
        cuatm: "mun. Bălți",
        chisinau: false,
    },
    City {
        city: "Cahul",
        districts: &["Cahul"],
        code: "1701",
        cuatm: "or. Cahul",
        chisinau: false,
    },
    City {
        city: "Orhei",
        districts: &["Orhei"],
        code: "6401",
        cuatm: "or. Orhei",
        chisinau: false,
    },
    City {
        city: "Ungheni",
        districts: &["Ungheni"],
        code: "9201",
        cuatm: "or. Ungheni",
        chisinau: false,
    },
    City {
        city: "Comrat",
        districts: &["UTA Găgăuzia"],
        code: "9601",
        cuatm: "or. Comrat",
        chisinau: false,
    },
    City {
        city: "Soroca",
        districts: &["Soroca"],
        code: "7801",
        cuatm: "or. Soroca",
        chisinau: false,
    },
];

const STREETS: &[&str] = &[
    "str. Ștefan cel Mare și Sfânt",
    "bd. Dacia",
    "str. Mihai Eminescu",
    "str. Alexandru cel Bun",
    "str. Independenței",
    "bd. Moscova",
    "str. Ismail",
    "str. Vasile Alecsandri",
    "str. Mitropolit Varlaam",
    "str. Columna",
    "bd. Traian",
    "str. Calea Ieșilor",
    "str. Grigore Vieru",
    "str. Păcii",
    "str. Tighina",
];

/// Named financial rows (row prefix, possible label suffixes).
const NAMED_CODES: &[(&str, &[&str])] = &[
    ("CODE_2_010", &["", "_venituri_din_vanzari"]),
    ("CODE_2_180", &["", "_profit_net"]),
    ("CODE_1_220", &["", "_total_active"]),
    ("CODE_1_380", &["", "_capital_propriu"]),
];

/// Other rows a statement may carry.
const OTHER_CODES: &[&str] = &[
    "CODE_1_010_active_imobilizate",
    "CODE_1_030",
    "CODE_1_070_stocuri",
    "CODE_1_130_creante",
    "CODE_1_190_numerar",
    "CODE_1_250",
    "CODE_1_400_datorii_curente",
    "CODE_2_020_costul_vanzarilor",
    "CODE_2_030_profit_brut",
    "CODE_2_060",
    "CODE_2_070_cheltuieli_administrative",
    "CODE_2_090",
    "CODE_2_150_profit_pana_la_impozitare",
    "CODE_2_170_impozit_pe_venit",
    "CODE_5_440",
    "CODE_5_450_numar_salariati",
];

const LEGAL_FORMS: &[(&str, u64)] = &[
    ("SRL", 55),
    ("SA", 8),
    ("II", 8),
    ("ÎI", 12),
    ("SC", 5),
    ("GȚ", 7),
    ("ÎCS", 5),
];

/// Streams of the per-company PRNG.
const STREAM_IDENTITY: u64 = 1;
const STREAM_DETAIL: u64 = 2;

/// Generate `count` companies from `seed`. Company `i` depends only on `(seed, i)`.
pub fn generate(seed: u64, count: usize) -> Vec<DemoCompany> {
    (0..count as u64).map(|i| company(seed, i)).collect()
}

/// Modulus of the 9 varying digits of an IDNO.
const IDNO_M: u64 = 1_000_000_000;
/// 3^18 is coprime to 10^9, so i ↦ (i·A + B) mod 10^9 is a bijection.
const IDNO_A: u64 = 387_420_489;
/// The inverse of [`IDNO_A`] modulo 10^9 (A · A⁻¹ ≡ 1).
const IDNO_A_INV: u64 = 513_180_409;

fn idno_offset(seed: u64) -> u64 {
    Rng::new(seed, u64::MAX, 99).below(IDNO_M)
}

/// The 13-digit IDNO of company `index`: `100` + 9 digits (a bijection of the
/// index modulo 10⁹, so unique for any realistic count) + a control digit.
pub fn idno_for(seed: u64, index: u64) -> String {
    let body = ((index % IDNO_M) * IDNO_A % IDNO_M + idno_offset(seed)) % IDNO_M;
    let first12 = format!("100{body:09}");
    let weights = [7u32, 3, 1];
    let sum: u32 = first12
        .bytes()
        .enumerate()
        .map(|(k, d)| u32::from(d - b'0') * weights[k % 3])
        .sum();
    format!("{first12}{}", sum % 10)
}

/// The index of the company whose IDNO is `idno` (the inverse of [`idno_for`]), if
/// `idno` is one [`idno_for`] gives for `seed`, control digit included. No table: the
/// site finds any of a million companies from its IDNO alone.
pub fn index_of_idno(seed: u64, idno: &str) -> Option<u64> {
    let body = idno.strip_prefix("100")?.get(..9)?;
    if idno.len() != 13 || !idno.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let body: u64 = body.parse().ok()?;
    let shifted = (body + IDNO_M - idno_offset(seed)) % IDNO_M;
    let index = shifted * IDNO_A_INV % IDNO_M;
    (idno_for(seed, index) == idno).then_some(index)
}

struct Identity {
    idno: String,
    name: String,
    form: &'static str,
    owner: Option<(&'static str, &'static str)>,
}

fn person(rng: &mut Rng) -> (&'static str, &'static str) {
    (*rng.pick(GIVEN_NAMES), *rng.pick(SURNAMES))
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
    let p = person(&mut rng);
    let (name, owner) = match form {
        "II" | "ÎI" | "GȚ" => (format!("{form} {} {}", p.1, p.0), Some(p)),
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
    if let Some((given, surname)) = ident.owner {
        person_founders.push(PersonFounder {
            full_name: format!("{given} {surname}"),
            shares: 100.0,
        });
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
        let mut used = Vec::new();
        for share in pieces {
            let mut p = person(&mut rng);
            while used.contains(&p) {
                p = person(&mut rng);
            }
            used.push(p);
            person_founders.push(PersonFounder {
                full_name: format!("{} {}", p.0, p.1),
                shares: share,
            });
        }
        if let Some(share) = company_share {
            let other = identity(seed, rng.below(index));
            company_founders.push(CompanyFounder {
                full_name: other.name,
                idno: other.idno,
                shares: share,
            });
        }
    }

    // Administrators: 1–2 persons, rarely a managing company.
    let mut person_administrators = Vec::new();
    if let Some((given, surname)) = ident.owner {
        person_administrators.push(PersonAdministrator {
            full_name: format!("{given} {surname}"),
            role: "Administrator".to_owned(),
        });
    } else {
        for k in 0..rng.range(1, 2) {
            let p = person(&mut rng);
            person_administrators.push(PersonAdministrator {
                full_name: format!("{} {}", p.0, p.1),
                role: if k == 0 && rng.chance(0.6) {
                    "Administrator".to_owned()
                } else {
                    "Director".to_owned()
                },
            });
        }
    }
    let mut company_administrators = Vec::new();
    if ident.owner.is_none() && index > 0 && rng.chance(0.05) {
        let other = identity(seed, rng.below(index));
        company_administrators.push(CompanyAdministrator {
            full_name: other.name,
            idno: other.idno,
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
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn same_seed_same_data() {
        assert_eq!(generate(42, 300), generate(42, 300));
        assert_ne!(generate(42, 50), generate(43, 50));
    }

    #[test]
    fn prefix_stability() {
        let big = generate(7, 400);
        let small = generate(7, 120);
        assert_eq!(&big[..120], &small[..]);
    }

    #[test]
    fn idnos_are_unique_and_well_formed() {
        let companies = generate(42, 5000);
        let mut seen = HashSet::new();
        for c in &companies {
            assert_eq!(c.idno.len(), 13, "{}", c.idno);
            assert!(c.idno.starts_with("100"), "{}", c.idno);
            assert!(c.idno.bytes().all(|b| b.is_ascii_digit()), "{}", c.idno);
            assert!(seen.insert(c.idno.clone()), "duplicate {}", c.idno);
        }
        let ids: HashSet<u64> = companies.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), companies.len());
    }

    #[test]
    fn index_of_idno_inverts_idno_for() {
        for seed in [0, 42, u64::MAX] {
            for index in (0..2000).chain([99_999, 100_000, 999_999, 123_456_789]) {
                let idno = idno_for(seed, index);
                assert_eq!(index_of_idno(seed, &idno), Some(index), "{seed} {idno}");
            }
        }
        let idno = idno_for(42, 17);
        // A wrong control digit, not an IDNO of this site at all.
        let last = idno.as_bytes()[12] - b'0';
        let wrong = format!("{}{}", &idno[..12], (last + 1) % 10);
        assert_eq!(index_of_idno(42, &wrong), None);
        for bad in [
            "",
            "100",
            "2001234567890",
            "10012345678901",
            "100abcdefghij",
            "100123456789",
        ] {
            assert_eq!(index_of_idno(42, bad), None, "{bad}");
        }
    }

    #[test]
    fn company_on_demand_equals_generated() {
        let all = generate(42, 300);
        for (i, c) in all.iter().enumerate() {
            assert_eq!(&company(42, i as u64), c);
        }
    }

    #[test]
    fn shares_sum_to_100() {
        for c in generate(42, 2000) {
            let total: f64 = c.person_founders.iter().map(|f| f.shares).sum::<f64>()
                + c.company_founders.iter().map(|f| f.shares).sum::<f64>();
            assert!((total - 100.0).abs() < 1e-9, "{} sums to {total}", c.idno);
            assert!((1..=3).contains(&c.person_founders.len()));
            assert!(c.person_founders.iter().all(|f| f.shares > 0.0));
        }
    }

    #[test]
    fn realistic_shape() {
        let companies = generate(42, 2000);
        let active = companies.iter().filter(|c| c.is_active).count() as f64 / 2000.0;
        assert!((0.80..0.90).contains(&active), "{active}");
        let forms: HashSet<&str> = companies.iter().map(|c| c.legal_form.trim()).collect();
        for f in ["SRL", "SA", "II", "ÎI", "SC", "GȚ", "ÎCS"] {
            assert!(forms.contains(f), "missing {f}");
        }
        assert!(
            companies
                .iter()
                .any(|c| c.legal_form != c.legal_form.trim())
        );
        assert!(companies.iter().any(|c| !c.company_founders.is_empty()));
        assert!(
            companies
                .iter()
                .any(|c| !c.company_administrators.is_empty())
        );
        assert!(
            companies
                .iter()
                .any(|c| c.full_name.contains('ş') || c.full_name.contains('ţ'))
        );
        assert!(companies.iter().any(|c| c.financials.is_empty()));
        for c in &companies {
            assert!((1992..=2024).contains(&c.registered_at.year()));
            assert!(c.revision_date.date() >= c.registered_at);
            assert!((1..=5).contains(&c.activities.len()));
            assert!((1..=2).contains(&c.person_administrators.len()));
            assert!(c.financials.len() <= 4);
            let mut prev = 0;
            for s in &c.financials {
                assert!((2020..=2024).contains(&s.year) && s.year > prev);
                prev = s.year;
                assert!((6..=15).contains(&s.values.len()), "{:?}", s.values);
            }
        }
    }
}
