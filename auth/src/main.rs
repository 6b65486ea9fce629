//! `warren-auth`: the auth service as a process of its own.

use clap::Parser;
use std::sync::Arc;
use warren_auth::{AuthConfig, AuthStore, MemoryStore, RedisStore};
use warren_runtime::{AuthSettings, Backends, ServiceSettings, logging, run_service};

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
    warren_runtime::logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    args.auth
        .check()
        .unwrap_or_else(|e| warren_runtime::refuse(&e));
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let jwt_secret = warren_runtime::jwt_secret(&args.auth.jwt, &args.backends)
        .unwrap_or_else(|e| warren_runtime::refuse(&e));
    let config = AuthConfig::from_settings(jwt_secret, &args.auth);
    let prefix = format!(
        "{}{}",
        args.backends.redis_namespace,
        warren_auth::REDIS_PREFIX
    );
    run_service(
        "warren-auth",
        &args.backends,
        &args.service,
        |bus, redis, _background| async move {
            let store: Arc<dyn AuthStore> = match redis {
                Some(redis) => Arc::new(RedisStore::new(redis, prefix)),
                None => Arc::new(MemoryStore::new()),
            };
            warren_auth::serve(&bus, store, config, warren_auth::serve_options()).await
        },
    )
    .await?;
    Ok(())
}
