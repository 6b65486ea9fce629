//! The soak on the local RabbitMQ cluster (`scripts/cluster up`): a dozen players for 40 s while
//! the faults go round, the broker's being a node killed and started again; every invariant must
//! hold and work must have been done. It needs the cluster, so it is ignored in the normal run;
//! the test command starts the cluster, runs it, and removes the cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local cluster: scripts/test starts it and runs this alone"]
async fn a_short_soak_on_a_cluster_losing_nodes_holds_every_invariant() {
    let report = warren_soak::run(warren_soak::SoakConfig {
        players: 12,
        duration: Duration::from_secs(40),
        fault_every: Duration::from_secs(8),
        cluster: true,
    })
    .await
    .expect("the soak must run (scripts/cluster up first)");
    println!("{report}");
    assert!(report.held(), "{report}");
    assert!(report.games_finished > 0, "no game finished:\n{report}");
    assert!(
        report
            .faults
            .get("a RabbitMQ node killed")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{report}"
    );
}
