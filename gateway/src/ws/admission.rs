//! What the gateway lets in: sockets, and the requests on them.
//!
//! Who may open a socket, beyond a valid token: WebSocket upgrades per client address per minute
//! (`--connect-rate-per-address`), and sockets per user (`--max-sockets-per-user`), both kept in
//! this gateway's memory, so each gateway instance counts on its own.
//!
//! An address over its rate gets 429 with `Retry-After` before any upgrade. A user who opens one
//! socket more than allowed keeps the new one; their oldest here is closed with
//! [`CLOSE_TOO_MANY_SOCKETS`], so a client that reconnects without closing its old socket (a
//! reloaded page) is never the one locked out.
//!
//! Which messages on a socket become calls ([`RequestLimits::admit`]): within the socket's rate
//! (`--rate-limit`) and its requests in flight (`--max-in-flight`), text within the size limit,
//! valid JSON-RPC, naming a method a client may call. Anything else is answered with its error
//! here, before it costs a task or a call.

use super::jsonrpc::{self, Request};
use super::{methods, resume};
use crate::config::GatewayConfig;
use crate::error::ApiError;
use crate::hub::Hub;
use axum::extract::ws::Message;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use warren_contracts::ErrorCode;

/// Close code for a socket closed because its user opened more than `--max-sockets-per-user`
/// on this gateway; it is the oldest of theirs.
pub const CLOSE_TOO_MANY_SOCKETS: u16 = 4008;

/// How often addresses whose allowance is full again are forgotten: the limiter's memory is
/// bounded by the addresses seen in about this long.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Upgrades per client address per minute.
#[derive(Debug)]
pub struct ConnectLimiter {
    /// Keyed by address (IPv6 by its /64: one host usually holds a whole /64, and keying by
    /// the full address would give it 2^64 allowances and the map as many keys).
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl ConnectLimiter {
    /// `per_minute` upgrades a minute, all of them at once if the address has been quiet.
    pub fn new(per_minute: u32) -> Self {
        let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(rate)),
        }
    }

    /// Counts one upgrade from `client`; over the rate, how long until the next is allowed.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&key(client))
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Forgets the addresses whose allowance is whole again: they behave as new ones would.
    pub fn purge(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Purges every [`PURGE_EVERY`] until `stop`.
    pub async fn purge_until(&self, stop: CancellationToken) {
        let mut every = tokio::time::interval(PURGE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => self.purge(),
                () = stop.cancelled() => return,
            }
        }
    }
}

fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// The answer to an upgrade over the rate: 429 `rate_limited`, with `Retry-After` in whole
/// seconds (at least one).
pub fn too_many_upgrades(wait: Duration) -> Response {
    metrics::counter!(crate::series::WS_UPGRADES_REFUSED).increment(1);
    let mut refusal = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        "too many connections from this address: retry later",
    );
    refusal.error = refusal.error.retry_after(wait);
    refusal.into_response()
}

/// Closes the oldest sockets of `user_id` here beyond the newest `max`; called once a new one is
/// registered, so the new one is never among them.
pub fn make_room(hub: &Hub, user_id: &str, max: usize) {
    for conn in hub.oldest_beyond(user_id, max) {
        tracing::info!(
            conn = conn.id(),
            "closing a user's oldest socket: too many open"
        );
        conn.kick(CLOSE_TOO_MANY_SOCKETS, "too many sockets for this user");
    }
}

/// One socket's limits on its requests: a rate, which every message counts against, and the
/// requests it may have in flight.
pub(crate) struct RequestLimits {
    limiter: DefaultDirectRateLimiter,
    in_flight: Arc<Semaphore>,
}

/// What became of one message from the client.
pub(crate) enum Verdict {
    /// A request to answer.
    Call(Admitted),
    /// Refused: this error response goes back, and nothing else happens.
    Refused(String),
    /// Nothing to answer (a ping or a pong).
    Ignored,
    /// The client closes.
    Closed,
}

/// A request let in, holding its place among the requests in flight until it is answered.
pub(crate) struct Admitted {
    pub request: Request,
    pub answerer: Answerer,
    pub permit: OwnedSemaphorePermit,
}

/// Who answers an admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answerer {
    /// The service whose queue serves the method.
    Service(&'static str),
    /// The gateway itself (`events.resume`).
    Gateway,
}

impl RequestLimits {
    pub(crate) fn new(config: &GatewayConfig) -> Self {
        Self {
            limiter: rate_limiter(config.rate_limit),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
        }
    }

    /// The requests in flight: all of its permits back means every request read is answered.
    pub(crate) fn in_flight(&self) -> &Arc<Semaphore> {
        &self.in_flight
    }

    /// Judges one message from the client, in the order that refuses the cheapest way first.
    pub(crate) fn admit(&self, message: Message, config: &GatewayConfig) -> Verdict {
        if matches!(message, Message::Text(_) | Message::Binary(_)) && self.limiter.check().is_err()
        {
            // Every message counts, malformed and oversized ones too: refusing them costs the
            // gateway as much as answering.
            let id = match &message {
                Message::Text(text) if text.len() <= config.max_frame_bytes => {
                    jsonrpc::parse(text.as_str()).map_or(Value::Null, |request| request.id)
                }
                _ => Value::Null,
            };
            return Verdict::Refused(app_error(
                &id,
                ErrorCode::RateLimited,
                "too many requests: slow down",
            ));
        }
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return Verdict::Refused(jsonrpc::error_response(
                    &Value::Null,
                    jsonrpc::INVALID_REQUEST,
                    "binary frames are not supported: send JSON-RPC as text",
                    None,
                ));
            }
            Message::Close(_) => return Verdict::Closed,
            Message::Ping(_) | Message::Pong(_) => return Verdict::Ignored,
        };
        if text.len() > config.max_frame_bytes {
            return Verdict::Refused(jsonrpc::error_response(
                &Value::Null,
                jsonrpc::INVALID_REQUEST,
                &format!("message larger than {} bytes", config.max_frame_bytes),
                None,
            ));
        }
        let request = match jsonrpc::parse(text.as_str()) {
            Ok(request) => request,
            Err(response) => return Verdict::Refused(response),
        };
        let answerer = match methods::service_for(&request.method) {
            Some(service) => Answerer::Service(service),
            None if request.method == resume::METHOD => Answerer::Gateway,
            None => {
                let message = format!("unknown method {:?}", request.method);
                return Verdict::Refused(jsonrpc::error_response(
                    &request.id,
                    jsonrpc::METHOD_NOT_FOUND,
                    &message,
                    None,
                ));
            }
        };
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            let message = format!("more than {} requests in flight", config.max_in_flight);
            return Verdict::Refused(app_error(&request.id, ErrorCode::RateLimited, &message));
        };
        Verdict::Call(Admitted {
            request,
            answerer,
            permit,
        })
    }
}

fn rate_limiter(per_second: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

fn app_error(id: &Value, code: ErrorCode, message: &str) -> String {
    jsonrpc::error_response(id, jsonrpc::APPLICATION_ERROR, message, Some(code))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::header;

    #[test]
    fn an_address_over_its_rate_waits_and_others_do_not() {
        let limiter = ConnectLimiter::new(3);
        let (one, other) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.check(one).is_ok());
        }
        let wait = limiter.check(one).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check(other).is_ok());
        assert_eq!(limiter.len(), 2);
    }

    #[test]
    fn one_ipv6_host_is_one_key() {
        let limiter = ConnectLimiter::new(1);
        assert!(limiter.check("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(
            limiter
                .check("2001:db8:1:2::ffff".parse().unwrap())
                .is_err()
        );
        assert!(limiter.check("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn retry_after_is_whole_seconds() {
        let response = too_many_upgrades(Duration::from_millis(1500));
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
