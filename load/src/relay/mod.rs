//! `warren-load relay`: the relay workload of the side-by-side benchmark (Warren beside Colyseus,
//! `relay-warren.js` in the shared perf tooling), from a client that costs little CPU of its own.
//!
//! `--players` users register, then log in, `--auth-concurrency` at a time (argon2id is slow by
//! design, so these are timed apart from the rest), and each opens one WebSocket. They are seated
//! in relay sessions of `--per-session` players, `--join-batch` players at a time: through public
//! rooms (`rooms.create`, `rooms.join`, everyone `rooms.ready`, then `session.started`) or through
//! the matchmaker (`matchmaker.start`, then `match.found`). Each calls `sessions.join`. Then every
//! player sends `--commands` relay commands, all players at once, each one at a time:
//! `sessions.command {session_id, command: {"mk": "<run>:<player>:<n>"}}`. A command is complete
//! when its sender receives the `session.state` that carries its marker, not at the reply: what a
//! relay is for is delivery to the players. Its round trip runs from sending to that event.
//!
//! Error replies are counted by their stable code (`data.code`), a command with no state within
//! `--step-timeout` as `no_state`, a step of the setup with no answer as `no_answer`, a socket
//! that drops as `socket_lost` (its player sends nothing more). Any error fails the run, after
//! the report.

mod player;
mod report;
mod seating;

use crate::client;
use crate::cpu::{cpu_of, cpu_time, load_average};
use crate::{parse_duration, system};
use player::{Errors, Failure, Recruit, connect, play};
use report::{Measured, report};
use reqwest::Url;
use seating::seat;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Sockets being opened, or joining their session, at the same time: well below the gateway's
/// listen backlog, as the harness does.
const SOCKET_CONCURRENCY: usize = 100;
/// How long one socket's closing handshake may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// A register or login that takes longer has failed (the harness's limit too).
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// How players are put into sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flow {
    /// A public room per session: one player creates it, the others join, everyone readies.
    Rooms,
    /// Every player asks the matchmaker, which groups them.
    Matchmaker,
}

#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// The gateway's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: Url,
    /// Players, each a new user with one WebSocket (rounded up to whole sessions).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    players: u32,
    /// Players in each relay session.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=16))]
    per_session: u32,
    /// Commands each player sends, one at a time.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    commands: u32,
    /// How players are seated: public rooms, or the matchmaker.
    #[arg(long, value_enum, default_value_t = Flow::Rooms)]
    flow: Flow,
    /// The matchmaker region (`--flow matchmaker`).
    #[arg(long, default_value = "eu")]
    region: String,
    /// Registrations, then logins, in flight at once. Each hashes a password with argon2id, which
    /// is slow by design: more at once only queue on the server's cores.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    auth_concurrency: u32,
    /// Players being seated at the same time; batches follow one another.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    join_batch: u32,
    /// Longest wait for one step: a reply, an event, a command's state.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    step_timeout: Duration,
    /// The server's process ids, comma-separated (over RabbitMQ and Redis, add theirs): their
    /// CPU time over the command phase, from /proc, is reported per command.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
}

/// Runs `step` on every item, each in a task of its own, at most `concurrency` at once; the
/// results come in the order the tasks finish.
async fn in_tasks<T, R, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    step: F,
) -> anyhow::Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for item in items {
        // Taken before spawning, so that no more than `concurrency` tasks exist at a time.
        let permit = Arc::clone(&gate).acquire_owned().await?;
        let work = step(item);
        tasks.spawn(async move {
            let result = work.await;
            drop(permit);
            result
        });
    }
    let mut results = Vec::new();
    while let Some(result) = tasks.join_next().await {
        results.push(result?);
    }
    Ok(results)
}

pub async fn run(args: RelayArgs) -> anyhow::Result<()> {
    let per_session = args.per_session;
    let players = args.players.div_ceil(per_session) * per_session;
    if players != args.players {
        eprintln!(
            "note: players rounded up to {players} ({per_session} per session) from {}",
            args.players
        );
    }
    system::check(players as usize)?;
    if !args.server_pid.is_empty() {
        cpu_time(&args.server_pid)?;
    }
    let run_id: Arc<str> = uuid::Uuid::new_v4().simple().to_string()[..8].into();
    let password = uuid::Uuid::new_v4().simple().to_string();
    let http = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build()?;
    let timeout = args.step_timeout;
    let mut measured = Measured {
        load_before: load_average(),
        ..Measured::default()
    };
    tracing::info!(players, per_session, run = %run_id, flow = ?args.flow, "registering");

    // Register, then log in: two phases, so that each rate is its own.
    let auth = args.auth_concurrency as usize;
    let names = (0..players).map(|i| (i, format!("relay-{run_id}-{i}")));
    let started = Instant::now();
    let registered = in_tasks(names.collect(), auth, |(index, username)| {
        let (http, base, password) = (http.clone(), args.url.clone(), password.clone());
        async move {
            client::register(&http, &base, &username, &password)
                .await
                .map(|_user_id| (index, username))
                .map_err(|e| Failure::other("register", &e))
        }
    })
    .await?;
    measured.register = started.elapsed();
    let registered = keep_ok(registered, &mut measured.errors);
    measured.registered = registered.len();

    tracing::info!(registered = registered.len(), "logging in");
    let started = Instant::now();
    let recruits = in_tasks(registered, auth, |(index, username)| {
        let (http, base, password) = (http.clone(), args.url.clone(), password.clone());
        async move {
            match client::login(&http, &base, &username, &password).await {
                Ok(access_token) => Ok(Recruit {
                    index,
                    username,
                    access_token,
                }),
                Err(error) => Err(Failure::other("login", &error)),
            }
        }
    })
    .await?;
    measured.login = started.elapsed();
    let recruits = keep_ok(recruits, &mut measured.errors);
    measured.logged_in = recruits.len();

    tracing::info!(players = recruits.len(), "connecting");
    let started = Instant::now();
    let connected = in_tasks(recruits, SOCKET_CONCURRENCY, |recruit| {
        let base = args.url.clone();
        async move { connect(&base, recruit, timeout).await }
    })
    .await?;
    measured.connect = started.elapsed();
    let mut connected = keep_ok(connected, &mut measured.errors);
    measured.connected = connected.len();
    // Seated in the order they registered, so that a session's players are neighbours.
    connected.sort_by_key(|player| player.index);

    tracing::info!(players = connected.len(), flow = ?args.flow, "seating");
    let (seated, seat) = seat(connected, &args, &mut measured.errors).await?;
    measured.seat = seat;
    let (seated, unseated): (Vec<_>, Vec<_>) = seated
        .into_iter()
        .partition(|player| player.session_id.is_some());
    measured.seated = seated.len();

    let started = Instant::now();
    let joined = in_tasks(seated, SOCKET_CONCURRENCY, |mut player| async move {
        let params = json!({ "session_id": player.session_id });
        let joined = player.call("sessions.join", params, timeout).await;
        (player, joined.err())
    })
    .await?;
    measured.join = started.elapsed();
    let mut playing = Vec::with_capacity(joined.len());
    let mut idle = unseated;
    for (mut player, failure) in joined {
        match failure {
            Some(failure) => {
                measured.errors.record(&failure);
                idle.push(player);
            }
            None => {
                // What setup left unread is not wanted now.
                player.events = Vec::new();
                playing.push(player);
            }
        }
    }
    measured.joined = playing.len();

    tracing::info!(
        players = playing.len(),
        commands = args.commands,
        "sending commands"
    );
    let cpu_before = server_cpu(&args.server_pid);
    let own_before = cpu_of("/proc/self/stat").ok();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for player in playing {
        tasks.spawn(play(player, Arc::clone(&run_id), args.commands, timeout));
    }
    let mut finished = Vec::new();
    while let Some(played) = tasks.join_next().await {
        finished.push(played?);
    }
    measured.commands = started.elapsed();
    measured.server_cpu = match (cpu_before, server_cpu(&args.server_pid)) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    measured.own_cpu = match (own_before, cpu_of("/proc/self/stat").ok()) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    measured.load_after = load_average();
    for played in finished {
        measured.round_trips.extend(played.round_trips);
        measured.errors.merge(played.errors);
        idle.push(played.player);
    }
    measured.sockets_lost = measured
        .errors
        .by_kind
        .get("socket_lost")
        .copied()
        .unwrap_or(0) as usize;

    report(&args, players, &measured);

    in_tasks(idle, SOCKET_CONCURRENCY, |player| async move {
        if let Err(error) = player.socket.close(CLOSE_TIMEOUT).await {
            tracing::debug!(player = player.index, error = %format!("{error:#}"), "unclean close");
        }
    })
    .await?;

    let errors = measured.errors.total();
    if errors > 0 {
        anyhow::bail!("{errors} errors");
    }
    Ok(())
}

/// The oks; each failure is recorded.
fn keep_ok<T>(results: Vec<Result<T, Failure>>, errors: &mut Errors) -> Vec<T> {
    results
        .into_iter()
        .filter_map(|result| result.map_err(|failure| errors.record(&failure)).ok())
        .collect()
}

/// The servers' CPU time, if asked for and readable.
fn server_cpu(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    cpu_time(pids)
        .map_err(|error| tracing::warn!(error = %format!("{error:#}"), "server CPU time"))
        .ok()
}
