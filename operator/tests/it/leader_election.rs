//! Leader election on a Lease against the mock API: a missing Lease is created, a held one
//! waited for, an expired one taken over with an optimistic lock.

use gleaner_operator::leader::{LeaderElector, LeaseConfig};
use http::{Method, Request, Response};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::{Api, Client};
use serde_json::json;
use tower_test::mock;

use crate::support::mock_api::{ApiHandle, NS, expect, scenario, verify};

fn lease_api() -> (Api<Lease>, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    (Api::namespaced(client, NS), handle)
}

fn lease_uri() -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/gleaner-operator")
}

#[tokio::test]
async fn leader_election_creates_a_missing_lease() {
    let (api, handle) = lease_api();
    let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "NotFound", "code": 404, "message": "not found"});
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, lease_uri()).reply(404, not_found),
            expect(
                Method::POST,
                format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases?"),
            )
            .body(|lease| {
                assert_eq!(lease["metadata"]["name"], "gleaner-operator");
                assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
                assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
                assert!(lease["spec"]["renewTime"].is_string());
            })
            .reply(201, json!("echo")),
        ],
    );
    let elector = LeaderElector::new(api, LeaseConfig::new("gleaner-operator", "replica-a"));
    assert!(elector.try_acquire_or_renew().await.unwrap());
    verify(s).await;
}

#[tokio::test]
async fn leader_election_waits_for_a_held_lease_and_takes_an_expired_one() {
    let (api, handle) = lease_api();
    let held = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "gleaner-operator", "namespace": NS, "resourceVersion": "5"},
        "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 15,
                 "renewTime": Timestamp::now().to_string(), "leaseTransitions": 1}});
    let expired = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "gleaner-operator", "namespace": NS, "resourceVersion": "6"},
        "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 15,
                 "renewTime": "2020-01-01T00:00:00.000000Z", "leaseTransitions": 1}});
    let s = scenario(
        handle,
        vec![
            expect(Method::GET, lease_uri()).reply(200, held),
            expect(Method::GET, lease_uri()).reply(200, expired),
            expect(Method::PUT, format!("{}?", lease_uri()))
                .body(|lease| {
                    assert_eq!(lease["metadata"]["resourceVersion"], "6", "optimistic lock");
                    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
                    assert_eq!(lease["spec"]["leaseTransitions"], 2);
                })
                .reply(200, json!("echo")),
        ],
    );
    let elector = LeaderElector::new(api, LeaseConfig::new("gleaner-operator", "replica-a"));
    assert!(
        !elector.try_acquire_or_renew().await.unwrap(),
        "held by replica-b"
    );
    assert!(
        elector.try_acquire_or_renew().await.unwrap(),
        "expired: taken over"
    );
    verify(s).await;
}
