//! The client's address, for limits kept per address: the TCP peer's, or, when the peer is one of
//! `--trusted-proxies`, the last address in `X-Forwarded-For` that no trusted proxy wrote.
//!
//! Only trusted proxies are believed: anyone can send the header, and a client that could name
//! its own address would dodge every limit kept per address by naming a new one each time.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The header proxies append the address they were connected from to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's IP address, as this gateway can best tell it. For the auth routes it goes into
/// `CallOptions::client_addr`; the WebSocket upgrade keys its rate limit on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    pub fn ip(&self) -> IpAddr {
        self.0
    }

    /// From the TCP peer and the request's headers, believing `X-Forwarded-For` only as far as
    /// trusted proxies wrote it: from its right end, each address a trusted hop reports is taken
    /// until one is not itself a trusted proxy. An entry that is not an address stops the walk at
    /// the hop that reported it, since a trusted proxy writes addresses and what comes before is
    /// the client's own text.
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Self {
        let mut client = canonical(peer);
        if !is_trusted(client, trusted) {
            return Self(client);
        }
        let hops = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Some(hop) = parse_hop(hop) else { break };
            client = hop;
            if !is_trusted(client, trusted) {
                break;
            }
        }
        Self(client)
    }
}

fn is_trusted(address: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&address))
}

/// An IPv4 client seen through an IPv6 socket as `::ffff:a.b.c.d` is the IPv4 client.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|address| address.ip()))
        .ok()
        .map(canonical)
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Set on every request by the listener (or by `MockConnectInfo` in tests); missing only
        // when the Router is served some other way, which is the gateway's bug, not the client's.
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                tracing::error!(%rejection, "no peer address on a request");
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    warren_contracts::ErrorCode::Internal,
                    "internal error",
                )
            })?;
        Ok(Self::resolve(
            peer.ip(),
            &parts.headers,
            &state.config().trusted_proxies,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let headers = forwarded(&["203.0.113.9"]);
        let client = ClientAddr::resolve(ip("198.51.100.1"), &headers, &nets(&["10.0.0.0/8"]));
        assert_eq!(client.ip(), ip("198.51.100.1"));
    }

    #[test]
    fn a_trusted_peer_names_the_client_and_forged_entries_are_skipped() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client forged the first entry; the outer proxy appended the client's address, the
        // inner proxy (the peer) appended the outer proxy's.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        let client = ClientAddr::resolve(ip("10.0.0.1"), &headers, &trusted);
        assert_eq!(client.ip(), ip("203.0.113.9"));
    }

    #[test]
    fn garbage_stops_at_the_last_address_a_trusted_hop_wrote() {
        let trusted = nets(&["10.0.0.0/8"]);
        let headers = forwarded(&["not-an-address"]);
        let client = ClientAddr::resolve(ip("10.0.0.1"), &headers, &trusted);
        assert_eq!(client.ip(), ip("10.0.0.1"));
        let headers = forwarded(&["[2001:db8::7]:443, 10.0.0.3:80"]);
        let client = ClientAddr::resolve(ip("10.0.0.1"), &headers, &trusted);
        assert_eq!(client.ip(), ip("2001:db8::7"));
    }

    #[test]
    fn mapped_ipv4_is_ipv4() {
        let client = ClientAddr::resolve(ip("::ffff:192.0.2.4"), &HeaderMap::new(), &[]);
        assert_eq!(client.ip(), ip("192.0.2.4"));
    }
}
