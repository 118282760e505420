//! Pods: each meets the `restricted` Pod Security Standard with resources, probes and
//! pinned images, and no secret is ever a plain value.

use gleaner_chart_tests::{
    VALUE_SETS, chart_dir, find, get, have_helm, name_of, pod_of, render, typed,
};
use gleaner_testkit::pod_security::restricted_violations;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Container;
use serde_json::Value;

/// Settings that carry credentials: never a plain value.
fn is_secret_setting(name: &str) -> bool {
    matches!(
        name,
        "DATABASE_URL" | "REDIS_URL" | "REDISCLI_AUTH" | "JWT_SIGNING_KEY"
    ) || name.contains("PASSWORD")
}

/// Everything wrong with one container beyond Pod Security: resources, probes, image,
/// secrets in plain values.
fn container_problems(owner: &str, c: &Container, long_running: bool) -> Vec<String> {
    let mut v = Vec::new();
    let who = format!("{owner}/{}", c.name);
    let res = c.resources.clone().unwrap_or_default();
    for (what, map) in [("requests", res.requests), ("limits", res.limits)] {
        let map = map.unwrap_or_default();
        for key in ["cpu", "memory"] {
            if !map.contains_key(key) {
                v.push(format!("{who}: no {key} {what}"));
            }
        }
    }
    if long_running && (c.readiness_probe.is_none() || c.liveness_probe.is_none()) {
        v.push(format!("{who}: readiness and liveness probes"));
    }
    let image = c.image.clone().unwrap_or_default();
    let tag = image
        .rsplit_once('/')
        .map_or(image.as_str(), |(_, last)| last)
        .split_once(':')
        .map(|(_, tag)| tag);
    if !matches!(tag, Some(t) if !t.is_empty() && t != "latest") && !image.contains("@sha256:") {
        v.push(format!("{who}: image {image:?} has no pinned tag"));
    }
    let sc = c.security_context.clone().unwrap_or_default();
    if sc.read_only_root_filesystem != Some(true) {
        v.push(format!("{who}: readOnlyRootFilesystem"));
    }
    for e in c.env.iter().flatten() {
        if is_secret_setting(&e.name) && e.value.is_some() {
            v.push(format!(
                "{who}: {} is a plain value, not from a Secret",
                e.name
            ));
        }
    }
    v
}

#[test]
fn every_pod_is_restricted_with_resources_probes_and_pinned_images() {
    if !have_helm() {
        return;
    }
    for values in VALUE_SETS {
        let docs = render(values, &[]);
        let mut problems = Vec::new();
        let mut pods = 0;
        for doc in &docs {
            let Some((pod, long_running)) = pod_of(doc) else {
                continue;
            };
            pods += 1;
            let owner = name_of(doc);
            problems.extend(
                restricted_violations(&pod)
                    .into_iter()
                    .map(|p| format!("{owner}: {p}")),
            );
            for c in &pod.containers {
                problems.extend(container_problems(&owner, c, long_running));
            }
            for c in pod.init_containers.iter().flatten() {
                problems.extend(container_problems(&owner, c, false));
            }
            // Every writable path is an emptyDir or a volume claim, never the image.
            for c in pod
                .containers
                .iter()
                .chain(pod.init_containers.iter().flatten())
            {
                for m in c.volume_mounts.iter().flatten() {
                    let vol = pod.volumes.iter().flatten().find(|v| v.name == m.name);
                    let claim = doc["spec"]["volumeClaimTemplates"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t["metadata"]["name"] == m.name));
                    assert!(vol.is_some() || claim, "{owner}: mount {}", m.name);
                }
            }
        }
        assert!(pods >= 5, "{values:?}: {pods} pods");
        assert_eq!(problems, Vec::<String>::new(), "{values:?}");
    }
}

#[test]
fn no_secret_is_a_value() {
    if !have_helm() {
        return;
    }
    // No value set holds a password or key: they name Secrets instead.
    for values in VALUE_SETS {
        let file = chart_dir().join(values.unwrap_or("values.yaml"));
        let text = std::fs::read_to_string(&file).unwrap();
        let tree: Value = serde_yaml::from_str(&text).unwrap();
        let mut stack = vec![("".to_owned(), &tree)];
        while let Some((path, v)) = stack.pop() {
            if let Value::Object(map) = v {
                for (k, v) in map {
                    let lower = k.to_lowercase();
                    if lower.contains("password") || lower.contains("privatekey") {
                        panic!("{values:?}: {path}.{k} looks like a secret value");
                    }
                    stack.push((format!("{path}.{k}"), v));
                }
            }
        }
    }
    // The signing key is generated in the cluster, without the development marker, and
    // identity reads it from the Secret.
    let docs = render(None, &[]);
    let job: Job = typed(get(&docs, "Job", "gleaner-keygen"));
    let pod = job.spec.unwrap().template.spec.unwrap();
    let keygen = &pod.init_containers.unwrap()[0];
    assert_eq!(
        keygen.args.clone().unwrap(),
        ["keygen", "--production", "--out", "/keys/signing.pem"]
    );
    let store = &pod.containers[0];
    assert!(
        store
            .args
            .iter()
            .flatten()
            .any(|a| a == "gleaner-jwt-signing-key")
    );
    let hooks = &get(&docs, "Job", "gleaner-keygen")["metadata"]["annotations"]["helm.sh/hook"];
    assert_eq!(hooks, "pre-install,pre-upgrade");
    let identity: Deployment = typed(get(&docs, "Deployment", "gleaner-identity"));
    let pod = identity.spec.template.spec.unwrap();
    let secret = pod
        .volumes
        .unwrap()
        .into_iter()
        .find_map(|v| v.secret)
        .unwrap();
    assert_eq!(
        secret.secret_name.as_deref(),
        Some("gleaner-jwt-signing-key")
    );
    // With a Secret of one's own, no hook.
    let docs = render(None, &["--set", "jwt.signingKey.existingSecret=my-key"]);
    assert!(find(&docs, "Job", "gleaner-keygen").is_none());
}
