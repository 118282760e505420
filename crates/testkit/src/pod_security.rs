//! The `restricted` Pod Security Standard as a check on a pod spec, for the tests of every
//! manifest that runs a pod: the operator's plain manifests and the Jobs it creates, and
//! the Helm chart's objects; and RBAC rules flattened so that two grants compare.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::api::rbac::v1::PolicyRule;

/// Everything the `restricted` Pod Security Standard asks of `pod` that it does not do, one
/// line per violation (empty when the pod is admitted).
pub fn restricted_violations(pod: &PodSpec) -> Vec<String> {
    let mut v = Vec::new();
    let psc = pod.security_context.clone().unwrap_or_default();
    if pod.host_network == Some(true) || pod.host_pid == Some(true) || pod.host_ipc == Some(true) {
        v.push("host namespaces".to_owned());
    }
    for vol in pod.volumes.iter().flatten() {
        if vol.host_path.is_some() {
            v.push(format!("hostPath volume {}", vol.name));
        }
    }
    for c in pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
    {
        let sc = c.security_context.clone().unwrap_or_default();
        if sc.privileged == Some(true) {
            v.push(format!("{}: privileged", c.name));
        }
        if sc.allow_privilege_escalation != Some(false) {
            v.push(format!(
                "{}: allowPrivilegeEscalation must be false",
                c.name
            ));
        }
        let drops = sc
            .capabilities
            .as_ref()
            .and_then(|c| c.drop.clone())
            .unwrap_or_default();
        if !drops.iter().any(|d| d == "ALL") {
            v.push(format!("{}: capabilities must drop ALL", c.name));
        }
        let adds = sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.clone())
            .unwrap_or_default();
        if adds.iter().any(|a| a != "NET_BIND_SERVICE") {
            v.push(format!("{}: adds capabilities", c.name));
        }
        if sc.run_as_non_root.or(psc.run_as_non_root) != Some(true) {
            v.push(format!("{}: runAsNonRoot", c.name));
        }
        if sc.run_as_user.or(psc.run_as_user) == Some(0) {
            v.push(format!("{}: runs as root", c.name));
        }
        let seccomp = sc
            .seccomp_profile
            .as_ref()
            .or(psc.seccomp_profile.as_ref())
            .map(|s| s.type_.clone());
        if !matches!(seccomp.as_deref(), Some("RuntimeDefault" | "Localhost")) {
            v.push(format!("{}: seccompProfile", c.name));
        }
        for p in c.ports.iter().flatten() {
            if p.host_port.is_some() {
                v.push(format!("{}: hostPort", c.name));
            }
        }
    }
    v
}

/// Each rule as `group/resource[names]:verb`, one entry per combination, so that the
/// grants of two Roles compare as sets.
pub fn rbac_rules(rules: &[PolicyRule]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in rules {
        for g in r.api_groups.iter().flatten() {
            for res in r.resources.iter().flatten() {
                for verb in &r.verbs {
                    let names = r.resource_names.clone().unwrap_or_default().join(",");
                    out.insert(format!("{g}/{res}[{names}]:{verb}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        Capabilities, Container, PodSecurityContext, SeccompProfile, SecurityContext,
    };

    use super::*;

    fn restricted_container() -> Container {
        Container {
            name: "app".into(),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    ..Capabilities::default()
                }),
                ..SecurityContext::default()
            }),
            ..Container::default()
        }
    }

    fn restricted_pod() -> PodSpec {
        PodSpec {
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![restricted_container()],
            ..PodSpec::default()
        }
    }

    #[test]
    fn a_restricted_pod_has_no_violations() {
        assert_eq!(
            restricted_violations(&restricted_pod()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_missing_setting_is_named() {
        let mut pod = restricted_pod();
        pod.security_context = None;
        pod.host_network = Some(true);
        let mut init = restricted_container();
        init.name = "init".into();
        init.security_context = None;
        pod.init_containers = Some(vec![init]);
        assert_eq!(
            restricted_violations(&pod),
            [
                "host namespaces",
                "app: runAsNonRoot",
                "app: seccompProfile",
                "init: allowPrivilegeEscalation must be false",
                "init: capabilities must drop ALL",
                "init: runAsNonRoot",
                "init: seccompProfile",
            ]
        );
    }
}
