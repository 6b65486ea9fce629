//! `warren-accounts`: the accounts service as a process of its own.

use clap::Parser;
use warren_runtime::{AccountsSettings, Backends, ServiceSettings, logging, run_service};

/// Warren's accounts service: profiles, ratings, games played and won.
#[derive(Debug, Parser)]
#[command(name = "warren-accounts", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    service: ServiceSettings,
    #[command(flatten)]
    accounts: AccountsSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let config = warren_accounts::AccountsConfig::from(&args.accounts);
    run_service(
        env!("CARGO_BIN_NAME"),
        &args.backends,
        &args.service,
        |bus, storage, background| async move {
            warren_accounts::start(&bus, warren_accounts::store(&storage), config, background).await
        },
    )
    .await?;
    Ok(())
}
