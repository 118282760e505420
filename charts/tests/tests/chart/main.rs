//! The Helm chart (charts/gleaner), rendered with every value set it ships: each object is
//! the Kubernetes type it claims to be with no field Kubernetes would drop, each pod meets
//! the `restricted` Pod Security Standard with resources, probes and pinned images, secrets
//! only come from Secrets, the NetworkPolicies allow exactly Gleaner's flows, the operator
//! gets the plain manifests' RBAC, and the dashboards and alerts use the metrics that exist.
//!
//! Needs `helm` (`scripts/install-tools.sh`); without it the rendering tests are skipped,
//! unless `GLEANER_REQUIRE_HELM=1` (what `make chart` sets) makes that a failure.

mod monitoring;
mod network;
mod operator;
mod pods;
mod rendering;
mod services;
