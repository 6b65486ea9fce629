//! `warren-rooms`: the rooms service as a process of its own.

use clap::Parser;
use std::sync::Arc;
use warren_bus::ServeOptions;
use warren_rooms::{MemoryStore, RedisStore, RoomStore};
use warren_runtime::{Backends, ServiceSettings, Started, logging, run_service};

/// Warren's rooms service: public rooms, listed, joined and started.
#[derive(Debug, Parser)]
#[command(name = "warren-rooms", version)]
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
        warren_rooms::REDIS_PREFIX
    );
    run_service(
        "warren-rooms",
        &args.backends,
        &args.service,
        |bus, redis, background| async move {
            let store: Arc<dyn RoomStore> = match redis {
                Some(redis) => Arc::new(RedisStore::new(redis, prefix)),
                None => Arc::new(MemoryStore::new()),
            };
            let metrics =
                warren_rooms::report_metrics(&bus, Arc::clone(&store), background.clone());
            // The completer stops after the server, at the signal, finishing what it holds.
            let starts = warren_rooms::serve_starts(&bus, Arc::clone(&store), background);
            let server = warren_rooms::serve(&bus, store, ServeOptions::default()).await?;
            Ok(Started {
                server,
                background: vec![metrics, starts],
            })
        },
    )
    .await?;
    Ok(())
}
