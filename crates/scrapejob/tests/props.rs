//! Property tests for what a ScrapeJob carries in from outside: cron schedules (and
//! which occurrence is due, across clock changes and long outages; which runs history keeps),
//! whole specs as JSON, shard coordinates from a pod's environment or the
//! command line. Never a panic, and the verdicts agree
//! with the CRD's schema as the Kubernetes API server applies it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use gleaner_scrapejob::history::{FinishedRun, runs_to_prune};
use gleaner_scrapejob::limits::{SCHEDULE_MAX_LEN, SCHEDULE_MIN_LEN, SHARDS_MAX};
use gleaner_scrapejob::schedule::{Schedule, parse_cron};
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
// Due occurrences and history: what every backend that runs jobs decides

/// A cron expression from fields every position takes (so most are valid).
fn arb_cron() -> impl Strategy<Value = String> {
    let field = |max: u32| {
        prop_oneof![
            3 => Just("*".to_owned()),
            2 => (0..=max).prop_map(|n| n.to_string()),
            1 => (1..=max.min(30)).prop_map(|n| format!("*/{n}")),
            1 => (0..=max / 2, max / 2..=max).prop_map(|(a, b)| format!("{a}-{b}")),
        ]
    };
    (field(59), field(23), field(31), field(12), field(7))
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

/// A time in seconds since the epoch, between 2000 and 2100.
fn utc(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("a time between 2000 and 2100")
}

/// 2000-01-01 and 2100-01-01 in seconds since the epoch.
const Y2000: i64 = 946_684_800;
const Y2100: i64 = 4_102_444_800;

/// When Europe changes its clocks in `year` and `month` (3 or 10): 01:00 UTC on the last
/// Sunday of the month.
fn european_dst_change(year: i32, month: u32) -> DateTime<Utc> {
    let last_sunday = (25..=31)
        .rev()
        .filter_map(|day| NaiveDate::from_ymd_opt(year, month, day))
        .find(|d| d.weekday() == Weekday::Sun)
        .expect("a month of 31 days has a last Sunday");
    Utc.from_utc_datetime(&last_sunday.and_hms_opt(1, 0, 0).expect("01:00"))
}

/// The latest `hour:minute` UTC at or before `now`, worked out by hand.
fn latest_daily(hour: u32, minute: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let today =
        Utc.from_utc_datetime(&now.date_naive().and_hms_opt(hour, minute, 0).expect("time"));
    if today <= now {
        today
    } else {
        today - Duration::days(1)
    }
}

/// The latest minute of a Sunday at or before `now`, worked out by hand.
fn latest_sunday_minute(now: DateTime<Utc>) -> DateTime<Utc> {
    let minute = now
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .expect("minute");
    let back = i64::from(now.weekday().num_days_from_sunday());
    if back == 0 {
        return minute;
    }
    let sunday = now.date_naive() - Duration::days(back);
    Utc.from_utc_datetime(&sunday.and_hms_opt(23, 59, 0).expect("23:59"))
}

/// The latest 29th of February, midnight UTC, at or before `now`, worked out by hand.
fn latest_leap_day(now: DateTime<Utc>) -> DateTime<Utc> {
    (0..=8)
        .map(|back| now.year() - back)
        .filter_map(|year| NaiveDate::from_ymd_opt(year, 2, 29))
        .map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight")))
        .find(|t| *t <= now)
        .expect("a leap day within eight years")
}

/// Runs as history pruning sees them: some without a finish time, many sharing one.
fn arb_runs() -> impl Strategy<Value = Vec<FinishedRun<u32>>> {
    prop::collection::vec(
        (
            any::<bool>(),
            prop::option::weighted(0.9, 0i64..20),
            0i64..5,
        ),
        0..24,
    )
    .prop_map(|runs| {
        runs.into_iter()
            .zip(0u32..)
            .map(|((succeeded, finished, created), id)| FinishedRun {
                id,
                succeeded,
                finished_at: finished.map(|m| utc(Y2000 + m * 60)),
                created_at: Some(utc(Y2000 + created * 60)),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(config())]

    /// For any schedule the spec check accepts and any window (up to years of downtime),
    /// the due occurrence lies in the window and no later occurrence does; the next one is
    /// after now.
    #[test]
    fn the_due_occurrence_is_the_latest_in_the_window(
        cron in arb_cron(),
        since in Y2000..Y2100,
        gap in prop_oneof![0i64..7_200, 0i64..400_000_000],
    ) {
        let Ok(schedule) = Schedule::parse(&cron) else {
            return Ok(());
        };
        let (since, now) = (utc(since), utc(since) + Duration::seconds(gap));
        if let Some(due) = schedule.due(since, now) {
            prop_assert!(since < due && due <= now, "{} outside ({}, {}]", due, since, now);
            let after = schedule.next_after(due);
            prop_assert!(after.is_none_or(|t| t > now), "{:?} is later and due too", after);
        } else if let Some(first) = schedule.next_after(since) {
            prop_assert!(first > now, "{} was due", first);
        }
        if let Some(next) = schedule.next_after(now) {
            prop_assert!(next > now);
        }
    }

    /// Schedules are UTC: a daily schedule down across a European clock change (spring or
    /// autumn, any year, any time of day) is due at exactly its latest UTC occurrence, and
    /// its occurrences stay 24 hours apart over the change.
    #[test]
    fn an_outage_across_a_clock_change_gives_the_latest_utc_occurrence(
        year in 2000i32..2100,
        autumn in any::<bool>(),
        (hour, minute) in (0u32..24, 0u32..60),
        before in 1i64..72 * 60,
        after in 1i64..72 * 60,
    ) {
        let change = european_dst_change(year, if autumn { 10 } else { 3 });
        let since = change - Duration::minutes(before);
        let now = change + Duration::minutes(after);
        let schedule = Schedule::parse(&format!("{minute} {hour} * * *")).expect("a daily schedule");
        let expected = Some(latest_daily(hour, minute, now)).filter(|t| *t > since);
        let due = schedule.due(since, now);
        prop_assert_eq!(due, expected);
        let last = latest_daily(hour, minute, now);
        prop_assert_eq!(schedule.next_after(last), Some(last + Duration::days(1)));
        prop_assert_eq!(schedule.next_after(last - Duration::days(1)), Some(last));
    }

    /// Sparse schedules down for years (every minute on Sundays; the 29th of February,
    /// which 2100 skips) are due at their latest occurrence, never an older one.
    #[test]
    fn a_sparse_schedule_down_for_years_gives_its_latest_occurrence(
        now in Y2000 + 366 * 86_400..Y2100 + 5 * 366 * 86_400,
        years in 0i64..20,
        seconds in 0i64..86_400 * 366,
    ) {
        let now = DateTime::from_timestamp(now, 0).expect("a time before 2106");
        let since = now - Duration::days(365 * years) - Duration::seconds(seconds);
        let sundays = Schedule::parse("* * * * 0").expect("cron");
        let expected = Some(latest_sunday_minute(now)).filter(|t| *t > since);
        prop_assert_eq!(sundays.due(since, now), expected);
        let leap_day = Schedule::parse("0 0 29 2 *").expect("cron");
        let expected = Some(latest_leap_day(now)).filter(|t| *t > since);
        prop_assert_eq!(leap_day.due(since, now), expected);
    }

    /// History pruning keeps the newest finished runs of each kind, up to the limits,
    /// prunes only finished runs, and answers the same whatever order the runs come in.
    #[test]
    fn history_keeps_the_newest_finished_runs_whatever_their_order(
        runs in arb_runs(),
        successful_limit in 0u32..6,
        failed_limit in 0u32..6,
    ) {
        let pruned = runs_to_prune(&runs, successful_limit, failed_limit);
        let mut reversed = runs.clone();
        reversed.reverse();
        prop_assert_eq!(&runs_to_prune(&reversed, successful_limit, failed_limit), &pruned);
        let newest = |r: &FinishedRun<u32>| (r.finished_at, r.created_at, r.id);
        for (succeeded, limit) in [(true, successful_limit), (false, failed_limit)] {
            let finished: Vec<&FinishedRun<u32>> = runs
                .iter()
                .filter(|r| r.succeeded == succeeded && r.finished_at.is_some())
                .collect();
            let (gone, kept): (Vec<&FinishedRun<u32>>, Vec<&FinishedRun<u32>>) =
                finished.into_iter().partition(|r| pruned.contains(&r.id));
            prop_assert_eq!(kept.len(), (gone.len() + kept.len()).min(limit as usize));
            for (g, k) in gone.iter().flat_map(|g| kept.iter().map(move |k| (g, k))) {
                prop_assert!(newest(g) < newest(k), "pruned {:?} is newer than kept {:?}", g, k);
            }
        }
        for run in runs.iter().filter(|r| r.finished_at.is_none()) {
            prop_assert!(!pruned.contains(&run.id), "{:?} has not finished", run);
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
