//! `warren-sessions`: the sessions service as a process of its own.

use clap::Parser;
use warren_runtime::{Backends, ServiceSettings, SessionsSettings, logging, run_service};

/// Warren's sessions service: game sessions and the games they run.
#[derive(Debug, Parser)]
#[command(name = "warren-sessions", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    service: ServiceSettings,
    #[command(flatten)]
    sessions: SessionsSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let config = warren_sessions::SessionsConfig::from(&args.sessions);
    run_service(
        env!("CARGO_BIN_NAME"),
        &args.backends,
        &args.service,
        |bus, storage, background| async move {
            warren_sessions::start(&bus, warren_sessions::store(&storage), config, background).await
        },
    )
    .await?;
    Ok(())
}
