//! `warren-matchmaker`: the matchmaker as a process of its own.

use clap::Parser;
use std::sync::Arc;
use warren_bus::ServeOptions;
use warren_matchmaker::{MatchmakerConfig, MemoryStore, RedisStore, TicketStore};
use warren_runtime::{
    Backends, MatchmakerSettings, ServiceSettings, Started, logging, run_service,
};

/// Warren's matchmaker: players search with parameters and are matched by rating into game
/// sessions.
#[derive(Debug, Parser)]
#[command(name = "warren-matchmaker", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    service: ServiceSettings,
    #[command(flatten)]
    matchmaker: MatchmakerSettings,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    warren_runtime::logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let config = MatchmakerConfig::from(&args.matchmaker);
    let prefix = format!(
        "{}{}",
        args.backends.redis_namespace,
        warren_matchmaker::REDIS_PREFIX
    );
    run_service(
        "warren-matchmaker",
        &args.backends,
        &args.service,
        |bus, redis, background| async move {
            let store: Arc<dyn TicketStore> = match redis {
                Some(redis) => Arc::new(RedisStore::new(redis, prefix)),
                None => Arc::new(MemoryStore::new()),
            };
            // The matching loop, the sweeper and the presence consumer stop after the server, at
            // the signal: a match under way is finished first.
            let loops = warren_matchmaker::serve_background(
                &bus,
                Arc::clone(&store),
                config.clone(),
                background,
            )
            .await?;
            let server =
                warren_matchmaker::serve(&bus, store, config, ServeOptions::default()).await?;
            Ok(Started {
                server,
                background: vec![loops],
            })
        },
    )
    .await?;
    Ok(())
}
