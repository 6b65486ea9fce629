//! `warren-load idle`: what an idle connection costs the gateway.
//!
//! One throwaway user registers and logs in; then N WebSockets open, at most `--concurrency` at a
//! time, each making one `accounts.me` call so it is known to be fully established, and stay open,
//! reading (so the gateway's pings are answered). Once all are open the gateway's resident memory
//! is read again after it settles (or after `--hold`), and the difference is divided by N. Then
//! every socket closes with a Close handshake.
//!
//! All sockets belong to the one user, so the gateway's per-user state (the hub's entry for a
//! user) is counted once, not per connection.

use crate::client::{self, RpcSocket};
use crate::memory::{self, Settled};
use crate::stats::{self, Percentiles, mib, thousands};
use crate::{parse_duration, system};
use reqwest::Url;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long one socket's closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct IdleArgs {
    /// The gateway's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: Url,
    /// WebSockets to open.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// The gateway's process id, to read its resident memory from /proc (leave out for a gateway
    /// on another machine: then only the connection figures are reported). Measure a freshly
    /// started gateway: memory freed by earlier connections is reused without growing RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// Sockets being opened at the same time. Keep it below the gateway's listen backlog (1024
    /// for Warren's binaries; 128 for a server bound with tokio's `TcpListener::bind`): past it,
    /// whenever the gateway falls behind accepting, the kernel drops SYNs and those connections
    /// take a second longer (SYN retransmission).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Hold the open sockets this long, then measure, instead of waiting for the gateway's memory
    /// to settle. More than twice the gateway's ping interval shows that pings are answered.
    #[arg(long, value_parser = parse_duration)]
    hold: Option<Duration>,
    /// Longest wait for the gateway's memory to settle.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    settle_limit: Duration,
    /// Longest time one socket may take to connect, upgrade and answer its first call.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    connect_timeout: Duration,
}

/// How one socket's life ended.
#[derive(Debug)]
enum Ended {
    /// It never opened (reported when it failed).
    NotOpened,
    /// The gateway or the network ended it while it was held.
    Dropped(String),
    Closed,
    CloseFailed(String),
}

/// What opening the sockets gave.
struct Opened {
    sockets: JoinSet<Ended>,
    latencies: Vec<Duration>,
    failures: Vec<String>,
    elapsed: Duration,
}

pub async fn run(args: IdleArgs) -> anyhow::Result<()> {
    let n = args.connections as usize;
    system::check(n)?;
    if let Some(pid) = args.pid {
        memory::rss(Some(pid))?;
    }
    let http = reqwest::Client::new();
    let account = client::register_and_login(&http, &args.url).await?;
    tracing::info!(user = %account.username, user_id = %account.user_id, "registered and logged in");
    let url: Arc<str> = client::socket_url(&args.url, &account.access_token)?.into();
    let before = match args.pid {
        Some(pid) => Some(memory::settle(pid, args.settle_limit).await?),
        None => None,
    };

    let stop = CancellationToken::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    tracing::info!(connections = n, concurrency = args.concurrency, "opening");
    let overflows = system::listen_overflows();
    let opened = open(&args, url, &stop, &dropped).await?;
    let overflows = system::listen_overflows()
        .zip(overflows)
        .map(|(after, before)| after.saturating_sub(before));

    let after = match (args.pid, args.hold) {
        (Some(pid), None) => Some(memory::settle(pid, args.settle_limit).await?),
        (pid, Some(hold)) => {
            tracing::info!(?hold, "holding");
            tokio::time::sleep(hold).await;
            match pid {
                Some(pid) => Some(Settled {
                    rss: memory::rss(Some(pid))?,
                    waited: hold,
                    settled: false,
                }),
                None => None,
            }
        }
        (None, None) => None,
    };
    let dropped = dropped.load(Ordering::Relaxed);
    report(&args, &opened, overflows, before, after, dropped)?;

    close(opened.sockets, &stop).await;
    if let (Some(pid), Some(before)) = (args.pid, before) {
        let closed = memory::settle(pid, args.settle_limit).await?;
        println!(
            "  gateway RSS after closing: {} ({} above before)",
            mib(closed.rss),
            mib(closed.rss.saturating_sub(before.rss))
        );
    }
    Ok(())
}

/// Opens the sockets, `--concurrency` at a time; returns once each has opened or failed.
async fn open(
    args: &IdleArgs,
    url: Arc<str>,
    stop: &CancellationToken,
    dropped: &Arc<AtomicUsize>,
) -> anyhow::Result<Opened> {
    let n = args.connections as usize;
    let (outcomes, mut outcome) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(args.concurrency as usize));
    let timeout = args.connect_timeout;
    let start = Instant::now();
    let spawner = {
        let (stop, dropped) = (stop.clone(), Arc::clone(dropped));
        tokio::spawn(async move {
            let mut sockets = JoinSet::new();
            for _ in 0..n {
                let Ok(permit) = Arc::clone(&gate).acquire_owned().await else {
                    break;
                };
                let life = socket(
                    Arc::clone(&url),
                    permit,
                    timeout,
                    outcomes.clone(),
                    stop.clone(),
                    Arc::clone(&dropped),
                );
                sockets.spawn(life);
            }
            sockets
        })
    };

    let mut latencies = Vec::with_capacity(n);
    let mut failures = Vec::new();
    let mut last_log = Instant::now();
    while latencies.len() + failures.len() < n {
        match outcome.recv().await {
            Some(Ok(latency)) => latencies.push(latency),
            Some(Err(reason)) => failures.push(reason),
            None => break,
        }
        if last_log.elapsed() >= Duration::from_secs(1) {
            last_log = Instant::now();
            tracing::info!(opened = latencies.len(), failed = failures.len(), "opening");
        }
    }
    let elapsed = start.elapsed();
    let sockets = spawner.await?;
    Ok(Opened {
        sockets,
        latencies,
        failures,
        elapsed,
    })
}

/// One simulated client: open, call `accounts.me`, report, hold until `stop`, close.
async fn socket(
    url: Arc<str>,
    permit: OwnedSemaphorePermit,
    timeout: Duration,
    outcome: mpsc::UnboundedSender<Result<Duration, String>>,
    stop: CancellationToken,
    dropped: Arc<AtomicUsize>,
) -> Ended {
    let start = Instant::now();
    // Opening and closing are boxed: their futures are several KiB, and unboxed they would size
    // this task's future, which lives as long as the socket, at their largest.
    let established = Box::pin(tokio::time::timeout(timeout, async {
        let mut socket = RpcSocket::connect(&url).await?;
        socket.call("accounts.me", None).await?;
        anyhow::Ok(socket)
    }))
    .await;
    drop(permit);
    drop(url);
    let mut socket = match established {
        Ok(Ok(socket)) => socket,
        Ok(Err(error)) => {
            let _ = outcome.send(Err(format!("{error:#}")));
            return Ended::NotOpened;
        }
        Err(_) => {
            let _ = outcome.send(Err(format!("not open within {timeout:?}")));
            return Ended::NotOpened;
        }
    };
    let _ = outcome.send(Ok(start.elapsed()));
    drop(outcome);
    if let Err(error) = socket.hold(&stop).await {
        dropped.fetch_add(1, Ordering::Relaxed);
        return Ended::Dropped(format!("{error:#}"));
    }
    match Box::pin(socket.close(CLOSE_TIMEOUT)).await {
        Ok(()) => Ended::Closed,
        Err(error) => Ended::CloseFailed(format!("{error:#}")),
    }
}

fn report(
    args: &IdleArgs,
    opened: &Opened,
    overflows: Option<u64>,
    before: Option<Settled>,
    after: Option<Settled>,
    dropped: usize,
) -> anyhow::Result<()> {
    let n = args.connections as usize;
    let open = opened.latencies.len();
    let secs = opened.elapsed.as_secs_f64();
    println!("warren-load idle: {n} WebSockets to {}", args.url);
    println!(
        "  opened: {open} of {n}, {} failed, in {secs:.2} s ({} connections/s, {} at a time)",
        opened.failures.len(),
        thousands(open as f64 / secs),
        args.concurrency
    );
    if let Some(latency) = Percentiles::of(opened.latencies.clone()) {
        println!("  time to open one (connect, upgrade, accounts.me): {latency}");
    }
    for (reason, count) in stats::tally(opened.failures.iter().cloned()).iter().take(5) {
        println!("  failed: {count} × {reason}");
    }
    if let Some(overflows) = overflows.filter(|&o| o > 0) {
        println!(
            "  the kernel dropped {overflows} connection attempts on a full listen queue \
             (TcpExt ListenOverflows, whole machine): each waits 1 s or more to retry"
        );
    }
    let held = args
        .hold
        .map(|hold| format!(" after holding {hold:?}"))
        .unwrap_or_default();
    println!(
        "  still open{held}: {} ({dropped} ended early)",
        open.saturating_sub(dropped)
    );
    if let (Some(pid), Some(before), Some(after)) = (args.pid, before, after) {
        let wait = if after.settled {
            format!("settled after {:.1} s", after.waited.as_secs_f64())
        } else if args.hold.is_some() {
            "read after the hold".to_owned()
        } else {
            format!("NOT settled within {:?}", args.settle_limit)
        };
        println!(
            "  gateway (pid {pid}) RSS: before {}, after {} ({wait})",
            mib(before.rss),
            mib(after.rss)
        );
        if let Some(bytes) = memory::per_connection(before.rss, after.rss, open) {
            println!(
                "  gateway memory per idle connection: {} bytes ((after - before) / {open})",
                thousands(bytes)
            );
            println!(
                "    (a fair figure on a freshly started gateway only: memory freed by earlier \
                 sockets is reused without growing RSS)"
            );
        }
    }
    let own = memory::rss(None)?;
    println!(
        "  this load generator's RSS: {} for {open} sockets",
        mib(own)
    );
    Ok(())
}

/// Closes every socket (a Close handshake each) and reports how that went.
async fn close(mut sockets: JoinSet<Ended>, stop: &CancellationToken) {
    let start = Instant::now();
    stop.cancel();
    let (mut closed, mut problems) = (0, Vec::new());
    while let Some(ended) = sockets.join_next().await {
        match ended {
            Ok(Ended::Closed) => closed += 1,
            Ok(Ended::NotOpened) => {}
            Ok(Ended::Dropped(reason)) => problems.push(format!("ended while held: {reason}")),
            Ok(Ended::CloseFailed(reason)) => problems.push(format!("unclean close: {reason}")),
            Err(error) => problems.push(format!("task failed: {error}")),
        }
    }
    println!(
        "  closed: {closed} cleanly in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    for (reason, count) in stats::tally(problems).iter().take(5) {
        println!("  {count} × {reason}");
    }
}
