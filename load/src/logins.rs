//! `warren-load logins`: a login flood, and whether Warren holds up under it.
//!
//! The phases, in order:
//!
//! 1. **Baseline**, while the server is idle: argon2id with the auth service's parameters on one
//!    thread per core, in this process, for `--baseline` (see `baseline.rs`). Nothing is sent to
//!    the server until it has finished, so the two never share the cores. It runs again at the
//!    end, once every login has been answered: on a machine shared with other work the two
//!    differ, and the rate target is checked against the faster.
//! 2. **Users**: `--users` users register, 4 at a time, plus one more for the probe. They register
//!    from addresses of their own (127.1.0.1 upward, 50 from each, under the default of 60
//!    registrations and logins per address a minute), so that registering neither needs the
//!    per-address rate lifted nor spends the flood addresses' allowance.
//! 3. **Probe**: the extra user logs in and opens a WebSocket, then calls `accounts.me` every
//!    `--probe-every` until the end (see `probe.rs`); for `--quiet` nothing else happens, which
//!    gives its figures on a quiet server.
//! 4. **One address**: `--logins` logins sent at once from `--address`.
//! 5. **Many addresses**: `--logins` more sent at once, spread evenly over `--addresses` addresses
//!    counting up from `--spread-from`.
//! 6. **Baseline** again.
//!
//! Each stretch reports the CPU time of the server (`--pid`), of this load generator, and of
//! everything else on the machine (from /proc/stat), which shows when other work skewed it.
//!
//! In each flood phase `--right-percent` of the logins carry the user's password and the rest a
//! wrong one, spread evenly; the `n`th login is for user `n % users`. Each answer is counted by
//! status and, for an error, by its code and message, which tell apart the reasons for a 429
//! (failed-login limits, the per-address request rate, no hashing slot free).
//!
//! The targets: the hashing process (`--pid`) stays under 300 MiB resident during the floods;
//! every login is answered 200, 401 or 429 within 2 s; the probe's p99 stays under 50 ms during
//! the floods; and the many-address phase checks passwords (answers 200 or 401) at at least 0.8×
//! the faster baseline's rate, counted from its start to its last check. The run exits non-zero when a
//! target is not met, after the report.

use crate::baseline::{self, Baseline};
use crate::client::{self, RpcSocket};
use crate::cpu::Spent;
use crate::cpu::{Meter, cpu_time, load_average};
use crate::flood::{self, Attempt, Burst};
use crate::logins_report::{self, Phase, Run};
use crate::probe::Probe;
use crate::{memory, parse_duration, system};
use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Url;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Registrations in flight at once: each hashes a password, and more only queue on the server's
/// hashing slots (and past `--hash-queue-timeout`, are refused).
const REGISTER_AT_ONCE: usize = 4;
/// Users registered (and the probe's login) from each registration address: under the default
/// `--auth-rate-per-address`, 60 a minute.
const REGISTRATIONS_PER_ADDRESS: usize = 50;
/// The first registration address.
const REGISTER_FROM: Ipv4Addr = Ipv4Addr::new(127, 1, 0, 1);
/// How often the server's resident memory is read.
const RSS_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, clap::Args)]
pub struct LoginsArgs {
    /// The gateway's HTTP address. It must be reachable from this machine's loopback addresses:
    /// the logins leave from 127.x.y.z addresses to stand for many clients.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: Url,
    /// Logins sent at once in each of the two flood phases.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub logins: u32,
    /// The one client address of the first flood phase.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: Ipv4Addr,
    /// Client addresses the second flood phase spreads its logins over. With the default 25, each
    /// sends 20 of the 500: as many as the server's per-address failed-login limit allows.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=60000))]
    pub addresses: u32,
    /// The first address of the second flood phase; the others count up from it.
    #[arg(long, default_value = "127.0.0.2")]
    pub spread_from: Ipv4Addr,
    /// Users registered for the flood; the logins go to them in turn.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub users: u32,
    /// Logins with the right password, in percent; the rest are wrong guesses.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub right_percent: u8,
    /// The process that hashes passwords (embedded: `warren`; otherwise `warren-auth`), to
    /// sample its resident memory and read its CPU time from /proc. Without it the memory
    /// target is not measured.
    #[arg(long)]
    pub pid: Option<u32>,
    /// How long the argon2id baseline hashes (on every core, before anything is sent).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub baseline: Duration,
    /// The probe's pace: one `accounts.me` call this often.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    pub probe_every: Duration,
    /// How long the probe calls before the flood starts, for its figures on a quiet server.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub quiet: Duration,
    /// A login with no answer this long is counted as having none.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

pub async fn run(args: LoginsArgs) -> anyhow::Result<()> {
    system::check(args.logins as usize)?;
    if let Some(pid) = args.pid {
        memory::rss(Some(pid))?;
        cpu_time(&[pid])?;
    }
    let spread = count_up(args.spread_from, args.addresses as usize);
    let registration = count_up(
        REGISTER_FROM,
        (args.users as usize + 1).div_ceil(REGISTRATIONS_PER_ADDRESS),
    );
    if spread.contains(&args.address) || registration.contains(&args.address) {
        bail!(
            "--address {} is also one of the other phases' addresses",
            args.address
        );
    }
    if spread.iter().any(|a| registration.contains(a)) {
        bail!(
            "the spread addresses meet the registration addresses ({REGISTER_FROM} upward): \
             choose another --spread-from"
        );
    }
    let load_before = load_average();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let password = uuid::Uuid::new_v4().simple().to_string();

    let before = measure_baseline(args.baseline, args.pid).await?;

    tracing::info!(users = args.users, "registering");
    let names: Vec<String> = (0..=args.users)
        .map(|i| format!("flood-{run_id}-{i}"))
        .collect();
    let registrars = registration
        .iter()
        .map(|&address| flood::client_from(IpAddr::V4(address), args.timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    stream::iter(names.iter().enumerate())
        .map(|(i, name)| {
            let http = &registrars[i / REGISTRATIONS_PER_ADDRESS];
            client::register(http, &args.url, name, &password)
        })
        .buffer_unordered(REGISTER_AT_ONCE)
        .try_collect::<Vec<_>>()
        .await
        .context("registering the flood's users")?;
    let registered = started.elapsed();

    let (probe_name, users) = names.split_last().context("no users")?;
    let probe_http = registrars.last().context("no registration address")?;
    let token = client::login(probe_http, &args.url, probe_name, &password)
        .await
        .context("the probe's login")?;
    let mut socket = RpcSocket::connect(&client::socket_url(&args.url, &token)?)
        .await
        .context("the probe's WebSocket")?;
    socket.call("accounts.me", None).await?;
    drop(registrars);

    let stop_sampling = CancellationToken::new();
    let sampler = args
        .pid
        .map(|pid| tokio::spawn(memory::sample(pid, RSS_EVERY, stop_sampling.clone())));
    let probe = Probe::start(socket, args.probe_every);
    tracing::info!(quiet = ?args.quiet, "probing a quiet server");
    let quiet_from = Instant::now();
    tokio::time::sleep(args.quiet).await;
    let quiet_to = Instant::now();

    let n = args.logins as usize;
    tracing::info!(logins = n, address = %args.address, "flooding from one address");
    let one = vec![flood::client_from(IpAddr::V4(args.address), args.timeout)?];
    let attempts_one = attempts(users, &password, n, args.right_percent, "a");
    let one_address = flood_phase(args.pid, &one, &args.url, attempts_one).await?;
    drop(one);

    tracing::info!(
        logins = n,
        addresses = spread.len(),
        "flooding from many addresses"
    );
    let many = spread
        .iter()
        .map(|&address| flood::client_from(IpAddr::V4(address), args.timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let attempts_many = attempts(users, &password, n, args.right_percent, "b");
    let many_addresses = flood_phase(args.pid, &many, &args.url, attempts_many).await?;
    drop(many);

    let probe = probe.stop().await?;
    stop_sampling.cancel();
    let rss = match sampler {
        Some(sampler) => Some(sampler.await?),
        None => None,
    };
    let peak_rss = args.pid.and_then(|pid| memory::peak_rss(pid).ok());
    let load_after = load_average();
    let after = measure_baseline(args.baseline, args.pid).await?;
    let run = Run {
        url: args.url.clone(),
        logins: n,
        address: args.address,
        spread,
        users: users.len(),
        right_percent: args.right_percent,
        pid: args.pid,
        baselines: [before, after],
        registered,
        registrations: registration,
        probe_every: args.probe_every,
        quiet: (quiet_from, quiet_to),
        one_address,
        many_addresses,
        probe,
        rss,
        peak_rss,
        load_before,
        load_after,
    };
    let not_met = logins_report::print(&run);
    if not_met > 0 {
        bail!("{not_met} of the flood's targets not met");
    }
    Ok(())
}

/// `count` addresses from `first` upward.
fn count_up(first: Ipv4Addr, count: usize) -> Vec<Ipv4Addr> {
    let first = u32::from(first);
    (0..count as u32)
        .map(|i| Ipv4Addr::from(first.wrapping_add(i)))
        .collect()
}

/// `n` logins for `users` in turn, `right_percent` of them (spread evenly) with the right
/// password; each wrong guess is different (and long enough to be checked, not refused on sight).
fn attempts(
    users: &[String],
    password: &str,
    n: usize,
    right_percent: u8,
    tag: &str,
) -> Vec<Attempt> {
    let percent = usize::from(right_percent);
    (0..n)
        .map(|i| {
            let right = (i + 1) * percent / 100 > i * percent / 100;
            Attempt {
                username: users[i % users.len()].clone(),
                password: if right {
                    password.to_owned()
                } else {
                    format!("wrong-guess-{tag}-{i}")
                },
                right,
            }
        })
        .collect()
}

/// Sends one burst and reads what the server spent on it.
async fn flood_phase(
    pid: Option<u32>,
    clients: &[reqwest::Client],
    url: &Url,
    attempts: Vec<Attempt>,
) -> anyhow::Result<Phase> {
    let right = attempts.iter().filter(|a| a.right).count();
    let mut per_pair: HashMap<(usize, &str), usize> = HashMap::new();
    for (i, attempt) in attempts.iter().enumerate() {
        *per_pair
            .entry((i % clients.len(), attempt.username.as_str()))
            .or_default() += 1;
    }
    let most_per_pair = per_pair.values().copied().max().unwrap_or(0);
    let most_per_address = attempts.len().div_ceil(clients.len());
    let rss_before = pid.and_then(|pid| memory::rss(Some(pid)).ok());
    let meter = Meter::start(pid);
    let overflows = system::listen_overflows();
    let burst: Burst = flood::send(clients, url, attempts).await?;
    Ok(Phase {
        right,
        most_per_pair,
        most_per_address,
        rss_before,
        spent: meter.stop(),
        overflows: system::listen_overflows()
            .zip(overflows)
            .map(|(after, before)| after.saturating_sub(before)),
        ended: Instant::now(),
        burst,
    })
}

/// The baseline, and what the server and the rest of the machine spent meanwhile.
async fn measure_baseline(
    duration: Duration,
    pid: Option<u32>,
) -> anyhow::Result<(Baseline, Spent)> {
    tracing::info!(?duration, "baseline: argon2id on every core");
    let meter = Meter::start(pid);
    let baseline = baseline::measure(duration).await?;
    let spent = meter.stop();
    tracing::info!(
        hashes_per_second = format!("{:.1}", baseline.rate),
        other_cores = format!("{:.2}", spent.others_cores().unwrap_or(f64::NAN)),
        "baseline"
    );
    Ok((baseline, spent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_passwords_are_spread_evenly_over_the_users_in_turn() {
        let users: Vec<String> = (0..3).map(|i| format!("u{i}")).collect();
        let made = attempts(&users, "secret-password", 10, 20, "a");
        assert_eq!(made.iter().filter(|a| a.right).count(), 2);
        assert!(made[4].right && made[9].right, "{made:?}");
        assert_eq!(made[3].username, "u0");
        for attempt in &made {
            assert_eq!(attempt.right, attempt.password == "secret-password");
            assert!(attempt.password.len() >= 8, "checked, not refused on sight");
        }
        assert_eq!(
            attempts(&users, "p", 7, 0, "a")
                .iter()
                .filter(|a| a.right)
                .count(),
            0
        );
        assert!(attempts(&users, "p", 7, 100, "a").iter().all(|a| a.right));
    }

    #[test]
    fn addresses_count_up() {
        let spread = count_up(Ipv4Addr::new(127, 0, 0, 254), 3);
        assert_eq!(
            spread,
            [
                Ipv4Addr::new(127, 0, 0, 254),
                Ipv4Addr::new(127, 0, 0, 255),
                Ipv4Addr::new(127, 0, 1, 0)
            ]
        );
    }
}
