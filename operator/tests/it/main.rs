//! The operator's tests, one binary: reconciles, leader election and sharded runs against a
//! mock Kubernetes API; the controller and the binary against a loopback fake API server;
//! the CRD, the plain manifests, and trace propagation into the runs.

mod binary;
mod controller_loopback;
mod crd;
mod leader_election;
mod manifests;
mod reconcile;
mod shards;
mod support;
mod trace_propagation;
