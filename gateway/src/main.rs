//! `warren-gateway`: the gateway alone, in front of services running as their own processes.

use anyhow::Context;
use clap::Parser;
use warren_gateway::{AppState, GatewayConfig};
use warren_runtime::{Backends, GatewaySettings, JwtSettings, logging, shutdown};

/// Warren's gateway: HTTP /v1 and the WebSocket /ws in front of the services on the bus.
#[derive(Debug, Parser)]
#[command(name = "warren-gateway", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    gateway: GatewaySettings,
    #[command(flatten)]
    jwt: JwtSettings,
}

// The same allocator as the all-in-one `warren`, for the same reasons: less CPU per event
// delivered and less memory per idle socket than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    warren_runtime::logging::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = warren_runtime::parse_or_exit::<Args>();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let secret = warren_runtime::jwt_secret(&args.jwt, &args.backends)
        .unwrap_or_else(|e| warren_runtime::refuse(&e));
    let config = GatewayConfig::from_settings(&args.gateway, &args.jwt, secret);
    config
        .check_tls()
        .unwrap_or_else(|e| warren_runtime::refuse(&e));
    warren_runtime::metrics::handle();
    let (bus, redis) = warren_runtime::connect(&args.backends, "warren-gateway").await?;
    let mut probes = Vec::new();
    if let Some(redis) = redis {
        probes.push(("redis", warren_gateway::redis_probe(redis)));
    }
    let listener = warren_runtime::listen(args.gateway.listen)
        .with_context(|| format!("cannot listen on {}", args.gateway.listen))?;
    let admin_listen = args.gateway.edge.admin_listen;
    let admin = warren_runtime::listen(admin_listen).with_context(|| {
        format!("cannot listen on {admin_listen} (--admin-listen, WARREN_ADMIN_LISTEN)")
    })?;
    let (broker, redis) = args.backends.describe();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %args.gateway.listen,
        broker,
        redis,
        traces = args.backends.traces(),
        "warren-gateway starting"
    );
    let shutdown = shutdown::on_signal();
    let state = AppState::with_probes(bus.clone(), config, shutdown, probes);
    warren_gateway::serve_with_admin(listener, Some(admin), state).await?;
    bus.shutdown().await;
    Ok(())
}
