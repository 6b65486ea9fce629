//! `warren-load requests`: request latency and throughput through the gateway.
//!
//! `--clients` users register and log in, each opens one WebSocket, and then every client calls
//! `--method` in a loop, one call at a time, for `--duration`. Each call's round trip is recorded;
//! the report gives the calls made, calls per second, the latency percentiles and the failures.
//! Closed-loop: a slower system gets fewer calls, not a queue, so the latency is the system's.
//! An error reply is counted by its code and the client calls on (so a run through a fault shows
//! how many calls failed, and how); a client whose socket fails stops.

use crate::client::{self, RpcSocket};
use crate::parse_duration;
use crate::stats::{Percentiles, thousands};
use reqwest::Url;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[derive(Debug, clap::Args)]
pub struct RequestsArgs {
    /// The gateway's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: Url,
    /// Clients, each a user with one WebSocket making one call at a time.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    clients: u32,
    /// How long the clients call, after they are all connected.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// The method every call makes (a read that changes nothing, by default).
    #[arg(long, default_value = "accounts.me")]
    method: String,
    /// Its parameters, as JSON.
    #[arg(long, default_value = "{}")]
    params: String,
}

/// What one client measured.
#[derive(Default)]
struct Measured {
    /// Round trips of the calls answered with a result.
    latencies: Vec<Duration>,
    /// Error replies, by error code.
    errors: BTreeMap<String, u64>,
    /// Sockets that failed, and how.
    failures: Vec<String>,
}

/// The stable code of a JSON-RPC error object (`data.code`), or its numeric code.
fn error_code(error: &Value) -> String {
    match error["data"]["code"].as_str() {
        Some(code) => code.to_owned(),
        None => error["code"].to_string(),
    }
}

pub async fn run(args: RequestsArgs) -> anyhow::Result<()> {
    let params: Value = serde_json::from_str(&args.params)
        .map_err(|e| anyhow::anyhow!("--params is not JSON: {e}"))?;
    let http = reqwest::Client::new();
    let mut sockets = Vec::with_capacity(args.clients as usize);
    for _ in 0..args.clients {
        let account = client::register_and_login(&http, &args.url).await?;
        let url = client::socket_url(&args.url, &account.access_token)?;
        sockets.push(RpcSocket::connect(&url).await?);
    }
    eprintln!(
        "{} connected; calling {} for {:?}",
        plural(args.clients, "client"),
        args.method,
        args.duration
    );
    let started = Instant::now();
    let until = started + args.duration;
    let mut clients = JoinSet::new();
    for mut socket in sockets {
        let (method, params) = (args.method.clone(), params.clone());
        clients.spawn(async move {
            let mut measured = Measured::default();
            while Instant::now() < until {
                let sent = Instant::now();
                match socket.reply(&method, Some(params.clone())).await {
                    Ok(Ok(_)) => measured.latencies.push(sent.elapsed()),
                    Ok(Err(error)) => *measured.errors.entry(error_code(&error)).or_default() += 1,
                    Err(error) => {
                        measured.failures.push(error.to_string());
                        break;
                    }
                }
            }
            let _ = socket.close(Duration::from_secs(5)).await;
            measured
        });
    }
    let mut all = Measured::default();
    while let Some(measured) = clients.join_next().await {
        let measured = measured?;
        all.latencies.extend(measured.latencies);
        for (code, n) in measured.errors {
            *all.errors.entry(code).or_default() += n;
        }
        all.failures.extend(measured.failures);
    }
    let elapsed = started.elapsed();
    report(&args, &all, elapsed);
    let errors: u64 = all.errors.values().sum();
    if errors > 0 || !all.failures.is_empty() {
        anyhow::bail!(
            "{errors} calls answered an error, {} sockets failed",
            all.failures.len()
        );
    }
    Ok(())
}

fn report(args: &RequestsArgs, measured: &Measured, elapsed: Duration) {
    let calls = measured.latencies.len();
    println!("method        {}", args.method);
    println!("clients       {}", args.clients);
    println!("calls ok      {}", thousands(calls as f64));
    println!(
        "throughput    {} calls/s",
        thousands(calls as f64 / elapsed.as_secs_f64())
    );
    if let Some(percentiles) = Percentiles::of(measured.latencies.clone()) {
        println!("latency       {percentiles}");
    }
    let errors: u64 = measured.errors.values().sum();
    println!("errors        {errors}");
    for (code, n) in &measured.errors {
        println!("  {code:<20} {n}");
    }
    println!("sockets lost  {}", measured.failures.len());
    for failure in measured.failures.iter().take(5) {
        println!("  {failure}");
    }
}

/// "1 client", "50 clients".
fn plural(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
