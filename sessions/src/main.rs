//! `warren-sessions`: the sessions service as a process of its own.

use clap::Parser;
use std::sync::Arc;
use warren_bus::ServeOptions;
use warren_runtime::connect::redis_journal;
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
async fn main() -> std::process::ExitCode {
    warren_runtime::logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let grace = args.sessions.grace_period;
    let prefix = format!(
        "{}{}",
        args.backends.redis_namespace,
        warren_sessions::REDIS_PREFIX
    );
    let (namespace, resume) = (
        args.backends.redis_namespace.clone(),
        args.backends.resume(),
    );
    run_service(
        "warren-sessions",
        &args.backends,
        &args.service,
        |bus, redis, background| async move {
            let store: Arc<dyn SessionStore> = match redis {
                Some(redis) => {
                    let journal = redis_journal(&redis, &namespace, resume);
                    Arc::new(RedisStore::new(redis, prefix).numbering_in(journal))
                }
                None => Arc::new(MemoryStore::new()),
            };
            let gauge = warren_sessions::report_running(Arc::clone(&store), background.clone());
            // The shared queue stops first, at the signal; then the background hands the
            // sessions over and stops the instance's own queue.
            let sessions = warren_sessions::start(
                &bus,
                store,
                Games::builtin(),
                grace,
                ServeOptions::default(),
                background,
            )
            .await?;
            Ok(Started {
                server: sessions.server,
                background: vec![sessions.background, gauge],
            })
        },
    )
    .await?;
    Ok(())
}
