//! `warren-sessions`: the sessions service as a process of its own.

use clap::Parser;
use std::sync::Arc;
use warren_bus::ServeOptions;
use warren_runtime::{Backends, ServiceSettings, SessionsSettings, Started, logging, run_service};
use warren_sessions::{Games, MemoryStore, RedisStore, SessionStore};

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
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let grace = args.sessions.grace_period;
    let prefix = format!(
        "{}{}",
        args.backends.redis_namespace,
        warren_sessions::REDIS_PREFIX
    );
    run_service(
        "warren-sessions",
        &args.backends,
        &args.service,
        |bus, redis, background| async move {
            let store: Arc<dyn SessionStore> = match redis {
                Some(redis) => Arc::new(RedisStore::new(redis, prefix)),
                None => Arc::new(MemoryStore::new()),
            };
            let gauge = warren_sessions::report_running(Arc::clone(&store), background.clone());
            // The grace period's consumer and sweeper stop after the server, at the signal.
            let presence = warren_sessions::serve_presence(
                &bus,
                Arc::clone(&store),
                Games::builtin(),
                grace,
                background,
            )
            .await?;
            let server =
                warren_sessions::serve(&bus, store, Games::builtin(), ServeOptions::default())
                    .await?;
            Ok(Started {
                server,
                background: vec![presence, gauge],
            })
        },
    )
    .await?;
    Ok(())
}
