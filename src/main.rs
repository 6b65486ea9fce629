//! `warren`: the all-in-one binary. Embedded with no addresses; over RabbitMQ and Redis with them.

use anyhow::Context;
use clap::Parser;
use warren_runtime::{
    AccountsSettings, AuthSettings, Backends, GatewaySettings, LogFormat, MatchmakerSettings,
    PrivateRoomsSettings, RoomsSettings, SessionsSettings, logging, shutdown,
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
    accounts: AccountsSettings,
    #[command(flatten)]
    sessions: SessionsSettings,
    #[command(flatten)]
    rooms: RoomsSettings,
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
    let options = warren::Options {
        amqp_url: args.backends.amqp_url.clone(),
        gateway_user: args.backends.amqp_gateway_user.clone(),
        queue_type: args.backends.amqp_queue_type,
        redis_url: args.backends.redis_url.clone(),
        redis_namespace: args.backends.redis_namespace.clone(),
        resume: args.backends.resume(),
        gateway: warren_gateway::GatewayConfig::from_settings(
            &args.gateway,
            &args.auth.jwt,
            jwt_secret.clone(),
        ),
        auth: warren_auth::AuthConfig::from_settings(jwt_secret, &args.auth),
        accounts: (&args.accounts).into(),
        sessions: (&args.sessions).into(),
        rooms: (&args.rooms).into(),
        private_rooms: (&args.private_rooms).into(),
        matchmaker: (&args.matchmaker).into(),
        without: Vec::new(),
    };
    options
        .gateway
        .check_tls()
        .unwrap_or_else(|e| warren_runtime::refuse(&e));
    let listener = warren_runtime::listen(args.gateway.listen)
        .with_context(|| format!("cannot listen on {}", args.gateway.listen))?;
    let shutdown = shutdown::on_signal();
    let system = warren::start(options, listener, shutdown).await?;
    let (bus, state) = (
        if args.backends.amqp_url.is_some() {
            "RabbitMQ"
        } else {
            "in process"
        },
        if args.backends.redis_url.is_some() {
            "Redis"
        } else {
            "in memory"
        },
    );
    let (http, ws) = if args.gateway.edge.tls_cert.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let url = format!("{http}://{}", system.address);
    let websocket = format!("{ws}://{}/ws?token=<access_token>", system.address);
    let admin = system
        .admin_address
        .map(|address| format!("http://{address}"));
    let lobby = if args.gateway.web.is_on() {
        format!("{url}/")
    } else {
        "off".to_owned()
    };
    // One event, fields and all, so that JSON logs stay one object a line; the friendly hint
    // below is for a person at a terminal and is left out of JSON logs.
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        %url,
        %websocket,
        admin = admin.as_deref().unwrap_or("off"),
        %lobby,
        bus,
        state,
        traces = args.backends.traces(),
        register = %format!("POST {url}/v1/auth/register"),
        login = %format!("POST {url}/v1/auth/login"),
        "warren is up"
    );
    if args.backends.log_format == LogFormat::Text {
        print_hint(&url, &websocket, &lobby, bus, state);
    }
    system.wait().await?;
    Ok(())
}

/// How to try the server, for whoever just ran `cargo run`: in a browser, or from a shell.
fn print_hint(url: &str, websocket: &str, lobby: &str, bus: &str, state: &str) {
    let body = r#"{"username":"ada","password":"correct horse"}"#;
    let json = "-H 'content-type: application/json'";
    println!(
        "Warren {} is listening on {url} (bus: {bus}, state: {state}).",
        env!("CARGO_PKG_VERSION")
    );
    if lobby != "off" {
        println!("  play:      open {lobby} in two browser tabs");
    }
    println!("  register:  curl -s -X POST {url}/v1/auth/register {json} -d '{body}'");
    println!("  log in:    curl -s -X POST {url}/v1/auth/login {json} -d '{body}'");
    println!("  connect:   {websocket} (JSON-RPC 2.0, docs/protocol.md;");
    println!("             or the TypeScript client in clients/typescript)");
}
