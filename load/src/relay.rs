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

use crate::client::{self, Incoming, RpcSocket};
use crate::cpu::{cpu_of, cpu_time, load_average};
use crate::stats::{self, Percentiles, thousands};
use crate::{parse_duration, system};
use futures_util::future::try_join_all;
use reqwest::Url;
use serde_json::{Value, json};
use std::collections::BTreeMap;
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
/// Error details kept for the report, as examples of what went wrong.
const EXAMPLES: usize = 5;

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

/// Why a step failed.
#[derive(Debug)]
enum Failure {
    /// The gateway answered with an error object.
    Refused { method: &'static str, error: Value },
    /// No answer within the step timeout; `kind` says which wait (`no_state`, `no_answer`).
    Silent { kind: &'static str, waiting: String },
    /// The socket ended.
    Lost(String),
    /// Anything else: HTTP auth, connecting, an answer of the wrong shape.
    Other { kind: &'static str, detail: String },
}

impl Failure {
    /// What the report counts it as.
    fn kind(&self) -> String {
        match self {
            Failure::Refused { error, .. } => client::error_code(error),
            Failure::Silent { kind, .. } | Failure::Other { kind, .. } => (*kind).to_owned(),
            Failure::Lost(_) => "socket_lost".to_owned(),
        }
    }

    fn detail(&self) -> String {
        match self {
            Failure::Refused { method, error } => format!("{method} answered {error}"),
            Failure::Silent { waiting, .. } => format!("nothing within the timeout: {waiting}"),
            Failure::Lost(reason) => format!("socket lost: {reason}"),
            Failure::Other { detail, .. } => detail.clone(),
        }
    }

    fn other(kind: &'static str, error: &anyhow::Error) -> Self {
        Failure::Other {
            kind,
            detail: format!("{kind}: {error:#}"),
        }
    }
}

/// Failures counted by kind, with the first few as examples.
#[derive(Debug, Default)]
struct Errors {
    by_kind: BTreeMap<String, u64>,
    examples: Vec<String>,
}

impl Errors {
    fn record(&mut self, failure: &Failure) {
        *self.by_kind.entry(failure.kind()).or_default() += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(failure.detail());
        }
    }

    fn merge(&mut self, other: Errors) {
        for (kind, n) in other.by_kind {
            *self.by_kind.entry(kind).or_default() += n;
        }
        let room = EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }

    fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
}

/// A registered user, before connecting.
#[derive(Debug)]
struct Recruit {
    index: u32,
    username: String,
    access_token: String,
}

/// A connected player.
#[derive(Debug)]
struct Player {
    index: u32,
    socket: RpcSocket,
    session_id: Option<String>,
    /// Events read while waiting for something else, for a later wait. Setup only: during the
    /// commands, events other than the awaited state are dropped.
    events: Vec<Value>,
}

impl Player {
    /// Calls `method`, keeping the events that arrive before its reply.
    async fn call(
        &mut self,
        method: &'static str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let deadline = tokio::time::Instant::now() + timeout;
        let waiting = || format!("the reply to {method}");
        let id = within(deadline, waiting, self.socket.send(method, Some(params))).await?;
        loop {
            match within(deadline, waiting, self.socket.receive()).await? {
                Incoming::Reply { id: got, outcome } if got == id => {
                    return outcome.map_err(|error| Failure::Refused { method, error });
                }
                Incoming::Reply { .. } => {}
                Incoming::Event(event) => self.events.push(event),
            }
        }
    }

    /// The next event of type `kind` (one read earlier, or the next to come); other events are
    /// kept.
    async fn event(&mut self, kind: &str, timeout: Duration) -> Result<Value, Failure> {
        if let Some(at) = self.events.iter().position(|e| e["type"] == kind) {
            return Ok(self.events.remove(at));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let index = self.index;
        let waiting = || format!("{kind} for player {index}");
        loop {
            match within(deadline, waiting, self.socket.receive()).await? {
                Incoming::Event(event) if event["type"] == kind => return Ok(event),
                Incoming::Event(event) => self.events.push(event),
                Incoming::Reply { .. } => {}
            }
        }
    }

    /// Sends one relay command and waits for the state that carries `marker`.
    async fn command(
        &mut self,
        session_id: &str,
        marker: &str,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let deadline = tokio::time::Instant::now() + timeout;
        let waiting = || format!("the state of command {marker}");
        let params = json!({ "session_id": session_id, "command": { "mk": marker } });
        let method = "sessions.command";
        let send = self.socket.send(method, Some(params));
        let id = within_as("no_state", deadline, waiting, send).await?;
        loop {
            match within_as("no_state", deadline, waiting, self.socket.receive()).await? {
                Incoming::Reply {
                    id: got,
                    outcome: Err(error),
                } if got == id => return Err(Failure::Refused { method, error }),
                Incoming::Event(event) if is_state_with(&event, session_id, marker) => {
                    return Ok(());
                }
                Incoming::Reply { .. } | Incoming::Event(_) => {}
            }
        }
    }
}

/// `step` within `deadline`: a timeout is `no_answer`, a failed socket `socket_lost`.
async fn within<T>(
    deadline: tokio::time::Instant,
    waiting: impl Fn() -> String,
    step: impl Future<Output = anyhow::Result<T>>,
) -> Result<T, Failure> {
    within_as("no_answer", deadline, waiting, step).await
}

async fn within_as<T>(
    kind: &'static str,
    deadline: tokio::time::Instant,
    waiting: impl Fn() -> String,
    step: impl Future<Output = anyhow::Result<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout_at(deadline, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Failure::Lost(format!("{error:#}"))),
        Err(_) => Err(Failure::Silent {
            kind,
            waiting: waiting(),
        }),
    }
}

/// Whether `event` is the `session.state` of `session_id` whose state carries `marker` (as the
/// `mk` of an object anywhere in it: the relay's state holds the last command as it was sent).
fn is_state_with(event: &Value, session_id: &str, marker: &str) -> bool {
    event["type"] == "session.state"
        && event["data"]["session_id"] == session_id
        && carries(&event["data"]["state"], marker)
}

fn carries(value: &Value, marker: &str) -> bool {
    match value {
        Value::Object(fields) => {
            fields.get("mk").and_then(Value::as_str) == Some(marker)
                || fields.values().any(|v| carries(v, marker))
        }
        Value::Array(items) => items.iter().any(|v| carries(v, marker)),
        _ => false,
    }
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

/// Seats a group in one session through a public room it makes for itself.
async fn seat_in_room(group: &mut [Player], timeout: Duration) -> Result<(), Failure> {
    let size = group.len();
    let Some((owner, others)) = group.split_first_mut() else {
        return Ok(());
    };
    let params = json!({ "mode": "relay", "max_players": size });
    let room = owner.call("rooms.create", params, timeout).await?;
    let room_id = room["room_id"]
        .as_str()
        .ok_or_else(|| Failure::Other {
            kind: "bad_answer",
            detail: format!("rooms.create answered without a room_id: {room}"),
        })?
        .to_owned();
    try_join_all(others.iter_mut().map(|player| {
        let params = json!({ "room_id": room_id });
        player.call("rooms.join", params, timeout)
    }))
    .await?;
    // Everyone readies at once; the last ready starts the session, and session.started may come
    // before a player's own ready is answered (it is kept for the wait that follows).
    let sessions = try_join_all(group.iter_mut().map(|player| {
        let params = json!({ "room_id": room_id, "ready": true });
        async move {
            player.call("rooms.ready", params, timeout).await?;
            let started = player.event("session.started", timeout).await?;
            session_of(&started, "session.started")
        }
    }))
    .await?;
    if sessions.windows(2).any(|pair| pair[0] != pair[1]) {
        return Err(Failure::Other {
            kind: "bad_answer",
            detail: format!("one room, several sessions started: {sessions:?}"),
        });
    }
    for (player, session_id) in group.iter_mut().zip(sessions) {
        player.session_id = Some(session_id);
    }
    Ok(())
}

/// Seats one player through the matchmaker.
async fn seat_by_matchmaker(
    player: &mut Player,
    region: &str,
    per_session: u32,
    timeout: Duration,
) -> Result<(), Failure> {
    let params = json!({ "mode": "relay", "region": region, "players_per_match": per_session });
    player.call("matchmaker.start", params, timeout).await?;
    let found = player.event("match.found", timeout).await?;
    player.session_id = Some(session_of(&found, "match.found")?);
    Ok(())
}

fn session_of(event: &Value, kind: &str) -> Result<String, Failure> {
    event["data"]["session_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Failure::Other {
            kind: "bad_answer",
            detail: format!("{kind} without a session_id: {event}"),
        })
}

/// What one player's commands gave.
#[derive(Debug)]
struct Played {
    player: Player,
    round_trips: Vec<Duration>,
    errors: Errors,
}

/// Sends the player's commands one at a time; a lost socket ends them.
async fn play(mut player: Player, run: Arc<str>, commands: u32, timeout: Duration) -> Played {
    let mut errors = Errors::default();
    let mut round_trips = Vec::with_capacity(commands as usize);
    let session_id = player.session_id.clone().unwrap_or_default();
    for n in 0..commands {
        let marker = format!("{run}:{}:{n}", player.index);
        let sent = Instant::now();
        match player.command(&session_id, &marker, timeout).await {
            Ok(()) => round_trips.push(sent.elapsed()),
            Err(failure) => {
                errors.record(&failure);
                if matches!(failure, Failure::Lost(_)) {
                    break;
                }
            }
        }
    }
    Played {
        player,
        round_trips,
        errors,
    }
}

/// How long each phase took, and what the run counted.
#[derive(Debug, Default)]
struct Measured {
    registered: usize,
    register: Duration,
    logged_in: usize,
    login: Duration,
    connected: usize,
    connect: Duration,
    seated: usize,
    /// From the first seating request to the last player seated.
    seat: Duration,
    joined: usize,
    join: Duration,
    round_trips: Vec<Duration>,
    /// The command phase, wall clock.
    commands: Duration,
    server_cpu: Option<Duration>,
    /// This process's CPU time over the command phase: that the client is not the bottleneck.
    own_cpu: Option<Duration>,
    sockets_lost: usize,
    errors: Errors,
    load_before: String,
    load_after: String,
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

async fn connect(base: &Url, recruit: Recruit, timeout: Duration) -> Result<Player, Failure> {
    let url = client::socket_url(base, &recruit.access_token)
        .map_err(|error| Failure::other("connect", &error))?;
    match tokio::time::timeout(timeout, RpcSocket::connect(&url)).await {
        Ok(Ok(socket)) => Ok(Player {
            index: recruit.index,
            socket,
            session_id: None,
            events: Vec::new(),
        }),
        Ok(Err(error)) => Err(Failure::other("connect", &error)),
        Err(_) => Err(Failure::Silent {
            kind: "no_answer",
            waiting: format!("{} connecting", recruit.username),
        }),
    }
}

/// Seats the players, `--join-batch` at a time; returns them all (those seated with their
/// session) and the time from the first request to the last player seated.
async fn seat(
    players: Vec<Player>,
    args: &RelayArgs,
    errors: &mut Errors,
) -> anyhow::Result<(Vec<Player>, Duration)> {
    let timeout = args.step_timeout;
    let per_session = args.per_session as usize;
    // A batch is whole sessions, so that the matchmaker can group every player of it.
    let batch = (args.join_batch as usize).div_ceil(per_session) * per_session;
    let started = Instant::now();
    let mut last_seated = started;
    let mut all = Vec::with_capacity(players.len());
    let mut players = players.into_iter();
    loop {
        let batch: Vec<Player> = players.by_ref().take(batch).collect();
        if batch.is_empty() {
            break;
        }
        let outcomes = match args.flow {
            Flow::Rooms => {
                let mut groups = Vec::new();
                let mut batch = batch.into_iter();
                loop {
                    let group: Vec<Player> = batch.by_ref().take(per_session).collect();
                    if group.is_empty() {
                        break;
                    }
                    groups.push(group);
                }
                let at_once = groups.len();
                in_tasks(groups, at_once, |mut group| async move {
                    let seated = if group.len() == per_session {
                        seat_in_room(&mut group, timeout).await
                    } else {
                        Err(Failure::Other {
                            kind: "not_seated",
                            detail: format!("{} players left over", group.len()),
                        })
                    };
                    (group, seated, Instant::now())
                })
                .await?
            }
            Flow::Matchmaker => {
                let region: Arc<str> = args.region.as_str().into();
                let per_session = args.per_session;
                let at_once = batch.len();
                in_tasks(batch, at_once, |mut player| {
                    let region = Arc::clone(&region);
                    async move {
                        let seated =
                            seat_by_matchmaker(&mut player, &region, per_session, timeout).await;
                        (vec![player], seated, Instant::now())
                    }
                })
                .await?
            }
        };
        for (group, seated, at) in outcomes {
            match seated {
                Ok(()) => last_seated = last_seated.max(at),
                Err(failure) => errors.record(&failure),
            }
            all.extend(group);
        }
    }
    Ok((all, last_seated.duration_since(started)))
}

fn report(args: &RelayArgs, players: u32, measured: &Measured) {
    let flow = match args.flow {
        Flow::Rooms => "public rooms",
        Flow::Matchmaker => "the matchmaker",
    };
    let per_session = args.per_session;
    let rate = |n: usize, took: Duration| n as f64 / took.as_secs_f64().max(1e-9);
    let secs = |took: Duration| format!("{:.2} s", took.as_secs_f64());
    let expected = u64::from(players) * u64::from(args.commands);
    let completed = measured.round_trips.len();
    println!(
        "warren-load relay: {players} players in sessions of {per_session} through {flow}, \
         {} commands each, to {}",
        args.commands, args.url
    );
    println!("players       {players}");
    println!(
        "sessions      {}",
        measured.joined / per_session.max(1) as usize
    );
    println!(
        "register      {} in {} ({:.1}/s, {} at a time)",
        measured.registered,
        secs(measured.register),
        rate(measured.registered, measured.register),
        args.auth_concurrency
    );
    println!(
        "login         {} in {} ({:.1}/s)",
        measured.logged_in,
        secs(measured.login),
        rate(measured.logged_in, measured.login)
    );
    println!(
        "connect       {} in {}",
        measured.connected,
        secs(measured.connect)
    );
    println!(
        "seated        {} in {} ({} joins/s; with connecting, {} joins/s)",
        measured.seated,
        secs(measured.seat),
        thousands(rate(measured.seated, measured.seat)),
        thousands(rate(measured.seated, measured.seat + measured.connect))
    );
    println!(
        "sessions.join {} in {}",
        measured.joined,
        secs(measured.join)
    );
    println!(
        "commands ok   {} of {}",
        thousands(completed as f64),
        thousands(expected as f64)
    );
    println!("wall time     {}", secs(measured.commands));
    println!(
        "throughput    {} commands/s",
        thousands(rate(completed, measured.commands))
    );
    if let Some(percentiles) = Percentiles::of(measured.round_trips.clone()) {
        println!("round trip    {percentiles}");
    }
    if let Some(cpu) = measured.server_cpu {
        let per_command = match completed {
            0 => "no commands".to_owned(),
            n => format!("{:.1} µs per command", cpu.as_secs_f64() * 1e6 / n as f64),
        };
        let pids: Vec<String> = args.server_pid.iter().map(u32::to_string).collect();
        println!(
            "server CPU    {} over the commands, {per_command} (pids {})",
            stats::millis(cpu),
            pids.join(",")
        );
    }
    if let Some(cpu) = measured.own_cpu {
        println!(
            "client CPU    {} over the commands (this load generator)",
            stats::millis(cpu)
        );
    }
    println!(
        "load average  {} before, {} after the commands",
        measured.load_before, measured.load_after
    );
    println!("errors        {}", measured.errors.total());
    for (kind, n) in &measured.errors.by_kind {
        println!("  {kind:<20} {n}");
    }
    println!("sockets lost  {}", measured.sockets_lost);
    for example in &measured.errors.examples {
        println!("  e.g. {example}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_carries_a_marker_only_as_it_was_sent() {
        let event = |command: Value| {
            json!({"seq": 9, "type": "session.state", "data": {
                "session_id": "s1", "version": 3,
                "state": {"from": "u1", "command": command, "players": ["u1", "u2"], "over": false}
            }})
        };
        assert!(is_state_with(&event(json!({"mk": "r:1:1"})), "s1", "r:1:1"));
        // :1 is not :10, and the marker is the sender's, not merely some text.
        assert!(!is_state_with(
            &event(json!({"mk": "r:1:10"})),
            "s1",
            "r:1:1"
        ));
        assert!(!is_state_with(&event(json!("r:1:1")), "s1", "r:1:1"));
        assert!(!is_state_with(
            &event(json!({"mk": "r:1:1"})),
            "s2",
            "r:1:1"
        ));
        let mut other = event(json!({"mk": "r:1:1"}));
        other["type"] = json!("session.started");
        assert!(!is_state_with(&other, "s1", "r:1:1"));
        // Wherever a reworked state keeps its commands.
        let log = event(Value::Null);
        let mut log = log;
        log["data"]["state"]["log"] = json!([{"from": "u1", "command": {"mk": "r:1:1"}}]);
        assert!(is_state_with(&log, "s1", "r:1:1"));
    }

    #[test]
    fn errors_are_counted_by_kind_with_a_few_examples() {
        let mut errors = Errors::default();
        for _ in 0..4 {
            errors.record(&Failure::Refused {
                method: "sessions.command",
                error: json!({"code": -32000, "data": {"code": "rate_limited"}}),
            });
        }
        let mut more = Errors::default();
        more.record(&Failure::Silent {
            kind: "no_state",
            waiting: "r:1:1".into(),
        });
        more.record(&Failure::Lost("closed".into()));
        more.record(&Failure::Lost("closed".into()));
        errors.merge(more);
        assert_eq!(errors.total(), 7);
        assert_eq!(errors.by_kind["rate_limited"], 4);
        assert_eq!(errors.by_kind["no_state"], 1);
        assert_eq!(errors.by_kind["socket_lost"], 2);
        assert_eq!(errors.examples.len(), EXAMPLES);
    }
}
