//! `warren`: the all-in-one binary. Embedded with no addresses; over RabbitMQ and Redis with them.

use anyhow::Context;
use clap::Parser;
use warren_runtime::{
    AuthSettings, Backends, GatewaySettings, MatchmakerSettings, PrivateRoomsSettings,
    SessionsSettings, logging, shutdown,
};

/// Warren, a game-lobby backend: the gateway and every service in one process.
///
/// With no --amqp-url and --redis-url it runs embedded: in-process bus, state in memory,
/// nothing to install.
#[derive(Debug, Parser)]
#[command(name = "warren", version)]
struct Args {
    #[command(flatten)]
    backends: Backends,
    #[command(flatten)]
    gateway: GatewaySettings,
    #[command(flatten)]
    auth: AuthSettings,
    #[command(flatten)]
    sessions: SessionsSettings,
    #[command(flatten)]
    private_rooms: PrivateRoomsSettings,
    #[command(flatten)]
    matchmaker: MatchmakerSettings,
}

// mimalloc rather than the system allocator: less CPU per relayed command, less memory per idle
// socket, and the memory argon2id hashes use (19 MiB each) goes back instead of staying in
// glibc's arenas (200 registrations left the process at 1.1 GB resident instead of 0.1 GB).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _telemetry = logging::init(&args.backends, env!("CARGO_BIN_NAME"))?;
    let jwt_secret =
        warren_runtime::jwt_secret(&args.auth.jwt, &args.backends).map_err(anyhow::Error::msg)?;
    let options = warren::Options {
        amqp_url: args.backends.amqp_url.clone(),
        redis_url: args.backends.redis_url.clone(),
        redis_namespace: args.backends.redis_namespace.clone(),
        gateway: warren_gateway::GatewayConfig::from_settings(&args.gateway, jwt_secret.clone()),
        auth: warren_auth::AuthConfig::from_settings(jwt_secret, &args.auth),
        grace_period: args.sessions.grace_period,
        private_rooms: (&args.private_rooms).into(),
        matchmaker: (&args.matchmaker).into(),
        resume: args.backends.resume(),
        without: Vec::new(),
    };
    let listener = warren_runtime::listen(args.gateway.listen)
        .with_context(|| format!("cannot listen on {}", args.gateway.listen))?;
    let shutdown = shutdown::on_signal();
    let gateway_user = args.backends.amqp_gateway_user.clone();
    let system = warren::start_with_gateway_user(options, gateway_user, listener, shutdown).await?;
    let mode = match (&args.backends.amqp_url, &args.backends.redis_url) {
        (None, None) => "embedded: in-process bus, state in memory".to_owned(),
        (amqp, redis) => format!(
            "bus: {}, state: {}",
            if amqp.is_some() {
                "RabbitMQ"
            } else {
                "in process"
            },
            if redis.is_some() {
                "Redis"
            } else {
                "in memory"
            }
        ),
    };
    let url = format!("http://{}", system.address);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        %url,
        traces = args.backends.traces(),
        "warren is up ({mode})"
    );
    println!(
        "Warren {} is listening on {url} ({mode}).",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "  register:  curl -s -X POST {url}/v1/auth/register -H 'content-type: application/json' -d '{{\"username\":\"ada\",\"password\":\"correct horse\"}}'"
    );
    println!(
        "  log in:    curl -s -X POST {url}/v1/auth/login -H 'content-type: application/json' -d '{{\"username\":\"ada\",\"password\":\"correct horse\"}}'"
    );
    println!(
        "  connect:   websocat 'ws://{}/ws?token=<access_token>'",
        system.address
    );
    println!("  then send: {{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"accounts.me\"}}");
    system.wait().await?;
    Ok(())
}
