//! What every Warren binary shares, so that each binary stays a few lines: settings with the
//! design's names and defaults, logging, the shutdown signal, and connecting to RabbitMQ and Redis;
//! and what the services that seat users share: their claims in `accounts`, and carrying a room's
//! start through to its session.
//!
//! ```text
//! settings/     clap argument groups (flags and WARREN_* variables) and the duration parser
//! checks.rs     values checked before anything connects; a bad one exits 2 with one line
//! edge.rs       the gateway's edge: admin listener, trusted proxies, socket limits, TLS files
//! logging.rs    text or JSON logs
//! shutdown.rs   Ctrl-C / SIGTERM as a CancellationToken
//! connect.rs    the bus (RabbitMQ or in process) and Redis, with start-up retries
//! redis_client.rs one Redis server or a Redis Cluster, behind one connection type
//! journal.rs    the bus's event journal in Redis, shared by a deployment's processes
//! replies.rs    replies remembered by request id in Redis, shared by a service's instances
//! service.rs    a service binary's life: connect, serve, wait for the signal, stop
//! storage.rs    where a service keeps its state: Redis under a namespace, or memory
//! admin.rs      a service's /healthz, /readyz and /metrics
//! metrics.rs    the process's Prometheus recorder
//! presence.rs   who is online on which gateway, in Redis or in memory (matchmaker, sessions)
//! claims.rs     claiming, handing over and releasing users in accounts (rooms, matchmaker), and
//!               the holds method accounts calls back
//! consumer.rs   a durable queue's consumer: ack once handled, back off and retry while failing
//! starts/       a room's start as one recorded decision (Start), the store's schedule of
//!               pending starts (StartSchedule), and over RoomStarts, the trait rooms and private
//!               rooms implement, the steps of an attempt and the completer (completer.rs)
//! versioned.rs  changing a record by compare-and-set on its version, retried until a deadline
//! ```

pub mod admin;
pub mod checks;
pub mod claims;
pub mod connect;
pub mod consumer;
pub mod edge;
pub mod journal;
pub mod logging;
pub mod metrics;
pub mod presence;
pub mod redis_client;
pub mod replies;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod starts;
pub mod storage;
pub mod versioned;

pub use checks::{parse_or_exit, refuse};
pub use claims::Claims;
pub use connect::{ConnectError, connect, connect_bus, connect_redis, listen};
pub use edge::EdgeSettings;
pub use redis_client::Redis;
pub use service::{ServiceError, Started, run_service};
pub use settings::{
    AccountsSettings, AuthSettings, Backends, GatewaySettings, JwtSettings, LogFormat,
    MatchmakerSettings, PrivateRoomsSettings, RoomsSettings, ServiceSettings, SessionsSettings,
    Switch, defaults, jwt_secret, parse_duration,
};
pub use storage::Storage;
