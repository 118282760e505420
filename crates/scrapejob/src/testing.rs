//! The edge-spec corpus: specs at and just past every limit, each with the verdict every
//! reader of a spec must give (the CRD schema and CEL rules, the operator, `scraper run`
//! and the scraper's run API). Their tests iterate this one list.

use serde_json::{Value, json};

use crate::limits::*;

/// One spec and the verdict it must get.
#[derive(Debug, Clone)]
pub struct EdgeSpec {
    /// What the case is about.
    pub name: String,
    /// The `spec` object, as JSON.
    pub spec: Value,
    /// Whether it must be accepted.
    pub valid: bool,
    /// When the OpenAPI schema and CEL rules, checked client-side, cannot see the problem:
    /// why, and who refuses it instead. `None` for every case they must judge alike.
    pub schema_blind: Option<&'static str>,
}

/// A spec that is valid as it is: one IDNO, every other field defaulted.
pub fn base_spec() -> Value {
    json!({"targets": {"idnos": ["1003600012345"]}})
}

fn case(name: impl Into<String>, spec: Value, valid: bool) -> EdgeSpec {
    EdgeSpec {
        name: name.into(),
        spec,
        valid,
        schema_blind: None,
    }
}

fn with(field: &str, value: Value) -> Value {
    let mut spec = base_spec();
    spec[field] = value;
    spec
}

fn targets(value: Value) -> Value {
    json!({ "targets": value })
}

fn pages(from: u32, to: u32) -> Value {
    targets(json!({"listPages": {"from": from, "to": to}}))
}

fn idnos(n: usize) -> Value {
    let list: Vec<String> = (0..n)
        .map(|i| format!("{:013}", 1_000_000_000_000u64 + i as u64))
        .collect();
    targets(json!({ "idnos": list }))
}

/// Every edge case, with its verdict.
pub fn edge_specs() -> Vec<EdgeSpec> {
    let mut cases = vec![case("defaults", base_spec(), true)];

    // Integer fields: at each limit, and one past it.
    let ranges: [(&str, u32, u32); 6] = [
        ("concurrency", CONCURRENCY_MIN, CONCURRENCY_MAX),
        ("maxRetries", 0, MAX_RETRIES_MAX),
        ("timeoutSeconds", TIMEOUT_SECONDS_MIN, TIMEOUT_SECONDS_MAX),
        ("successfulRunsHistoryLimit", 0, HISTORY_LIMIT_MAX),
        ("failedRunsHistoryLimit", 0, HISTORY_LIMIT_MAX),
        ("shards", SHARDS_MIN, SHARDS_MAX),
    ];
    for (field, min, max) in ranges {
        cases.push(case(
            format!("{field} at its minimum"),
            with(field, json!(min)),
            true,
        ));
        cases.push(case(
            format!("{field} at its maximum"),
            with(field, json!(max)),
            true,
        ));
        cases.push(case(
            format!("{field} past its maximum"),
            with(field, json!(max + 1)),
            false,
        ));
        let below = i64::from(min) - 1;
        cases.push(case(
            format!("{field} below its minimum"),
            with(field, json!(below)),
            false,
        ));
    }

    // requestsPerSecond: (0, max].
    for (rps, valid) in [
        (json!(0), false),
        (json!(-1.5), false),
        (json!(0.001), true),
        (json!(1), true),
        (json!(REQUESTS_PER_SECOND_MAX), true),
        (json!(REQUESTS_PER_SECOND_MAX + 0.5), false),
        (json!(1000), false),
        (json!(100_000), false),
    ] {
        cases.push(case(
            format!("requestsPerSecond {rps}"),
            with("requestsPerSecond", rps),
            valid,
        ));
    }

    // Targets.
    cases.push(case("no targets", targets(json!({})), false));
    cases.push(case("empty idnos", targets(json!({"idnos": []})), false));
    cases.push(case(
        "empty idnos beside list pages",
        targets(json!({"idnos": [], "listPages": {"from": 1, "to": 1}})),
        false,
    ));
    cases.push(case(
        "idnos and list pages",
        targets(json!({"idnos": ["1003600012345"], "listPages": {"from": 1, "to": 2}})),
        true,
    ));
    for bad in [
        "12345",
        "100360001234a",
        "10036000123456",
        " 1003600012345",
        "",
    ] {
        cases.push(case(
            format!("IDNO {bad:?}"),
            targets(json!({"idnos": [bad]})),
            false,
        ));
    }
    cases.push(case(
        "a bad IDNO among good ones",
        targets(json!({"idnos": ["1003600012345", "100360001234"]})),
        false,
    ));
    cases.push(EdgeSpec {
        schema_blind: Some(
            "x-kubernetes-list-type: set; the API server refuses duplicates, a client-side schema check cannot",
        ),
        ..case(
            "an IDNO listed twice",
            targets(json!({"idnos": ["1003600012345", "1003600012345"]})),
            false,
        )
    });
    cases.push(case(format!("{IDNOS_MAX} IDNOs"), idnos(IDNOS_MAX), true));
    cases.push(case(
        format!("{} IDNOs", IDNOS_MAX + 1),
        idnos(IDNOS_MAX + 1),
        false,
    ));

    let span = LIST_PAGES_SPAN_MAX;
    for (from, to, valid) in [
        (1, 1, true),
        (0, 1, false),
        (1, 0, false),
        (5, 2, false),
        (1, span, true),
        (1, span + 1, false),
        (PAGE_MAX - span + 1, PAGE_MAX, true),
        (PAGE_MAX - span + 1, PAGE_MAX + 1, false),
        (PAGE_MAX, PAGE_MAX, true),
        (PAGE_MAX + 1, PAGE_MAX + 1, false),
        (1, PAGE_MAX, false),
    ] {
        cases.push(case(
            format!("listPages {from}..={to}"),
            pages(from, to),
            valid,
        ));
    }
    cases.push(case(
        "listPages without to",
        targets(json!({"listPages": {"from": 1}})),
        false,
    ));

    // Source URLs.
    for (url, valid) in [
        ("https://openmoney.md", true),
        ("https://api.openmoney.md/", true),
        ("http://127.0.0.1:8090", true),
        ("http://localhost:8090/base/", true),
        ("http://[::1]:8443/x", true),
        ("http://demo_site:1", true),
        ("http://host:65535", true),
        ("http://host:65536", false),
        ("http://host:0", false),
        ("http://host:", false),
        ("https://user:secret@openmoney.md", false),
        ("https://openmoney.md@169.254.169.254", false),
        ("https://openmoney.md/?page=1", false),
        ("https://openmoney.md?x", false),
        ("https://openmoney.md#", false),
        ("https://openmoney.md/a#frag", false),
        ("https://openmoney.md\\@evil", false),
        ("ftp://openmoney.md", false),
        ("https://", false),
        ("https:///path", false),
        ("https://open money.md", false),
        ("openmoney.md", false),
        ("", false),
    ] {
        cases.push(case(
            format!("baseUrl {url:?}"),
            with("baseUrl", json!(url)),
            valid,
        ));
        cases.push(case(
            format!("apiUrl {url:?}"),
            with("apiUrl", json!(url)),
            valid,
        ));
    }
    let at_max = format!(
        "https://a.md/{}",
        "x".repeat(URL_MAX_LEN - "https://a.md/".len())
    );
    cases.push(case(
        "baseUrl at the length limit",
        with("baseUrl", json!(at_max)),
        true,
    ));
    cases.push(case(
        "baseUrl past the length limit",
        with("baseUrl", json!(format!("{at_max}x"))),
        false,
    ));

    // Schedules.
    for (schedule, valid) in [
        ("0 3 * * *", true),
        ("*/15 * * * 1-5", true),
        ("* * * * *", true),
        ("daily", false),
        ("0 3 * *", false),
        ("0 0 3 * * *", false),
        ("", false),
    ] {
        cases.push(case(
            format!("schedule {schedule:?}"),
            with("schedule", json!(schedule)),
            valid,
        ));
    }
    #[cfg(feature = "cron")]
    for schedule in ["99 3 * * *", "0 0 31 2 *", "a b c d e"] {
        cases.push(EdgeSpec {
            schema_blind: Some("cron syntax: the schema checks five fields, the operator and the scraper parse them"),
            ..case(format!("schedule {schedule:?}"), with("schedule", json!(schedule)), false)
        });
    }

    // Enumerations and types.
    cases.push(case(
        "source openmoney",
        with("source", json!("openmoney")),
        true,
    ));
    cases.push(case(
        "source elsewhere",
        with("source", json!("elsewhere")),
        false,
    ));
    cases.push(case(
        "concurrencyPolicy Replace",
        with("concurrencyPolicy", json!("Replace")),
        true,
    ));
    cases.push(case(
        "concurrencyPolicy Allow",
        with("concurrencyPolicy", json!("Allow")),
        false,
    ));
    cases.push(case(
        "suspend as a string",
        with("suspend", json!("yes")),
        false,
    ));
    cases.push(case(
        "concurrency as a string",
        with("concurrency", json!("4")),
        false,
    ));
    cases.push(case(
        "a spec without targets",
        json!({"schedule": "0 3 * * *"}),
        false,
    ));
    cases
}

/// The directory of the sample ScrapeJobs (`k8s/examples/` of the repository).
pub fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/examples")
}

/// Every sample ScrapeJob under `k8s/examples/` (the `spec` of each), all of them valid.
/// Panics when the directory cannot be read: it is meant for tests.
pub fn example_specs() -> Vec<EdgeSpec> {
    let dir = examples_dir();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let doc: Value = serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
            case(path.display().to_string(), doc["spec"].clone(), true)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScrapeJobSpec;

    #[test]
    fn validate_gives_every_verdict() {
        let examples = example_specs();
        assert!(examples.len() >= 4, "{examples:?}");
        for case in edge_specs().into_iter().chain(examples) {
            let verdict = serde_json::from_value::<ScrapeJobSpec>(case.spec.clone())
                .map_err(|e| e.to_string())
                .and_then(|s| s.validate().map_err(|e| e.to_string()));
            assert_eq!(verdict.is_ok(), case.valid, "{}: {verdict:?}", case.name);
        }
    }
}
