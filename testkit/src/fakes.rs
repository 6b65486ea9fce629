//! Stand-ins for `sessions` and `accounts` as the rooms services meet them: simple in-memory logic
//! with the contracts of the real ones (sessions derives a session's id from the request id, as
//! the real one does, so a retried create finds its session), and failures on demand.

use crate::claims::{FakeClaims, serve_claims};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use warren_bus::{RequestContext, Router, lock};
use warren_contracts::accounts::{self, Account, UserId};
use warren_contracts::activity::Activity;
use warren_contracts::sessions::{self, GameMode, Modes, NewSession, Session, Status};
use warren_contracts::{Empty, ErrorCode, WireError};

/// What the stand-ins know and were asked.
#[derive(Debug)]
pub struct Fakes {
    /// Users `accounts.get` knows.
    pub accounts: Mutex<HashSet<String>>,
    /// user → the activity that holds them.
    pub claims: Arc<FakeClaims>,
    /// Every session `sessions.create` made.
    pub sessions: Mutex<Vec<Session>>,
    /// `sessions.create` fails with `unavailable`, having done nothing, while set.
    pub fail_create: AtomicBool,
    /// `sessions.create` refuses for good (`invalid_params`) while set.
    pub refuse_create: AtomicBool,
    /// This many more `sessions.create` make the session and then answer after the caller gave
    /// up: a timeout whose request was applied.
    pub late_creates: AtomicUsize,
    /// How many `sessions.create` were asked.
    pub creates: AtomicUsize,
    /// `sessions.create` waits while this is false.
    pub create_gate: watch::Sender<bool>,
}

impl Fakes {
    pub fn new() -> Self {
        Self {
            accounts: Mutex::default(),
            claims: Arc::default(),
            sessions: Mutex::default(),
            fail_create: AtomicBool::new(false),
            refuse_create: AtomicBool::new(false),
            late_creates: AtomicUsize::new(0),
            creates: AtomicUsize::new(0),
            create_gate: watch::Sender::new(true),
        }
    }

    pub fn claim_of(&self, user: &str) -> Option<Activity> {
        self.claims.of(user)
    }

    pub fn sessions(&self) -> Vec<Session> {
        lock(&self.sessions).clone()
    }
}

impl Default for Fakes {
    fn default() -> Self {
        Self::new()
    }
}

/// `accounts`: `get` for the users in [`Fakes::accounts`], and the claims.
pub fn accounts_router(fakes: &Arc<Fakes>) -> Router {
    let get = Arc::clone(fakes);
    let router = Router::new(accounts::SERVICE).method::<accounts::Get, _, _>(
        move |_ctx, params: UserId| {
            let known = lock(&get.accounts).contains(&params.user_id);
            async move {
                if !known {
                    return Err(WireError::new(ErrorCode::NotFound, "no such account"));
                }
                Ok(account(params.user_id, 1000.0))
            }
        },
    );
    serve_claims(router, &fakes.claims)
}

/// An account as the stand-ins for accounts answer `accounts.get`: a new player's, rated `rating`.
pub fn account(user_id: String, rating: f64) -> Account {
    Account {
        username: user_id.clone(),
        user_id,
        display_name: "player".into(),
        rating,
        games_played: 0,
        games_won: 0,
    }
}

/// A session as the stand-ins for sessions make one: running, with nothing played yet.
pub fn session(session_id: String, params: NewSession) -> Session {
    Session {
        session_id,
        game: params.mode,
        players: params.players,
        state: Value::Null,
        version: 0,
        status: Status::Running,
        winner: None,
    }
}

/// The games the stand-in for sessions runs.
pub fn modes() -> Vec<GameMode> {
    vec![
        GameMode {
            mode: "relay".into(),
            min_players: 1,
            max_players: 64,
        },
        GameMode {
            mode: "tic-tac-toe".into(),
            min_players: 2,
            max_players: 2,
        },
    ]
}

/// `sessions`: `modes`, and `create` as [`Fakes`] is set to answer.
pub fn sessions_router(fakes: &Arc<Fakes>) -> Router {
    let create = Arc::clone(fakes);
    Router::new(sessions::SERVICE)
        .method::<Modes, _, _>(|_ctx, _params: Empty| async { Ok(modes()) })
        .method::<sessions::Create, _, _>(move |ctx: RequestContext, params: NewSession| {
            let fakes = Arc::clone(&create);
            async move {
                ctx.service_only()?;
                fakes.creates.fetch_add(1, Ordering::SeqCst);
                let mut gate = fakes.create_gate.subscribe();
                gate.wait_for(|open| *open).await.unwrap();
                if fakes.refuse_create.load(Ordering::SeqCst) {
                    return Err(WireError::new(ErrorCode::InvalidParams, "no such game"));
                }
                if fakes.fail_create.load(Ordering::SeqCst) {
                    return Err(WireError::new(ErrorCode::Unavailable, "sessions are down"));
                }
                // Like sessions: the id follows from the request id, so a retry finds its session.
                let request_id = ctx
                    .request_id
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let name = format!("{request_id}:{}", params.players.join(","));
                let session_id =
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string();
                let session = {
                    let mut sessions = lock(&fakes.sessions);
                    match sessions.iter().find(|s| s.session_id == session_id) {
                        Some(existing) => existing.clone(),
                        None => {
                            let session = session(session_id, params);
                            sessions.push(session.clone());
                            session
                        }
                    }
                };
                let late = fakes
                    .late_creates
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if late {
                    tokio::time::sleep(ctx.remaining() + Duration::from_millis(200)).await;
                }
                Ok(session)
            }
        })
}
