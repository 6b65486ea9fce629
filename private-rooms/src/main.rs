//! `warren-private-rooms`: the private-rooms service as a process of its own.

use clap::Parser;
use std::sync::Arc;
use warren_bus::ServeOptions;
use warren_private_rooms::{MemoryStore, PrivateRoomStore, PrivateRoomsConfig, RedisStore};
use warren_runtime::{
    Backends, PrivateRoomsSettings, ServiceSettings, Started, logging, run_service,
};

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
    warren_runtime::logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let config = PrivateRoomsConfig::from(&args.private_rooms);
    let prefix = format!(
        "{}{}",
        args.backends.redis_namespace,
        warren_private_rooms::REDIS_PREFIX
    );
    run_service(
        "warren-private-rooms",
        &args.backends,
        &args.service,
        |bus, redis, background| async move {
            let store: Arc<dyn PrivateRoomStore> = match redis {
                Some(redis) => Arc::new(RedisStore::new(redis, prefix)),
                None => Arc::new(MemoryStore::new()),
            };
            // The sweeper and the completer stop after the server, at the signal.
            let expiry = warren_private_rooms::serve_expiry(
                &bus,
                Arc::clone(&store),
                config.clone(),
                background.clone(),
            );
            let starts = warren_private_rooms::serve_starts(
                &bus,
                Arc::clone(&store),
                config.clone(),
                background,
            );
            let server =
                warren_private_rooms::serve(&bus, store, config, ServeOptions::default()).await?;
            Ok(Started {
                server,
                background: vec![expiry, starts],
            })
        },
    )
    .await?;
    Ok(())
}
