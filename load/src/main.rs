//! `warren-load`: Warren's load generator. Many simulated game clients over real WebSockets, for
//! benchmarks and the soak test. This file reads the command line and runs one subcommand.
//!
//! ```text
//! baseline.rs the machine's bare argon2id rate, for `logins` to compare with
//! client.rs   HTTP register and login, and a WebSocket JSON-RPC client
//! cpu.rs      a process's CPU time from /proc, and the load average
//! flood.rs    one burst of logins sent at once from given addresses, and their answers
//! idle.rs     `idle`: open N sockets, hold them idle, measure the gateway's memory per socket
//! logins.rs   `logins`: a login flood from one address and from many; memory, answers, latency
//! logins_report.rs  its report and verdicts
//! memory.rs   a process's resident memory from /proc: settling, sampling, peak
//! probe.rs    a signed-in user calling `accounts.me` at a steady pace during a run
//! relay/      `relay`: players in relay sessions sending commands; round trip to the state event
//!   mod.rs    its arguments and the run, phase by phase
//!   player.rs a player's socket, its waits and commands, and failures counted by kind
//!   seating.rs  seating in sessions through public rooms or the matchmaker
//!   report.rs what the run measured, and its printed report
//! requests.rs `requests`: N clients calling one method in a loop; latency and throughput
//! stats.rs    latency percentiles and number formatting for the reports
//! system.rs   /proc/net and limits: open files, ephemeral ports, full listen queues
//! ```
//!
//! Reports go to stdout; logs (`RUST_LOG`, default `info`) to stderr.

mod baseline;
mod client;
mod cpu;
mod flood;
mod idle;
mod logins;
mod logins_report;
mod memory;
mod probe;
mod relay;
mod requests;
mod stats;
mod system;

use clap::{Parser, Subcommand};
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Warren's load generator: simulated game clients over real WebSockets.
#[derive(Debug, Parser)]
#[command(name = "warren-load", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open many idle WebSockets and measure the gateway's resident memory per connection.
    Idle(idle::IdleArgs),
    /// Many clients calling one method in a loop: latency percentiles and throughput.
    Requests(requests::RequestsArgs),
    /// Players in relay sessions, each sending commands one at a time: the round trip from a
    /// command to the state that carries it, and commands per second.
    Relay(relay::RelayArgs),
    /// A login flood from one address and from many: the hashing process's memory, every answer
    /// within 2 s, a signed-in user's latency meanwhile, and the password checks per second
    /// against the machine's bare argon2id rate.
    Logins(logins::LoginsArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Idle(args) => idle::run(args).await,
        Command::Requests(args) => requests::run(args).await,
        Command::Relay(args) => relay::run(args).await,
        Command::Logins(args) => logins::run(args).await,
    }
}

/// Parses `500ms`, `10s`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write it like 500ms, 10s, 2m or 1h"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use ms, s, m or h"
            ));
        }
    };
    Ok(Duration::from_millis(n.saturating_mul(millis)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "10", "s", "1.5s", "10 parsecs"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
