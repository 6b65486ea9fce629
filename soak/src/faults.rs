//! The faults the soak injects, one every `--fault-every`, in turn: the broker cuts every
//! connection of the soak's vhost (on the cluster: one node is killed, and started again after a
//! few seconds); Redis restarts (down for a second, its append-only file keeping what it
//! acknowledged; on the cluster: a master is killed, its replica takes over, and it comes back as
//! a replica); Redis drops every client connection; every player drops its socket at once and
//! comes back. The shared broker is never stopped: other work may be using it.

use crate::backends::Backends;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

const KINDS: [&str; 4] = [
    "broker connections cut",
    "Redis restarted",
    "Redis connections dropped",
    "every player reconnected at once",
];

/// One fault injected: what, when it began, and how long injecting it took (a node lost: until
/// it was back).
#[derive(Debug, Clone)]
pub struct Injected {
    pub kind: &'static str,
    pub at: Instant,
    pub took: Duration,
}

/// Injects faults until `until`; returns each, in order.
pub async fn inject(
    backends: Arc<Mutex<Backends>>,
    every: Duration,
    until: Instant,
    bursts: watch::Sender<u64>,
) -> Vec<Injected> {
    let mut injected = Vec::new();
    let mut next = Instant::now() + every;
    let mut turn = 0;
    while next < until {
        tokio::time::sleep_until(next).await;
        let kind = KINDS[turn % KINDS.len()];
        turn += 1;
        tracing::info!(fault = kind, "injecting");
        let at = Instant::now();
        let result = match kind {
            "every player reconnected at once" => {
                bursts.send_modify(|n| *n += 1);
                Ok(())
            }
            _ => {
                let backends = Arc::clone(&backends);
                tokio::task::spawn_blocking(move || fault(&backends, kind))
                    .await
                    .unwrap_or_else(|e| Err(anyhow::anyhow!(e)))
            }
        };
        let on_cluster = warren_bus::lock(&backends).on_cluster();
        let kind = match kind {
            _ if !on_cluster => kind,
            "broker connections cut" => "a RabbitMQ node killed",
            "Redis restarted" => "a Redis master failed over",
            _ => kind,
        };
        match result {
            Ok(()) => injected.push(Injected {
                kind,
                at,
                took: at.elapsed(),
            }),
            Err(error) => tracing::error!(%error, fault = kind, "could not inject"),
        }
        next += every;
    }
    injected
}

/// How long a killed cluster node stays down.
const NODE_DOWN: Duration = Duration::from_secs(5);

fn fault(backends: &Mutex<Backends>, kind: &str) -> anyhow::Result<()> {
    let mut backends = warren_bus::lock(backends);
    match kind {
        "broker connections cut" if backends.on_cluster() => backends.kill_a_node(NODE_DOWN),
        "broker connections cut" => backends.cut_broker_connections(),
        "Redis restarted" if backends.on_cluster() => backends.fail_over_a_master(),
        "Redis restarted" => {
            backends.stop_redis()?;
            std::thread::sleep(Duration::from_secs(1));
            backends.start_redis()
        }
        _ => backends.drop_redis_connections(),
    }
}
