//! Settings every binary reads from flags and `WARREN_*` environment variables (the flag wins).
//!
//! Names and defaults are the design's Settings table; operators, docs and tests rely on them.
//! Each binary flattens the groups it needs into its own `clap::Parser`. A bad value stops the
//! binary at start-up with a line naming the setting (`checks.rs`).

use crate::checks::{
    amqp_url, http_url, non_negative, origin, positive_duration, queue_type, redis_namespace,
    redis_url,
};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::time::Duration;

/// The longest duration a setting takes; longer values are read as this. Durations are added to
/// clocks (a grace period to now, a ping interval to an instant), and ten years keeps every such
/// sum far from overflowing while being "forever" for any setting.
pub const LONGEST_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// Parses `500ms`, `30s`, `15m`, `2h`, `30d`; saturates at [`LONGEST_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write it like 500ms, 30s, 15m, 2h or 30d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use ms, s, m, h or d"
            ));
        }
    };
    Ok(Duration::from_millis(n.saturating_mul(millis)).min(LONGEST_DURATION))
}

/// The group of settings `T` with every value at the default this table declares, the one place
/// each default is written; no flag or environment variable is read. Each service's config takes
/// its `Default` from here, so a default changed in the table changes everywhere.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None));
    command
        .try_get_matches_from(["defaults"])
        .and_then(|matches| T::from_arg_matches(&matches))
        // Every group's defaults parse: `every_group_has_defaults` below holds it.
        .unwrap_or_else(|error| panic!("a settings default does not parse: {error}"))
}

/// A feature turned `on` or `off` from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `url` with the password of its user part replaced by `***`, for logs; each URL of a
/// comma-separated list (a cluster's nodes) so.
pub fn redacted(url: &str) -> String {
    if url.contains(',') {
        return url
            .split(',')
            .map(|one| redacted(one.trim()))
            .collect::<Vec<_>>()
            .join(",");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Where the shared backends are; none given means in process and in memory.
#[derive(Debug, Clone, Args)]
pub struct Backends {
    /// RabbitMQ URL, e.g. amqp://guest:guest@127.0.0.1:5672/%2f, or the nodes of a cluster
    /// separated by commas. Without it: the in-process bus.
    #[arg(long, env = "WARREN_AMQP_URL", value_parser = amqp_url)]
    pub amqp_url: Option<String>,
    /// The type of the queues that keep the events a service must not miss: `quorum`
    /// (replicated over a cluster's nodes) or `classic`. Without it: quorum with several
    /// --amqp-url nodes, classic with one.
    #[arg(long, env = "WARREN_AMQP_QUEUE_TYPE", value_parser = queue_type)]
    pub amqp_queue_type: Option<warren_bus::QueueType>,
    /// The broker user whose calls may act for a player (carry a user's id): the gateway's. Such
    /// a call published by any other broker user is answered `forbidden`. Without it: this
    /// process's own user, from --amqp-url (one user for everything works as before).
    #[arg(long, env = "WARREN_AMQP_GATEWAY_USER")]
    pub amqp_gateway_user: Option<String>,
    /// Redis URL, e.g. redis://127.0.0.1:6379 (rediss:// for TLS), or the seed nodes of a Redis
    /// Cluster separated by commas. Without it: state in memory.
    #[arg(long, env = "WARREN_REDIS_URL", value_parser = redis_url)]
    pub redis_url: Option<String>,
    /// Put before every Redis key, so that several Warren deployments can share one Redis.
    #[arg(long, env = "WARREN_REDIS_NAMESPACE", default_value = "", value_parser = redis_namespace)]
    pub redis_namespace: String,
    /// Log format.
    #[arg(long, env = "WARREN_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// OpenTelemetry collector to send traces to over OTLP/HTTP, as its base URL, e.g.
    /// http://127.0.0.1:4318 (traces go to /v1/traces under it). Without it: no trace export.
    #[arg(long, env = "WARREN_OTLP_ENDPOINT", value_parser = http_url)]
    pub otlp_endpoint: Option<String>,
    /// Events kept per user for events.resume: the newest this many. Every process that
    /// publishes events keeps them, so give every process the same value.
    #[arg(long, env = "WARREN_RESUME_EVENTS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub resume_events: u32,
    /// Events kept per user for events.resume: for this long.
    #[arg(long, env = "WARREN_RESUME_TTL", default_value = "10m", value_parser = positive_duration)]
    pub resume_ttl: Duration,
}

impl Backends {
    /// Where the broker and Redis are, for the start-up line: passwords left out, and `none` for
    /// what runs in process.
    pub fn describe(&self) -> (String, String) {
        let show = |url: &Option<String>| url.as_deref().map_or_else(|| "none".into(), redacted);
        (show(&self.amqp_url), show(&self.redis_url))
    }

    /// Where traces go, for the start-up line: the collector without its password, or `off`.
    pub fn traces(&self) -> String {
        self.otlp_endpoint
            .as_deref()
            .map_or_else(|| "off".into(), redacted)
    }

    /// How much of each user's events is kept for `events.resume`.
    pub fn resume(&self) -> warren_bus::journal::ResumeConfig {
        warren_bus::journal::ResumeConfig {
            max_events: self.resume_events as usize,
            ttl: self.resume_ttl,
        }
    }
}

/// What every service process (not the gateway) takes besides its backends.
#[derive(Debug, Clone, Args)]
pub struct ServiceSettings {
    /// Where the service answers /healthz and /readyz over HTTP. Port 0: any free port (logged at
    /// start), so that several services run side by side on a laptop.
    #[arg(long, env = "WARREN_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
}

/// The secret access tokens are signed with: auth signs them, the gateway verifies them.
#[derive(Debug, Clone, Args)]
pub struct JwtSettings {
    /// Secret that signs access tokens. Generated at start when embedded; required with
    /// --amqp-url, since every instance must verify every other's tokens.
    #[arg(long, env = "WARREN_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Access token lifetime: auth issues tokens for this long, and gateways refuse a token that
    /// claims a longer life.
    #[arg(long, env = "WARREN_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = positive_duration)]
    pub access_token_ttl: Duration,
}

/// What the auth service needs.
#[derive(Debug, Clone, Args)]
pub struct AuthSettings {
    #[command(flatten)]
    pub jwt: JwtSettings,
    /// Refresh token lifetime.
    #[arg(long, env = "WARREN_REFRESH_TOKEN_TTL", default_value = "30d", value_parser = positive_duration)]
    pub refresh_token_ttl: Duration,
    /// Password hashes computed at once per auth instance (each holds 19 MiB while it runs);
    /// unset: the core count.
    #[arg(long, env = "WARREN_HASH_CONCURRENCY", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub hash_concurrency: Option<usize>,
    /// Longest wait for a hashing slot before a register or login answers `rate_limited`.
    #[arg(long, env = "WARREN_HASH_QUEUE_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub hash_queue_timeout: Duration,
    /// Logins, registrations and refreshes per client address per minute.
    #[arg(long, env = "WARREN_AUTH_RATE_PER_ADDRESS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_rate_per_address: u32,
}

impl AuthSettings {
    /// What no single value shows: a login (a refresh-token family) must live at least as long
    /// as the access tokens it issues, or its revocation could be forgotten while one of them
    /// still works.
    pub fn check(&self) -> Result<(), String> {
        if self.refresh_token_ttl < self.jwt.access_token_ttl {
            return Err(
                "--refresh-token-ttl (WARREN_REFRESH_TOKEN_TTL) must be at least \
                 --access-token-ttl (WARREN_ACCESS_TOKEN_TTL)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What the accounts service needs (nothing of its own yet beyond the backends).
#[derive(Debug, Clone, Args)]
pub struct AccountsSettings {}

/// What the rooms service needs (nothing of its own yet beyond the backends).
#[derive(Debug, Clone, Args)]
pub struct RoomsSettings {}

/// What the sessions service needs.
#[derive(Debug, Clone, Args)]
pub struct SessionsSettings {
    /// How long a player whose last connection closed keeps their seat in a game.
    #[arg(long, env = "WARREN_GRACE_PERIOD", default_value = "30s", value_parser = positive_duration)]
    pub grace_period: Duration,
}

/// What the private-rooms service needs.
#[derive(Debug, Clone, Args)]
pub struct PrivateRoomsSettings {
    /// How long a private room that has not started a session lives after its last join.
    #[arg(long, env = "WARREN_PRIVATE_ROOM_TTL", default_value = "10m", value_parser = positive_duration)]
    pub private_room_ttl: Duration,
    /// Wrong invite codes one user may try per minute before being refused.
    #[arg(long, env = "WARREN_CODE_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub code_attempts: u32,
}

/// What the matchmaker needs.
#[derive(Debug, Clone, Args)]
pub struct MatchmakerSettings {
    /// How long a ticket waits for a match before it runs out.
    #[arg(long, env = "WARREN_TICKET_TTL", default_value = "120s", value_parser = positive_duration)]
    pub ticket_ttl: Duration,
    /// Rating window at the start of a search: how far apart two ratings may be to match.
    #[arg(long, env = "WARREN_RATING_WINDOW", default_value_t = 50.0, value_parser = non_negative)]
    pub rating_window: f64,
    /// How much the rating window widens per second waited.
    #[arg(long, env = "WARREN_RATING_WINDOW_GROWTH", default_value_t = 10.0, value_parser = non_negative)]
    pub rating_window_growth: f64,
    /// The widest the rating window gets.
    #[arg(long, env = "WARREN_RATING_WINDOW_MAX", default_value_t = 400.0, value_parser = non_negative)]
    pub rating_window_max: f64,
}

/// The largest WebSocket message a gateway may be told to take: 16 MiB. A lobby's messages are
/// small, and every socket may hold one this big while it is read.
const MAX_FRAME_BYTES: i64 = 16 * 1024 * 1024;

/// What the gateway needs.
#[derive(Debug, Clone, Args)]
pub struct GatewaySettings {
    /// HTTP and WebSocket listen address.
    #[arg(long, env = "WARREN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest WebSocket message, in bytes.
    #[arg(long, env = "WARREN_MAX_FRAME_BYTES", default_value_t = 65536, value_parser = clap::value_parser!(u32).range(256..=MAX_FRAME_BYTES))]
    pub max_frame_bytes: u32,
    /// Requests per second per connection (bursts of twice that).
    #[arg(long, env = "WARREN_RATE_LIMIT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,
    /// WebSocket ping interval; a socket silent for two intervals is closed.
    #[arg(long, env = "WARREN_PING_INTERVAL", default_value = "15s", value_parser = positive_duration)]
    pub ping_interval: Duration,
    /// Requests in flight per connection.
    #[arg(long, env = "WARREN_MAX_IN_FLIGHT", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// Messages queued to a slow client before it is disconnected.
    #[arg(long, env = "WARREN_SEND_QUEUE", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub send_queue: u32,
    /// Origins allowed to call /v1 from a browser (CORS), comma-separated. None: same origin only.
    /// `*` alone allows any origin, without credentials (tokens travel in the Authorization
    /// header, not in cookies).
    #[arg(long, env = "WARREN_CORS_ORIGINS", value_delimiter = ',', value_parser = origin)]
    pub cors_origins: Vec<String>,
    /// The web lobby page at `/` (and its files under `/web/`).
    #[arg(long, env = "WARREN_WEB", value_enum, default_value = "on")]
    pub web: Switch,
    #[command(flatten)]
    pub edge: crate::edge::EdgeSettings,
}

/// The shortest JWT signing secret accepted.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// A signing secret for one process's life: tokens it signs do not outlive it.
pub fn random_secret() -> Vec<u8> {
    let mut secret = vec![0u8; MIN_JWT_SECRET_BYTES];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut secret);
    secret
}

/// The JWT signing secret: the one given, or, when embedded, a random one for this run.
/// Refused over RabbitMQ without one: every instance must verify every other's tokens.
pub fn jwt_secret(jwt: &JwtSettings, backends: &Backends) -> Result<Vec<u8>, String> {
    match (&jwt.jwt_secret, &backends.amqp_url) {
        (Some(secret), _) if secret.len() < MIN_JWT_SECRET_BYTES => Err(format!(
            "--jwt-secret (WARREN_JWT_SECRET) must be at least {MIN_JWT_SECRET_BYTES} bytes \
             (HS256 wants a key as long as its hash); make one with `openssl rand -hex 32`"
        )),
        (Some(secret), _) => Ok(secret.as_bytes().to_vec()),
        (None, None) => {
            tracing::info!(
                "generated a JWT signing secret for this run: tokens do not outlive the process"
            );
            Ok(random_secret())
        }
        (None, Some(_)) => Err(
            "--jwt-secret (WARREN_JWT_SECRET) is required with --amqp-url: \
                               every instance must verify every other's tokens"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests;
