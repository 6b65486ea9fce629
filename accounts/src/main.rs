//! `warren-accounts`: the accounts service as a process of its own.

use clap::Parser;
use std::sync::Arc;
use warren_accounts::{AccountStore, MemoryStore, RedisStore};
use warren_bus::ServeOptions;
use warren_runtime::{Backends, ServiceSettings, Started, logging, run_service};

/// Warren's accounts service: profiles, ratings, games played and won.
#[derive(Debug, Parser)]
#[command(name = "warren-accounts", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    service: ServiceSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    warren_runtime::logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let prefix = format!(
        "{}{}",
        args.backends.redis_namespace,
        warren_accounts::REDIS_PREFIX
    );
    run_service(
        "warren-accounts",
        &args.backends,
        &args.service,
        |bus, redis, background| async move {
            let store: Arc<dyn AccountStore> = match redis {
                Some(redis) => Arc::new(RedisStore::new(redis, prefix)),
                None => Arc::new(MemoryStore::new()),
            };
            // At the signal the results consumer finishes the result it holds, then stops.
            let results =
                warren_accounts::serve_results(&bus, Arc::clone(&store), background).await?;
            let server = warren_accounts::serve(&bus, store, ServeOptions::default()).await?;
            Ok(Started {
                server,
                background: vec![results],
            })
        },
    )
    .await?;
    Ok(())
}
