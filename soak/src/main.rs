//! `warren-soak`: the soak test from the command line. Prints the report; exits 1 if an
//! invariant was violated.

use clap::Parser;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Many simulated players through matchmaking, whole games and reconnects while the broker and
/// Redis fail under them; then the invariants. Needs RabbitMQ at 127.0.0.1:5672 (guest/guest,
/// with rabbitmqctl) and redis-server; makes its own vhost and Redis.
#[derive(Debug, Parser)]
#[command(name = "warren-soak", version)]
struct Args {
    /// Simulated players.
    #[arg(long, default_value_t = 40)]
    players: usize,
    /// How long the players play (the checks come after).
    #[arg(long, default_value = "3m", value_parser = warren_runtime::parse_duration)]
    duration: Duration,
    /// How often a fault is injected.
    #[arg(long, default_value = "20s", value_parser = warren_runtime::parse_duration)]
    fault_every: Duration,
    /// Run on the local clusters (`scripts/cluster up` first): the systems get the three RabbitMQ
    /// nodes and the Redis Cluster; the broker's fault is a node killed and started again, Redis's
    /// a master killed until its replica has taken over.
    #[arg(long)]
    cluster: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let report = warren_soak::run(warren_soak::SoakConfig {
        players: args.players,
        duration: args.duration,
        fault_every: args.fault_every,
        cluster: args.cluster,
    })
    .await?;
    print!("{report}");
    if !report.held() {
        std::process::exit(1);
    }
    Ok(())
}
