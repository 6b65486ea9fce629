//! What the tool reads about this machine's networking, from /proc: before a run, whether it can
//! open the sockets it asks for (this process's open-file limit, one descriptor per socket; the
//! ephemeral port range, one local port per socket to the same gateway address); during a run,
//! how many connections the kernel dropped because a listen queue was full.

use anyhow::{Context, bail};

/// Descriptors the tool needs besides its sockets (stdio, the runtime, HTTP, /proc reads).
const SPARE_FILES: u64 = 64;

/// The soft "Max open files" of /proc/self/limits; `None` for unlimited.
pub fn parse_open_files(limits: &str) -> anyhow::Result<Option<u64>> {
    let values = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .context("no \"Max open files\" line")?;
    let soft = values
        .split_whitespace()
        .next()
        .context("no soft limit on the \"Max open files\" line")?;
    if soft == "unlimited" {
        return Ok(None);
    }
    Ok(Some(soft.parse().with_context(|| {
        format!("unreadable open-file limit {soft:?}")
    })?))
}

/// The size of the range in /proc/sys/net/ipv4/ip_local_port_range (`32768 60999`, tab-separated).
pub fn parse_port_range(range: &str) -> anyhow::Result<u64> {
    let mut bounds = range.split_whitespace().map(str::parse::<u64>);
    match (bounds.next(), bounds.next()) {
        (Some(Ok(low)), Some(Ok(high))) if high >= low => Ok(high - low + 1),
        _ => bail!("unreadable port range {range:?}"),
    }
}

/// Fails if this process may not open `sockets` descriptors; warns if the ephemeral ports are
/// fewer than the sockets.
pub fn check(sockets: usize) -> anyhow::Result<()> {
    let sockets = sockets as u64;
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    if let Some(limit) = parse_open_files(&limits)?
        && limit < sockets + SPARE_FILES
    {
        bail!(
            "{sockets} connections need about {} open files but this process may open {limit}: \
             raise the limit first (`ulimit -n {}` in the shell; the hard limit is `ulimit -Hn`)",
            sockets + SPARE_FILES,
            sockets + SPARE_FILES
        );
    }
    match std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .map_err(anyhow::Error::from)
        .and_then(|range| parse_port_range(&range))
    {
        Ok(ports) if ports < sockets => tracing::warn!(
            ports,
            sockets,
            "fewer ephemeral ports than connections to one address: connects will fail with \
             EADDRNOTAVAIL (widen net.ipv4.ip_local_port_range)"
        ),
        Ok(_) => {}
        Err(error) => tracing::debug!(%error, "cannot check the ephemeral port range"),
    }
    Ok(())
}

/// A counter of /proc/net/netstat, whose lines come in pairs: `TcpExt: Name1 Name2 …` then
/// `TcpExt: 1 2 …`.
pub fn parse_netstat(netstat: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = netstat.lines();
    while let Some(names) = lines.next() {
        let Some(names) = names.strip_prefix(&prefix) else {
            continue;
        };
        let values = lines.next()?.strip_prefix(&prefix)?;
        let position = names.split_whitespace().position(|n| n == name)?;
        return values.split_whitespace().nth(position)?.parse().ok();
    }
    None
}

/// Connections this machine's kernel has dropped since boot because a listen queue was full
/// (`TcpExt ListenOverflows`); each costs its client a SYN retransmission, a second or more.
pub fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    parse_netstat(&netstat, "TcpExt", "ListenOverflows")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_counters_are_read_by_name() {
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
            TcpExt: 0 126 127\n\
            IpExt: InNoRoutes ListenOverflows\n\
            IpExt: 5 6\n";
        assert_eq!(
            parse_netstat(netstat, "TcpExt", "ListenOverflows"),
            Some(126)
        );
        assert_eq!(parse_netstat(netstat, "TcpExt", "ListenDrops"), Some(127));
        assert_eq!(parse_netstat(netstat, "IpExt", "ListenOverflows"), Some(6));
        assert_eq!(parse_netstat(netstat, "TcpExt", "NoSuchCounter"), None);
        assert_eq!(parse_netstat(netstat, "MPTcpExt", "ListenOverflows"), None);
    }

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            20000                20000                files     \n\
        Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn the_soft_open_file_limit_is_read() -> anyhow::Result<()> {
        assert_eq!(parse_open_files(LIMITS)?, Some(20_000));
        let unlimited = LIMITS.replace("20000                20000", "unlimited unlimited");
        assert_eq!(parse_open_files(&unlimited)?, None);
        assert!(parse_open_files("Max cpu time  unlimited unlimited seconds").is_err());
        Ok(())
    }

    #[test]
    fn the_port_range_is_counted() -> anyhow::Result<()> {
        assert_eq!(parse_port_range("32768\t60999\n")?, 28_232);
        assert!(parse_port_range("60999 32768").is_err());
        assert!(parse_port_range("").is_err());
        Ok(())
    }
}
