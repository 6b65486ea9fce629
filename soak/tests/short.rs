//! The soak, short, as CI runs it: a dozen players for 20 s with a fault every 4 s (each kind at
//! least once), then every invariant must hold and work must have been done.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_holds_every_invariant() {
    let report = warren_soak::run(warren_soak::SoakConfig {
        players: 12,
        duration: Duration::from_secs(20),
        fault_every: Duration::from_secs(4),
        cluster: false,
    })
    .await
    .expect("the soak must run (RabbitMQ and redis-server must be available)");
    println!("{report}");
    assert!(report.held(), "{report}");
    assert!(report.games_finished > 0, "no game finished:\n{report}");
    assert!(report.reconnects > 0 && report.resumes > 0, "{report}");
    assert_eq!(report.faults.values().sum::<u64>(), 4, "{report}");
}
