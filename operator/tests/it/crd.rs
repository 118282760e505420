//! The committed CRD matches `crdgen`, and its schema (plus the CEL rules' intent) accepts
//! every sample in k8s/examples and rejects broken ones.

use std::path::{Path, PathBuf};

use gleaner_operator::crd::{ScrapeJob, crd_yaml, scrapejob_crd};
use gleaner_operator::validation::validate;
use kube::Resource;
use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn scrapejob_api_version_is_the_contract() {
    assert_eq!(ScrapeJob::api_version(&()), "gleaner.dev/v1alpha1");
    assert_eq!(ScrapeJob::kind(&()), "ScrapeJob");
}

#[test]
fn committed_crd_matches_crdgen() {
    let generated = crd_yaml().unwrap();
    for rel in [
        "k8s/crd/scrapejob.yaml",
        "charts/gleaner/crds/scrapejob.yaml",
    ] {
        let path = repo_root().join(rel);
        if std::env::var_os("GLEANER_UPDATE_CRD").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert!(
            committed == generated,
            "{rel} differs from `crdgen` output; regenerate with \
             `cargo run -p gleaner-operator --bin crdgen > {rel}` \
             (or run this test with GLEANER_UPDATE_CRD=1)"
        );
    }
}

fn schema() -> Value {
    let crd = scrapejob_crd();
    let version = &crd.spec.versions[0];
    serde_json::to_value(
        version
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

struct Verdict {
    schema_ok: bool,
    schema_errors: Vec<String>,
    cel_ok: bool,
    cel_errors: Vec<String>,
    rules_ok: bool,
    rule_errors: Vec<String>,
}

/// What an API server with this CRD would say: the OpenAPI schema, the CEL rules
/// (evaluated client-side by kube's CEL interpreter), and the rules' intent as the operator
/// checks it (the same function it uses for invalid specs).
fn judge(obj: &Value) -> Verdict {
    let schema = schema();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let schema_errors: Vec<String> = validator.iter_errors(obj).map(|e| e.to_string()).collect();
    let cel_errors: Vec<String> =
        match kube::core::cel::Validator::new().validate(&schema, obj, None) {
            Ok(()) => vec![],
            Err(errors) => errors
                .iter()
                .map(|e| format!("{e} [rule: {}]", e.rule))
                .collect(),
        };
    let (rules_ok, rule_errors) = match serde_json::from_value::<ScrapeJob>(obj.clone()) {
        Ok(sj) => {
            let name = sj.metadata.name.clone().unwrap_or_default();
            match validate(&name, &sj.spec) {
                Ok(_) => (true, vec![]),
                Err(e) => (false, e.problems),
            }
        }
        Err(e) => (false, vec![e.to_string()]),
    };
    Verdict {
        schema_ok: schema_errors.is_empty(),
        schema_errors,
        cel_ok: cel_errors.is_empty(),
        cel_errors,
        rules_ok,
        rule_errors,
    }
}

#[test]
fn every_example_is_accepted() {
    let dir = repo_root().join("k8s/examples");
    let (mut seen, mut sharded) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let obj: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            obj["apiVersion"],
            "gleaner.dev/v1alpha1",
            "{}",
            path.display()
        );
        assert_eq!(obj["kind"], "ScrapeJob");
        let v = judge(&obj);
        assert!(v.schema_ok, "{}: {:?}", path.display(), v.schema_errors);
        assert!(v.cel_ok, "{}: {:?}", path.display(), v.cel_errors);
        assert!(v.rules_ok, "{}: {:?}", path.display(), v.rule_errors);
        seen += 1;
        sharded += usize::from(obj["spec"]["shards"].as_u64().is_some_and(|n| n > 1));
    }
    assert!(
        seen >= 3,
        "expected one-off, scheduled and suspended examples"
    );
    assert!(sharded >= 1, "expected a sharded example");
}

fn base() -> Value {
    json!({
        "apiVersion": "gleaner.dev/v1alpha1",
        "kind": "ScrapeJob",
        "metadata": {"name": "sample"},
        "spec": {"targets": {"idnos": ["1003600012345"]}}
    })
}

fn with(path: &[&str], value: Value) -> Value {
    let mut obj = base();
    let mut cur = &mut obj;
    for key in &path[..path.len() - 1] {
        cur = cur.get_mut(*key).unwrap();
    }
    cur[path[path.len() - 1]] = value;
    obj
}

#[test]
fn minimal_spec_is_accepted() {
    let v = judge(&base());
    assert!(v.schema_ok && v.rules_ok);
    assert!(v.cel_ok, "{:?}", v.cel_errors);
}

#[test]
fn schema_rejects_out_of_range_and_malformed_fields() {
    let cases = [
        with(&["spec", "concurrency"], json!(0)),
        with(&["spec", "concurrency"], json!(65)),
        with(&["spec", "requestsPerSecond"], json!(0)),
        with(&["spec", "requestsPerSecond"], json!(-1.5)),
        with(&["spec", "maxRetries"], json!(11)),
        with(&["spec", "timeoutSeconds"], json!(5)),
        with(&["spec", "successfulRunsHistoryLimit"], json!(-1)),
        with(&["spec", "concurrencyPolicy"], json!("Allow")),
        with(&["spec", "source"], json!("elsewhere")),
        with(&["spec", "baseUrl"], json!("ftp://openmoney.md")),
        with(&["spec", "schedule"], json!("daily")),
        with(&["spec", "targets", "idnos"], json!(["12345"])),
        with(
            &["spec", "targets", "listPages"],
            json!({"from": 0, "to": 3}),
        ),
        with(&["spec", "targets", "listPages"], json!({"from": 1})),
        with(&["spec", "suspend"], json!("yes")),
        with(&["spec"], json!({"schedule": "0 3 * * *"})),
    ];
    for obj in cases {
        let v = judge(&obj);
        assert!(!v.schema_ok, "schema accepted {}", obj["spec"]);
        assert!(!v.rules_ok, "operator accepted {}", obj["spec"]);
    }
}

#[test]
fn cel_rules_reject_what_the_schema_cannot() {
    let crd = serde_json::to_string(&scrapejob_crd()).unwrap();
    // Each case: the rule in the CRD, and an object only that rule rejects.
    let cases = [
        (
            "self.from <= self.to",
            with(
                &["spec", "targets", "listPages"],
                json!({"from": 5, "to": 2}),
            ),
        ),
        (
            "(has(self.idnos) && size(self.idnos) > 0) || has(self.listPages)",
            with(&["spec", "targets"], json!({})),
        ),
        (
            "size(self.metadata.name) <= 63",
            with(&["metadata", "name"], json!("x".repeat(64))),
        ),
    ];
    for (rule, obj) in cases {
        assert!(
            crd.contains(&serde_json::to_string(rule).unwrap()),
            "{rule}"
        );
        let v = judge(&obj);
        assert!(v.schema_ok, "{rule}: {:?}", v.schema_errors);
        assert!(!v.cel_ok, "{rule}: CEL accepted {obj}");
        assert!(
            v.cel_errors.iter().any(|e| e.contains(rule)),
            "{rule}: {:?}",
            v.cel_errors
        );
        assert!(!v.rules_ok, "{rule}: the operator accepted {obj}");
    }
}

#[test]
fn operator_rejects_cron_the_schema_pattern_lets_through() {
    let obj = with(&["spec", "schedule"], json!("99 3 * * *"));
    let v = judge(&obj);
    assert!(v.schema_ok);
    assert!(v.cel_ok);
    assert!(!v.rules_ok);
    assert!(v.rule_errors[0].starts_with("spec.schedule"));
}

/// Every edge spec of the shared corpus gets its verdict from the schema with its CEL rules
/// and from the operator alike (the scraper's tests iterate the same list).
#[test]
fn edge_specs_get_the_same_verdict_from_schema_cel_and_operator() {
    let mut checked = 0;
    for case in gleaner_scrapejob::testing::edge_specs() {
        let obj = with(&["spec"], case.spec.clone());
        let v = judge(&obj);
        let name = &case.name;
        assert_eq!(
            v.rules_ok, case.valid,
            "{name}: operator {:?}",
            v.rule_errors
        );
        match case.schema_blind {
            None => assert_eq!(
                v.schema_ok && v.cel_ok,
                case.valid,
                "{name}: schema {:?}, CEL {:?}",
                v.schema_errors,
                v.cel_errors
            ),
            Some(why) => assert!(
                v.schema_ok && v.cel_ok && !case.valid,
                "{name} ({why}): schema {:?}, CEL {:?}",
                v.schema_errors,
                v.cel_errors
            ),
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} edge specs");
}
