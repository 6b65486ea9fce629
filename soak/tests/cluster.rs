//! The soak on the local clusters (`scripts/cluster up`): a dozen players for a minute on three
//! RabbitMQ nodes and a Redis Cluster while the faults go round, among them a RabbitMQ node killed
//! and started again and a Redis master killed so that its replica takes over; every invariant
//! must hold and work must have been done. It needs the cluster, so it is ignored in the normal run;
//! the test command starts the cluster, runs it, and removes the cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local cluster: scripts/test starts it and runs this alone"]
async fn a_short_soak_on_clusters_losing_nodes_holds_every_invariant() {
    let soak = warren_soak::run(warren_soak::SoakConfig {
        players: 12,
        duration: Duration::from_secs(60),
        fault_every: Duration::from_secs(10),
        cluster: true,
    });
    // A minute of play, the last fault's node coming back, and the checks take under two minutes;
    // something waiting forever is a failure to report, not a CI run to stall.
    let report = tokio::time::timeout(Duration::from_secs(300), soak)
        .await
        .expect("the soak did not finish within 5 minutes")
        .expect("the soak must run (scripts/cluster up first)");
    println!("{report}");
    assert!(report.held(), "{report}");
    assert!(report.games_finished > 0, "no game finished:\n{report}");
    for lost in ["a RabbitMQ node killed", "a Redis master failed over"] {
        let injected = report.faults.get(lost).copied().unwrap_or(0);
        assert!(injected >= 1, "no {lost}:\n{report}");
    }
}
