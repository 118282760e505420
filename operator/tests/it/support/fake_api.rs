//! The test kit's loopback fake Kubernetes API server, holding the one ScrapeJob the
//! controller and binary tests reconcile.

use std::net::SocketAddr;

use gleaner_operator::controller::FINALIZER;
use gleaner_operator::crd::{PageRange, ScrapeJob, ScrapeJobSpec, Targets};
pub use gleaner_testkit::FakeKubeApi as Fake;

/// The one ScrapeJob the fake lists.
pub fn scrapejob(namespace: &str) -> ScrapeJob {
    let mut sj = ScrapeJob::new(
        "loopback",
        ScrapeJobSpec::with_targets(Targets {
            idnos: Some(vec!["1003600012345".into()]),
            list_pages: Some(PageRange { from: 1, to: 1 }),
        }),
    );
    sj.metadata.namespace = Some(namespace.into());
    sj.metadata.uid = Some("2b0c5a4e-aaaa-4bbb-8ccc-000000000001".into());
    sj.metadata.resource_version = Some("10".into());
    sj.metadata.generation = Some(1);
    sj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    sj
}

/// Starts the fake on 127.0.0.1:0 holding `scrapejob(namespace)`.
pub async fn start(namespace: &str) -> (SocketAddr, Fake) {
    let (addr, fake) = Fake::start(namespace)
        .await
        .expect("the fake API server starts");
    fake.insert_scrapejob(
        serde_json::to_value(scrapejob(namespace)).expect("a ScrapeJob serializes"),
    );
    (addr, fake)
}
