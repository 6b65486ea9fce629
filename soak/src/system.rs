//! Two complete Warren systems in this process over the soak's vhost and Redis: two gateways
//! (players connect to either and come back through the other) and two instances of every
//! service sharing the work.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"soak-secret-soak-secret-soak-secret";

pub struct Systems {
    /// `http://127.0.0.1:<port>` of each gateway.
    pub gateways: Vec<String>,
    /// The Redis namespace both systems keep their state under.
    pub namespace: String,
    systems: Vec<warren::System>,
    shutdown: CancellationToken,
}

impl Systems {
    pub async fn start(amqp_url: &str, redis_url: &str) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let namespace = format!("soak-{}:", uuid::Uuid::new_v4().simple());
        let mut systems = Vec::new();
        let mut gateways = Vec::new();
        for _ in 0..2 {
            let options = warren::Options {
                amqp_url: Some(amqp_url.to_owned()),
                redis_url: Some(redis_url.to_owned()),
                redis_namespace: namespace.clone(),
                auth: warren_auth::AuthConfig {
                    jwt_secret: SECRET.to_vec(),
                    access_token_ttl: Duration::from_secs(3600),
                    refresh_token_ttl: Duration::from_secs(3600),
                    // Every simulated client reaches auth through the gateway from one address, and many
                    // register at once: the load is not about the auth throttles.
                    auth_rate_per_address: u32::MAX,
                    hash_queue_timeout: Duration::from_secs(30),
                    ..warren_auth::AuthConfig::new(SECRET)
                },
                // Every simulated player connects from 127.0.0.1 and reconnects often: the load is
                // not about the per-address connect limit either.
                gateway: warren_gateway::GatewayConfig {
                    connect_rate_per_address: u32::MAX,
                    ..warren_gateway::GatewayConfig::new(SECRET.to_vec())
                },
                sessions: warren_sessions::SessionsConfig {
                    grace_period: Duration::from_secs(5),
                    ..Default::default()
                },
                ..warren::Options::with_secret(SECRET)
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let system = warren::start(options, listener, shutdown.clone()).await?;
            gateways.push(format!("http://{}", system.address));
            systems.push(system);
        }
        Ok(Self {
            gateways,
            namespace,
            systems,
            shutdown,
        })
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for system in self.systems {
            if let Err(error) = system.wait().await {
                tracing::warn!(%error, "a system did not stop cleanly");
            }
        }
    }
}
