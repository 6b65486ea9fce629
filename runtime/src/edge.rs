//! The gateway's settings that keep its edge standing under abuse: where `/metrics` is served
//! apart from clients, which proxies may name the client's address, and how many sockets one
//! address may open and one user may hold, and the certificate its clients are served over TLS.
//! Flattened into [`crate::GatewaySettings`].

use clap::Args;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct EdgeSettings {
    /// The gateway's admin listener: /metrics, /healthz and /readyz apart from clients. `:0` (or
    /// port 0) picks a free port, logged at start.
    #[arg(long, env = "WARREN_ADMIN_LISTEN", default_value = "127.0.0.1:9464", value_parser = listen_address)]
    pub admin_listen: SocketAddr,
    /// Proxies in front of the gateway whose X-Forwarded-For is believed: addresses or CIDRs,
    /// comma-separated. None: the TCP peer is the client.
    #[arg(long, env = "WARREN_TRUSTED_PROXIES", value_delimiter = ',', value_parser = address_or_network)]
    pub trusted_proxies: Vec<IpNet>,
    /// WebSocket upgrades per client address per minute, on each gateway instance; over it: 429.
    #[arg(long, env = "WARREN_CONNECT_RATE_PER_ADDRESS", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub connect_rate_per_address: u32,
    /// WebSockets one user may hold on each gateway instance; one more closes their oldest.
    #[arg(long, env = "WARREN_MAX_SOCKETS_PER_USER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sockets_per_user: u32,
    /// The client listener's certificate chain, a PEM file: with --tls-key, the gateway serves
    /// https and wss, HTTP/2 offered beside HTTP/1.1. Read again when the file changes. None:
    /// plain HTTP (HTTP/1.1, and HTTP/2 with prior knowledge).
    #[arg(long, env = "WARREN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, a PEM file (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "WARREN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// A listen address; `:PORT` is on 127.0.0.1, so that `:0` picks a free local port.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let full = match text.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => text.to_owned(),
    };
    full.parse()
        .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:9464, [::1]:9464 or :0"))
}

/// An address (one host) or a network in CIDR notation.
fn address_or_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{text:?} is neither an address (10.0.0.7) nor a CIDR (10.0.0.0/8)"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Gateway {
        #[command(flatten)]
        edge: EdgeSettings,
    }

    fn parse(args: &[&str]) -> Result<EdgeSettings, clap::Error> {
        let all = std::iter::once("warren-gateway").chain(args.iter().copied());
        Gateway::try_parse_from(all).map(|parsed| parsed.edge)
    }

    #[test]
    fn defaults_are_the_designs() {
        let edge = parse(&[]).unwrap();
        assert_eq!(edge.admin_listen.to_string(), "127.0.0.1:9464");
        assert!(edge.trusted_proxies.is_empty());
        assert_eq!(edge.connect_rate_per_address, 120);
        assert_eq!(edge.max_sockets_per_user, 5);
        assert_eq!((edge.tls_cert, edge.tls_key), (None, None));
    }

    #[test]
    fn a_certificate_comes_with_its_key() {
        let edge = parse(&["--tls-cert", "cert.pem", "--tls-key", "key.pem"]).unwrap();
        assert_eq!(edge.tls_cert, Some(PathBuf::from("cert.pem")));
        assert_eq!(edge.tls_key, Some(PathBuf::from("key.pem")));
        for (alone, missing) in [("--tls-cert", "--tls-key"), ("--tls-key", "--tls-cert")] {
            let error = parse(&[alone, "file.pem"]).unwrap_err();
            assert!(error.to_string().contains(missing), "{alone}: {error}");
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let edge = parse(&["--trusted-proxies", "10.0.0.7,192.168.1.0/16,fd00::/8"]).unwrap();
        let shown: Vec<String> = edge
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["10.0.0.7/32", "192.168.0.0/16", "fd00::/8"]);
        for bad in ["10.0.0.300", "proxy.local", "10.0.0.0/40", ""] {
            let error = parse(&["--trusted-proxies", bad]).unwrap_err();
            assert!(
                error.to_string().contains("--trusted-proxies"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn the_admin_listener_takes_a_bare_port() {
        let edge = parse(&["--admin-listen", ":0"]).unwrap();
        assert_eq!(edge.admin_listen.to_string(), "127.0.0.1:0");
        let edge = parse(&["--admin-listen", "0.0.0.0:9464"]).unwrap();
        assert_eq!(edge.admin_listen.to_string(), "0.0.0.0:9464");
        let error = parse(&["--admin-listen", "metrics"]).unwrap_err();
        assert!(error.to_string().contains("--admin-listen"), "{error}");
    }

    #[test]
    fn socket_limits_are_positive() {
        for flag in ["--connect-rate-per-address", "--max-sockets-per-user"] {
            let error = parse(&[flag, "0"]).unwrap_err();
            assert!(error.to_string().contains(flag), "{error}");
        }
    }
}
