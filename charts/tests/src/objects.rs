//! Rendered objects: finding them, reading them as their Kubernetes types, and the strict
//! check that no field is one Kubernetes would drop.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PodSpec, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `Kind/name` of a rendered object.
pub fn name_of(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// The object of `kind` named `name`, if rendered.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

/// The object of `kind` named `name`; panics when it is not rendered.
pub fn get<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    find(docs, kind, name).unwrap_or_else(|| panic!("no {kind}/{name}"))
}

/// A rendered object as its Kubernetes type; panics when it is not one.
pub fn typed<T: DeserializeOwned>(doc: &Value) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", name_of(doc)))
}

/// Paths present in `original` but missing from `round_trip`: fields the typed
/// deserialisation dropped, i.e. fields Kubernetes does not know.
fn dropped_fields(original: &Value, round_trip: &Value, path: &str, out: &mut Vec<String>) {
    match (original, round_trip) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let here = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => dropped_fields(v, w, &here, out),
                    None if v.is_null() => {}
                    None => out.push(here),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                dropped_fields(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Deserialises `doc` as `T` and serialises it back; every field must survive.
fn strictly<T: DeserializeOwned + serde::Serialize>(doc: &Value) -> Vec<String> {
    let value: T = typed(doc);
    let back = serde_json::to_value(&value).unwrap_or_else(|e| panic!("{}: {e}", name_of(doc)));
    let mut out = Vec::new();
    dropped_fields(doc, &back, "", &mut out);
    out.into_iter()
        .map(|p| format!("{}: unknown field {p}", name_of(doc)))
        .collect()
}

/// Every problem with one rendered object's schema.
pub fn schema_problems(doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let api = doc["apiVersion"].as_str().unwrap_or_default();
    match (api, kind) {
        ("apps/v1", "Deployment") => strictly::<Deployment>(doc),
        ("apps/v1", "StatefulSet") => strictly::<StatefulSet>(doc),
        ("batch/v1", "Job") => strictly::<Job>(doc),
        ("v1", "Service") => strictly::<Service>(doc),
        ("v1", "ConfigMap") => strictly::<ConfigMap>(doc),
        ("v1", "Secret") => strictly::<Secret>(doc),
        ("v1", "ServiceAccount") => strictly::<ServiceAccount>(doc),
        ("v1", "Namespace") => strictly::<Namespace>(doc),
        ("networking.k8s.io/v1", "NetworkPolicy") => strictly::<NetworkPolicy>(doc),
        ("networking.k8s.io/v1", "Ingress") => strictly::<Ingress>(doc),
        ("policy/v1", "PodDisruptionBudget") => strictly::<PodDisruptionBudget>(doc),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => strictly::<HorizontalPodAutoscaler>(doc),
        ("rbac.authorization.k8s.io/v1", "Role") => strictly::<Role>(doc),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => strictly::<RoleBinding>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => strictly::<ClusterRole>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            strictly::<ClusterRoleBinding>(doc)
        }
        ("monitoring.coreos.com/v1", "ServiceMonitor") => {
            let endpoints = doc["spec"]["endpoints"].as_array();
            if doc["spec"]["selector"]["matchLabels"].is_object()
                && endpoints.is_some_and(|e| e.iter().all(|e| e["port"].is_string()))
            {
                vec![]
            } else {
                vec![format!(
                    "{}: selector and named endpoint ports",
                    name_of(doc)
                )]
            }
        }
        ("monitoring.coreos.com/v1", "PrometheusRule") => {
            if doc["spec"]["groups"]
                .as_array()
                .is_some_and(|g| !g.is_empty())
            {
                vec![]
            } else {
                vec![format!("{}: no rule groups", name_of(doc))]
            }
        }
        _ => vec![format!("{}: unexpected {api} {kind}", name_of(doc))],
    }
}

/// The pod spec of a workload, with whether its containers run for good (probes needed).
pub fn pod_of(doc: &Value) -> Option<(PodSpec, bool)> {
    match doc["kind"].as_str()? {
        "Deployment" => Some((typed::<Deployment>(doc).spec.template.spec?, true)),
        "StatefulSet" => Some((typed::<StatefulSet>(doc).spec.template.spec?, true)),
        "Job" => Some((typed::<Job>(doc).spec?.template.spec?, false)),
        _ => None,
    }
}

/// The environment of the first container of `deployment`: each name, with its plain value
/// (None when it comes from elsewhere, a Secret say).
pub fn env_of(docs: &[Value], deployment: &str) -> BTreeMap<String, Option<String>> {
    let d: Deployment = typed(get(docs, "Deployment", deployment));
    d.spec.template.spec.unwrap().containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}

/// `items` as a set of owned strings, to compare with a set built from rendered objects.
pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
