//! Who may open a socket, beyond a valid token: WebSocket upgrades per client address per minute
//! (`--connect-rate-per-address`), and sockets per user (`--max-sockets-per-user`), both kept in
//! this gateway's memory, so each gateway instance counts on its own.
//!
//! An address over its rate gets 429 with `Retry-After` before any upgrade. A user who opens one
//! socket more than allowed keeps the new one; their oldest here is closed with
//! [`CLOSE_TOO_MANY_SOCKETS`], so a client that reconnects without closing its old socket (a
//! reloaded page) is never the one locked out.

use crate::error::ApiError;
use crate::hub::Hub;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;
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
