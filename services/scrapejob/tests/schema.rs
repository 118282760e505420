//! The schema generated from the spec carries the limits as the constants define them.

use gleaner_scrapejob::ScrapeJobSpec;
use gleaner_scrapejob::limits::*;
use serde_json::{Value, json};

fn spec_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(ScrapeJobSpec)).unwrap()
}

fn def<'a>(schema: &'a Value, name: &str) -> &'a Value {
    &schema["$defs"][name]
}

#[test]
fn schema_numbers_are_the_constants() {
    let s = spec_schema();
    let p = &s["properties"];
    let range = |field: &str| (p[field]["minimum"].clone(), p[field]["maximum"].clone());
    assert_eq!(
        range("concurrency"),
        (json!(CONCURRENCY_MIN), json!(CONCURRENCY_MAX))
    );
    assert_eq!(range("maxRetries"), (json!(0), json!(MAX_RETRIES_MAX)));
    assert_eq!(
        range("timeoutSeconds"),
        (json!(TIMEOUT_SECONDS_MIN), json!(TIMEOUT_SECONDS_MAX))
    );
    assert_eq!(range("shards"), (json!(SHARDS_MIN), json!(SHARDS_MAX)));
    for f in ["successfulRunsHistoryLimit", "failedRunsHistoryLimit"] {
        assert_eq!(range(f), (json!(0), json!(HISTORY_LIMIT_MAX)));
    }
    assert_eq!(
        p["requestsPerSecond"]["maximum"],
        json!(REQUESTS_PER_SECOND_MAX)
    );
    assert_eq!(p["requestsPerSecond"]["minimum"], json!(0));
    assert_eq!(p["requestsPerSecond"]["exclusiveMinimum"], json!(true));
    for f in ["baseUrl", "apiUrl"] {
        assert_eq!(p[f]["maxLength"], json!(URL_MAX_LEN));
        assert_eq!(p[f]["pattern"], json!(SOURCE_URL_PATTERN));
    }
    assert_eq!(p["schedule"]["pattern"], json!(SCHEDULE_PATTERN));
    assert_eq!(p["schedule"]["minLength"], json!(SCHEDULE_MIN_LEN));
    assert_eq!(p["schedule"]["maxLength"], json!(SCHEDULE_MAX_LEN));

    let targets = def(&s, "Targets");
    let idnos = &targets["properties"]["idnos"];
    assert_eq!(idnos["maxItems"], json!(IDNOS_MAX));
    assert_eq!(idnos["minItems"], json!(1));
    assert_eq!(idnos["items"]["pattern"], json!(IDNO_PATTERN));

    let pages = def(&s, "PageRange");
    for f in ["from", "to"] {
        assert_eq!(pages["properties"][f]["minimum"], json!(PAGE_MIN));
        assert_eq!(pages["properties"][f]["maximum"], json!(PAGE_MAX));
    }
    let rules: Vec<&str> = pages["x-kubernetes-validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "self.from <= self.to".to_owned(),
            format!("self.to - self.from < {LIST_PAGES_SPAN_MAX}")
        ]
    );
}

#[test]
fn url_pattern_and_parser_agree() {
    let re = regex_lite(SOURCE_URL_PATTERN);
    for case in gleaner_scrapejob::testing::edge_specs() {
        let Some(url) = case.spec.get("baseUrl").and_then(Value::as_str) else {
            continue;
        };
        let parsed = gleaner_scrapejob::SourceUrl::parse(url).is_ok();
        let matched = url.len() <= URL_MAX_LEN && re.is_valid(&json!(url));
        assert_eq!(parsed, matched, "{url:?}");
        assert_eq!(parsed, case.valid, "{url:?}");
    }
}

fn regex_lite(pattern: &str) -> jsonschema::Validator {
    jsonschema::validator_for(&json!({"type": "string", "pattern": pattern})).unwrap()
}
