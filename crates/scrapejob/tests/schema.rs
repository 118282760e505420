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

mod agreement {
    use gleaner_scrapejob::limits::{IDNO_PATTERN, SOURCE_URL_PATTERN, URL_MAX_LEN};
    use gleaner_scrapejob::{Idno, SourceUrl};
    use proptest::prelude::*;
    use serde_json::json;

    fn url_like() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec![
            "http://", "https://", "HTTP://", "ftp://", "http:/", "",
        ]);
        let host = "[a-zA-Z0-9._:@\\[\\]-]{0,12}";
        let port = prop::option::of("(:[0-9]{0,6})?");
        // Half of them well-formed paths, so both verdicts are common.
        let rest = prop_oneof![
            Just(String::new()),
            "/[a-z0-9/._%-]{0,10}",
            "[a-z0-9/?#@:\\\\ %._-]{0,12}",
        ];
        (scheme, host, port, rest)
            .prop_map(|(s, h, p, r)| format!("{s}{h}{}{r}", p.unwrap_or_default()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// What `validate` accepts, the CRD's pattern accepts; of what the pattern accepts,
        /// `validate` refuses only a URL whose host the URL standard (the HTTP client's
        /// parser) does not read as written: no host at all, or another one (`http://1` is
        /// 0.0.0.1). The operator refuses those with a reason.
        #[test]
        fn source_url_parser_is_the_schema_pattern(url in url_like()) {
            let pattern =
                jsonschema::validator_for(&json!({"type": "string", "pattern": SOURCE_URL_PATTERN}))
                    .unwrap();
            let by_schema = url.len() <= URL_MAX_LEN && pattern.is_valid(&json!(url));
            let parsed = SourceUrl::parse(&url).is_ok();
            if parsed {
                prop_assert!(by_schema, "{:?}", url);
            } else if by_schema {
                let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
                let written = match rest.split_once(']') {
                    Some((v6, _)) if rest.starts_with('[') => format!("{v6}]"),
                    _ => rest.split([':', '/']).next().unwrap_or_default().to_owned(),
                };
                let read = url::Url::parse(&url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned));
                prop_assert_ne!(read.map(|h| h.to_ascii_lowercase()), Some(written.to_ascii_lowercase()), "{:?}", url);
            }
        }

        #[test]
        fn idno_parser_is_the_schema_pattern(s in "[0-9a ]{0,15}") {
            let pattern =
                jsonschema::validator_for(&json!({"type": "string", "pattern": IDNO_PATTERN}))
                    .unwrap();
            prop_assert_eq!(Idno::parse(&s).is_ok(), pattern.is_valid(&json!(s)), "{:?}", s);
        }
    }
}
