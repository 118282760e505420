//! Rendering the chart with `helm`, and reading the repository's other YAML files.
//!
//! Needs `helm` (`scripts/install-tools.sh`): `$HELM`, else ~/.cache/gleaner/tools/bin/helm,
//! else `helm` on the PATH. Without it the tests that render are skipped, unless
//! `GLEANER_REQUIRE_HELM=1` (what `make chart` sets) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// The value sets shipped next to values.yaml (None: the defaults alone).
pub const VALUE_SETS: [Option<&str>; 5] = [
    None,
    Some("values-kind.yaml"),
    Some("values-external.yaml"),
    Some("values-monitoring.yaml"),
    Some("values-minimal.yaml"),
];

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The chart under test: charts/gleaner.
pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/gleaner")
}

/// The `helm` binary to run.
pub fn helm() -> PathBuf {
    if let Some(helm) = std::env::var_os("HELM") {
        return helm.into();
    }
    std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".cache/gleaner/tools/bin/helm"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "helm".into())
}

/// Whether helm runs here; panics when it does not and `GLEANER_REQUIRE_HELM=1`.
pub fn have_helm() -> bool {
    let ok = Command::new(helm())
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("GLEANER_REQUIRE_HELM").as_deref() != Ok("1"),
            "helm is required (scripts/install-tools.sh)"
        );
        eprintln!("helm not installed: chart not checked");
    }
    ok
}

/// `helm template gleaner` with a value set and extra arguments: Ok(objects) or Err(stderr).
pub fn try_render(values: Option<&str>, args: &[&str]) -> Result<Vec<Value>, String> {
    let chart = chart_dir();
    let mut cmd = Command::new(helm());
    cmd.args(["template", "gleaner"])
        .arg(&chart)
        .args(["--namespace", "gleaner"]);
    if let Some(file) = values {
        cmd.arg("-f").arg(chart.join(file));
    }
    let out = cmd.args(args).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).map_err(|e| e.to_string()))
        .filter(|v| !matches!(v, Ok(Value::Null)))
        .collect()
}

/// `helm template gleaner` with a value set and extra arguments; panics when helm refuses.
pub fn render(values: Option<&str>, args: &[&str]) -> Vec<Value> {
    try_render(values, args).unwrap_or_else(|e| panic!("helm template {values:?} {args:?}: {e}"))
}

/// A YAML file of the repository (`path` from its root), as JSON.
pub fn yaml_file(path: &str) -> Value {
    let path = repo_root().join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a multi-document YAML file of the repository (`path` from its root).
pub fn yaml_docs(path: &str) -> Vec<Value> {
    let path = repo_root().join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}
