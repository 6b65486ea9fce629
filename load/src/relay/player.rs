//! A relay player's side of the conversation, kept in one place so that the rules of the
//! measurement live together: a command is complete when its state arrives (not at its reply),
//! every wait has a deadline, and each way a step can fail is counted as its own kind.

use crate::client::{self, Incoming, RpcSocket};
use reqwest::Url;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Error details kept for the report, as examples of what went wrong.
const EXAMPLES: usize = 5;

/// Why a step failed.
#[derive(Debug)]
pub(super) enum Failure {
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

    pub(super) fn other(kind: &'static str, error: &anyhow::Error) -> Self {
        Failure::Other {
            kind,
            detail: format!("{kind}: {error:#}"),
        }
    }
}

/// Failures counted by kind, with the first few as examples.
#[derive(Debug, Default)]
pub(super) struct Errors {
    pub(super) by_kind: BTreeMap<String, u64>,
    pub(super) examples: Vec<String>,
}

impl Errors {
    pub(super) fn record(&mut self, failure: &Failure) {
        *self.by_kind.entry(failure.kind()).or_default() += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(failure.detail());
        }
    }

    pub(super) fn merge(&mut self, other: Errors) {
        for (kind, n) in other.by_kind {
            *self.by_kind.entry(kind).or_default() += n;
        }
        let room = EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }

    pub(super) fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
}

/// A registered user, before connecting.
#[derive(Debug)]
pub(super) struct Recruit {
    pub(super) index: u32,
    pub(super) username: String,
    pub(super) access_token: String,
}

/// A connected player.
#[derive(Debug)]
pub(super) struct Player {
    pub(super) index: u32,
    pub(super) socket: RpcSocket,
    pub(super) session_id: Option<String>,
    /// Events read while waiting for something else, for a later wait. Setup only: during the
    /// commands, events other than the awaited state are dropped.
    pub(super) events: Vec<Value>,
}

impl Player {
    /// Calls `method`, keeping the events that arrive before its reply.
    pub(super) async fn call(
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
    pub(super) async fn event(&mut self, kind: &str, timeout: Duration) -> Result<Value, Failure> {
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

/// What one player's commands gave.
#[derive(Debug)]
pub(super) struct Played {
    pub(super) player: Player,
    pub(super) round_trips: Vec<Duration>,
    pub(super) errors: Errors,
}

/// Sends the player's commands one at a time; a lost socket ends them.
pub(super) async fn play(
    mut player: Player,
    run: Arc<str>,
    commands: u32,
    timeout: Duration,
) -> Played {
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

pub(super) async fn connect(
    base: &Url,
    recruit: Recruit,
    timeout: Duration,
) -> Result<Player, Failure> {
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
