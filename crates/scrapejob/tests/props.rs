//! Property tests for what a ScrapeJob carries in from outside: cron schedules,
//! whole specs as JSON, shard coordinates from a pod's environment or the
//! command line. Never a panic, and the verdicts agree
//! with the CRD's schema as the Kubernetes API server applies it.

use gleaner_scrapejob::limits::{SCHEDULE_MAX_LEN, SCHEDULE_MIN_LEN, SHARDS_MAX};
use gleaner_scrapejob::schedule::parse_cron;
use gleaner_scrapejob::{Idno, ScrapeJobSpec, Shard, Targets};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};

/// 256 cases; failures are kept in `proptest-regressions/props.txt` and replayed first.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Cron schedules

/// Whitespace as the API server's regular expressions (Go RE2) read `\s`.
fn is_re2_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// What the CRD's schema accepts as `schedule`: 9 to 128 characters (counted
/// as the API server counts them, in code points) matching
/// `^\s*\S+(\s+\S+){4}\s*$` with RE2's ASCII `\s`.
fn crd_accepts(schedule: &str) -> bool {
    let chars = schedule.chars().count();
    (SCHEDULE_MIN_LEN..=SCHEDULE_MAX_LEN).contains(&chars)
        && schedule
            .split(is_re2_space)
            .filter(|field| !field.is_empty())
            .count()
            == 5
}

/// One cron field: lists of values, ranges and steps, names, the
/// extensions some cron dialects have (`L`, `W`, `#`, `?`), out-of-range
/// and huge numbers, and junk.
fn arb_field() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        4 => (0u32..70).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => Just("-1".to_owned()),
        1 => Just("007".to_owned()),
        1 => "[0-9]{20,40}",
    ];
    let name = prop::sample::select(vec![
        "JAN", "feb", "Dec", "MON", "sun", "SAT", "XYZ", "L", "W", "LW", "5L", "15W", "1#2", "7#5",
        "?",
    ])
    .prop_map(str::to_owned);
    let atom = prop_oneof![
        3 => number.clone(),
        1 => name,
        2 => Just("*".to_owned()),
    ];
    let item = prop_oneof![
        3 => atom.clone(),
        2 => (atom.clone(), atom.clone()).prop_map(|(a, b)| format!("{a}-{b}")),
        2 => (atom, number).prop_map(|(a, n)| format!("{a}/{n}")),
    ];
    // Most fields are ones every position takes, so many schedules are valid.
    let common = prop_oneof![
        3 => Just("*".to_owned()),
        2 => (1u32..=6).prop_map(|n| n.to_string()),
        1 => (1u32..=3, 4u32..=6).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => (1u32..=12).prop_map(|n| format!("*/{n}")),
        1 => Just("1,2,5".to_owned()),
    ];
    prop_oneof![
        24 => common,
        3 => prop::collection::vec(item, 1..4).prop_map(|items| items.join(",")),
        1 => "[ -~]{1,6}",
        1 => "\\PC{1,4}",
    ]
}

/// Separators between fields: the ASCII ones both sides agree on, and
/// Unicode and vertical-tab spaces that only some regex engines call `\s`.
fn arb_space() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => Just(" ".to_owned()),
        2 => Just("\t".to_owned()),
        1 => Just("  ".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("\r".to_owned()),
        1 => Just("\x0c".to_owned()),
        1 => Just("\x0b".to_owned()),
        1 => Just("\u{a0}".to_owned()),
        1 => Just("\u{2003}".to_owned()),
        1 => Just("\u{3000}".to_owned()),
        1 => Just("\u{85}".to_owned()),
    ]
}

/// A schedule: four to six fields with separators and maybe padding.
fn arb_schedule() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            4 => prop::collection::vec((arb_field(), arb_space()), 5..=5),
            1 => prop::collection::vec((arb_field(), arb_space()), 4..=6),
        ],
        prop::option::of(arb_space()),
        prop::option::of(arb_space()),
    )
        .prop_map(|(fields, lead, trail)| {
            let mut s = lead.unwrap_or_default();
            let n = fields.len();
            for (i, (field, space)) in fields.into_iter().enumerate() {
                s.push_str(&field);
                if i + 1 < n {
                    s.push_str(&space);
                }
            }
            s.push_str(&trail.unwrap_or_default());
            s
        })
}

fn spec_with_schedule(schedule: &str) -> ScrapeJobSpec {
    let mut spec = ScrapeJobSpec::with_targets(Targets {
        idnos: Some(vec!["1003600000001".to_owned()]),
        list_pages: None,
    });
    spec.schedule = Some(schedule.to_owned());
    spec
}

proptest! {
    #![proptest_config(config())]

    /// Any string: `parse_cron` answers, never panics.
    #[test]
    fn any_string_is_a_schedule_or_an_error(s in prop_oneof![any::<String>(), arb_schedule()]) {
        let _ = parse_cron(&s);
    }

    /// A spec's schedule is accepted only when the CRD's schema accepts it
    /// too, and exactly when it is also a cron expression that fires: the app
    /// (outside a cluster), the operator and the API server give one verdict.
    #[test]
    fn schedules_validate_as_the_crd_and_cron_agree(s in arb_schedule()) {
        let accepted = spec_with_schedule(&s).validate().is_ok();
        prop_assert_eq!(accepted, crd_accepts(&s) && parse_cron(&s).is_ok(), "{:?}", s);
    }

    /// An accepted schedule fires again after any moment, not only after the epoch.
    #[test]
    fn accepted_schedules_keep_firing(s in arb_schedule(), seconds in 0i64..7_258_118_400) {
        if let Ok(cron) = parse_cron(&s) {
            let from = chrono::DateTime::from_timestamp(seconds, 0).expect("a time before 2200");
            let next = cron.find_next_occurrence(&from, false);
            prop_assert!(next.is_ok_and(|t| t > from), "{:?} after {}", s, from);
        }
    }
}

// ---------------------------------------------------------------------------
// Whole specs as JSON (`SCRAPEJOB_SPEC`, the run API, the app's job API)

fn arb_json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,16}".prop_map(Value::from),
        "[0-9]{13}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const SPEC_FIELDS: &[&str] = &[
    "source",
    "baseUrl",
    "apiUrl",
    "targets",
    "schedule",
    "suspend",
    "concurrency",
    "requestsPerSecond",
    "maxRetries",
    "timeoutSeconds",
    "concurrencyPolicy",
    "successfulRunsHistoryLimit",
    "failedRunsHistoryLimit",
    "shards",
];

/// A spec-shaped object: the real fields (some with plausible values) and any others.
fn arb_spec_json() -> impl Strategy<Value = Value> {
    let targets = (
        prop::option::of(prop::collection::vec(
            prop_oneof!["[0-9]{13}", ".{0,14}"],
            0..4,
        )),
        prop::option::of((any::<u32>(), any::<u32>())),
    )
        .prop_map(|(idnos, pages)| {
            let mut t = json!({});
            if let Some(idnos) = idnos {
                t["idnos"] = json!(idnos);
            }
            if let Some((from, to)) = pages {
                t["listPages"] = json!({"from": from, "to": to});
            }
            t
        });
    let field = prop::sample::select(SPEC_FIELDS.to_vec());
    (
        targets,
        prop::collection::vec((field, arb_json_value()), 0..5),
        prop::option::of(arb_schedule()),
        prop::option::of(1u32..=SHARDS_MAX + 2),
    )
        .prop_map(|(targets, fields, schedule, shards)| {
            let mut spec = json!({ "targets": targets });
            for (name, value) in fields {
                spec[name] = value;
            }
            if let Some(s) = schedule {
                spec["schedule"] = json!(s);
            }
            if let Some(n) = shards {
                spec["shards"] = json!(n);
            }
            spec
        })
}

proptest! {
    #![proptest_config(config())]

    /// Any JSON (or text) is a valid spec or an error naming what is wrong;
    /// a spec that comes out validates, its IDNOs parse and its URLs have roots.
    #[test]
    fn any_json_is_a_valid_spec_or_an_error(text in prop_oneof![
        arb_spec_json().prop_map(|v| v.to_string()),
        arb_json_value().prop_map(|v| v.to_string()),
        any::<String>(),
    ]) {
        match ScrapeJobSpec::from_json(&text) {
            Ok(spec) => {
                prop_assert!(spec.validate().is_ok());
                prop_assert!(spec.base_source_url().is_some());
                prop_assert!(spec.api_source_url().is_some());
                let named = spec.targets.idnos.as_ref().map_or(0, Vec::len);
                prop_assert_eq!(spec.idnos().len(), named);
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}

// ---------------------------------------------------------------------------
// Shards

proptest! {
    #![proptest_config(config())]

    /// `--shard i/N`, `JOB_COMPLETION_INDEX` and `SCRAPE_SHARDS` as any text:
    /// a shard within the limits, or an error.
    #[test]
    fn shard_coordinates_from_any_text(
        written in prop_oneof![any::<String>(), "[ 0-9]{0,4}/[ 0-9+-]{0,4}"],
        index in prop::option::of(prop_oneof![any::<String>(), "[ 0-9+-]{0,12}"]),
        count in prop::option::of(prop_oneof![any::<String>(), "[ 0-9+-]{0,12}"]),
    ) {
        for shard in [
            written.parse::<Shard>(),
            Shard::from_env_values(index.as_deref(), count.as_deref()),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(shard.count() >= 1 && shard.count() <= SHARDS_MAX);
            prop_assert!(shard.index() < shard.count());
            prop_assert_eq!(shard.to_string().parse::<Shard>(), Ok(shard));
        }
    }

    /// Every IDNO and every list page belongs to exactly one shard of a run.
    #[test]
    fn every_target_belongs_to_exactly_one_shard(
        count in 1u32..=SHARDS_MAX,
        idno in "[0-9]{13}",
        from in 1u32..1_000_000,
        offset in 0u32..10_000,
    ) {
        let idno = Idno::parse(&idno).expect("13 digits");
        let shards: Vec<Shard> = (0..count)
            .map(|i| Shard::new(i, count).expect("index below count"))
            .collect();
        prop_assert_eq!(shards.iter().filter(|s| s.owns_idno(&idno)).count(), 1);
        let page = from + offset;
        prop_assert_eq!(shards.iter().filter(|s| s.owns_page(from, page)).count(), 1);
        if from > 1 {
            prop_assert_eq!(shards.iter().filter(|s| s.owns_page(from, from - 1)).count(), 0);
        }
    }
}

#[test]
fn separators_only_some_engines_call_spaces_get_the_crd_verdict() {
    for s in [
        "0\x0b3 * * *",
        "0 3 * * *\x0b",
        "\u{a0}0 3 * * *",
        "0\u{a0}3 * * *",
        "0\u{2003}3 * * *",
        "0\u{85}3 * * *",
        "0\r3\n*\x0c*\t*",
    ] {
        let accepted = spec_with_schedule(s).validate().is_ok();
        assert_eq!(accepted, crd_accepts(s) && parse_cron(s).is_ok(), "{s:?}");
    }
}
