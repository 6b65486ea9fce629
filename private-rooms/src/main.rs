//! `warren-private-rooms`: the private-rooms service as a process of its own.

use clap::Parser;
use warren_runtime::{Backends, PrivateRoomsSettings, ServiceSettings, logging, run_service};

/// Warren's private-rooms service: rooms reached by invitation or an invite code.
#[derive(Debug, Parser)]
#[command(name = "warren-private-rooms", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    service: ServiceSettings,
    #[command(flatten)]
    private_rooms: PrivateRoomsSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let config = warren_private_rooms::PrivateRoomsConfig::from(&args.private_rooms);
    run_service(
        env!("CARGO_BIN_NAME"),
        &args.backends,
        &args.service,
        |bus, storage, background| async move {
            warren_private_rooms::start(
                &bus,
                warren_private_rooms::store(&storage),
                config,
                background,
            )
            .await
        },
    )
    .await?;
    Ok(())
}
