//! `warren-matchmaker`: the matchmaker as a process of its own.

use clap::Parser;
use warren_runtime::{Backends, MatchmakerSettings, ServiceSettings, logging, run_service};

/// Warren's matchmaker: players search with parameters and are matched by rating into game
/// sessions.
#[derive(Debug, Parser)]
#[command(name = "warren-matchmaker", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    service: ServiceSettings,
    #[command(flatten)]
    matchmaker: MatchmakerSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let config = warren_matchmaker::MatchmakerConfig::from(&args.matchmaker);
    run_service(
        env!("CARGO_BIN_NAME"),
        &args.backends,
        &args.service,
        |bus, storage, background| async move {
            warren_matchmaker::start(&bus, warren_matchmaker::store(&storage), config, background)
                .await
        },
    )
    .await?;
    Ok(())
}
