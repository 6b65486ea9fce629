//! `warren-rooms`: the rooms service as a process of its own.

use clap::Parser;
use warren_runtime::{Backends, RoomsSettings, ServiceSettings, logging, run_service};

/// Warren's rooms service: public rooms, listed, joined and started.
#[derive(Debug, Parser)]
#[command(name = "warren-rooms", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    service: ServiceSettings,
    #[command(flatten)]
    rooms: RoomsSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let config = warren_rooms::RoomsConfig::from(&args.rooms);
    run_service(
        env!("CARGO_BIN_NAME"),
        &args.backends,
        &args.service,
        |bus, storage, background| async move {
            warren_rooms::start(&bus, warren_rooms::store(&storage), config, background).await
        },
    )
    .await?;
    Ok(())
}
