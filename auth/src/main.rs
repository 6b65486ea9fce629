//! `warren-auth`: the auth service as a process of its own.

use clap::Parser;
use warren_runtime::{AuthSettings, Backends, ServiceSettings, logging, refuse, run_service};

/// Warren's auth service: registration, login, refresh and logout.
#[derive(Debug, Parser)]
#[command(name = "warren-auth", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    service: ServiceSettings,
    #[command(flatten)]
    auth: AuthSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    args.auth.check().unwrap_or_else(|e| refuse(&e));
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let secret =
        warren_runtime::jwt_secret(&args.auth.jwt, &args.backends).unwrap_or_else(|e| refuse(&e));
    let config = warren_auth::AuthConfig::from_settings(secret, &args.auth);
    run_service(
        env!("CARGO_BIN_NAME"),
        &args.backends,
        &args.service,
        |bus, storage, background| async move {
            warren_auth::start(&bus, warren_auth::store(&storage), config, background).await
        },
    )
    .await?;
    Ok(())
}
