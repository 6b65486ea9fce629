//! The gateway's configuration, as the binary hands it over.

use crate::listener::{IDLE_TIMEOUT, ListenerLimits};
use crate::tls::TlsFiles;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::time::Duration;

/// Every service whose `<service>.events` exchange the gateway listens to.
pub const EVENT_SERVICES: [&str; 6] = [
    "auth",
    "accounts",
    "rooms",
    "private_rooms",
    "matchmaker",
    "sessions",
];

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Verifies access tokens; the same secret auth signs them with.
    pub jwt_secret: Vec<u8>,
    /// The longest lifetime of an access token (`--access-token-ttl`); a token claiming more is
    /// refused.
    pub access_token_ttl: Duration,
    /// Largest WebSocket message accepted; larger ones are refused with an error.
    pub max_frame_bytes: usize,
    /// Requests per second per connection; bursts of twice that.
    pub rate_limit: u32,
    /// How often each socket is pinged; one silent for two intervals is closed.
    pub ping_interval: Duration,
    /// Requests one connection may have in flight.
    pub max_in_flight: usize,
    /// Messages queued to one client before it is disconnected as too slow.
    pub send_queue: usize,
    /// Origins allowed to call `/v1` from a browser.
    pub cors_origins: Vec<String>,
    /// Whether `/` serves the web lobby (`--web`); off, `/` and `/web/` answer 404.
    pub web: bool,
    /// Deadline of each call the gateway makes to a service.
    pub call_timeout: Duration,
    /// Largest HTTP request body.
    pub max_body_bytes: usize,
    /// Where `/metrics`, `/healthz` and `/readyz` are served apart from clients; `None`: nowhere
    /// (whoever embeds the gateway serves them, or tests do without).
    pub admin_listen: Option<SocketAddr>,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// WebSocket upgrades per client address per minute.
    pub connect_rate_per_address: u32,
    /// WebSockets one user may hold here; one more closes their oldest.
    pub max_sockets_per_user: usize,
    /// Timeouts and the connection cap of the HTTP listener: constants, not settings, but the idle
    /// timeout is at least two ping intervals.
    pub listener: ListenerLimits,
    /// The certificate and key clients are served over TLS (`--tls-cert`, `--tls-key`); `None`:
    /// plain HTTP.
    pub tls: Option<TlsFiles>,
}

impl GatewayConfig {
    /// From the binary's settings: its own, and the tokens' (whose lifetime bounds the tokens it
    /// accepts).
    pub fn from_settings(
        settings: &warren_runtime::GatewaySettings,
        jwt: &warren_runtime::JwtSettings,
        jwt_secret: Vec<u8>,
    ) -> Self {
        Self {
            jwt_secret,
            access_token_ttl: jwt.access_token_ttl,
            max_frame_bytes: settings.max_frame_bytes as usize,
            rate_limit: settings.rate_limit,
            ping_interval: settings.ping_interval,
            max_in_flight: settings.max_in_flight as usize,
            send_queue: settings.send_queue as usize,
            cors_origins: settings.cors_origins.clone(),
            web: settings.web.is_on(),
            call_timeout: Duration::from_secs(10),
            max_body_bytes: 65_536,
            admin_listen: Some(settings.edge.admin_listen),
            trusted_proxies: settings.edge.trusted_proxies.clone(),
            connect_rate_per_address: settings.edge.connect_rate_per_address,
            max_sockets_per_user: settings.edge.max_sockets_per_user as usize,
            listener: ListenerLimits {
                // An HTTP/2 connection carrying WebSockets is quiet between their pings.
                idle_timeout: IDLE_TIMEOUT.max(settings.ping_interval * 2),
                ..ListenerLimits::default()
            },
            tls: settings
                .edge
                .tls_cert
                .clone()
                .zip(settings.edge.tls_key.clone())
                .map(|(cert, key)| TlsFiles { cert, key }),
        }
    }

    /// Whether the TLS files, if any, load; the binaries refuse to start on a pair that does not,
    /// as on any setting that cannot work.
    pub fn check_tls(&self) -> Result<(), String> {
        match &self.tls {
            Some(files) => crate::tls::Certificates::load(files)
                .map(drop)
                .map_err(|error| {
                    format!("--tls-cert, --tls-key (WARREN_TLS_CERT, WARREN_TLS_KEY): {error}")
                }),
            None => Ok(()),
        }
    }

    /// The design's defaults, as the settings table declares them, with the given secret; no
    /// admin listener.
    pub fn new(jwt_secret: Vec<u8>) -> Self {
        let settings = warren_runtime::defaults::<warren_runtime::GatewaySettings>();
        let jwt = warren_runtime::defaults::<warren_runtime::JwtSettings>();
        Self {
            admin_listen: None,
            ..Self::from_settings(&settings, &jwt, jwt_secret)
        }
    }
}
