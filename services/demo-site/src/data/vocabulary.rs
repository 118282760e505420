//! The words and places companies are made of: names, activities, cities, streets, CUATM
//! codes and legal forms.

pub(super) const SURNAMES: &[&str] = &[
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

pub(super) const GIVEN_NAMES: &[&str] = &[
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

pub(super) const NAME_LEFT: &[&str] = &[
    "Agro", "Moldo", "Euro", "Nord", "Sud", "Vest", "Est", "Tehno", "Info", "Auto", "Medi", "Eco",
    "Bio", "Terra", "Nistru", "Prut", "Codru", "Dacia", "Basarab", "Lux",
];

pub(super) const NAME_RIGHT: &[&str] = &[
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

pub(super) const NAME_NOUN: &[&str] = &[
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

pub(super) const NAME_PLACE: &[&str] = &[
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

pub(super) const NAME_PHRASE: &[&str] = &[
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
pub(super) const ACTIVITIES: &[(&str, &str, bool)] = &[
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
pub(super) struct City {
    pub(super) city: &'static str,
    pub(super) districts: &'static [&'static str],
    pub(super) code: &'static str,
    pub(super) cuatm: &'static str,
    pub(super) chisinau: bool,
}

pub(super) const CITIES: &[City] = &[
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

pub(super) const STREETS: &[&str] = &[
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
pub(super) const NAMED_CODES: &[(&str, &[&str])] = &[
    ("CODE_2_010", &["", "_venituri_din_vanzari"]),
    ("CODE_2_180", &["", "_profit_net"]),
    ("CODE_1_220", &["", "_total_active"]),
    ("CODE_1_380", &["", "_capital_propriu"]),
];

/// Other rows a statement may carry.
pub(super) const OTHER_CODES: &[&str] = &[
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

pub(super) const LEGAL_FORMS: &[(&str, u64)] = &[
    ("SRL", 55),
    ("SA", 8),
    ("II", 8),
    ("ÎI", 12),
    ("SC", 5),
    ("GȚ", 7),
    ("ÎCS", 5),
];
