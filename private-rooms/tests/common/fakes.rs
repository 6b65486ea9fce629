//! The stand-ins for `sessions` and `accounts`: simple in-memory logic with the contracts of the
//! real ones (sessions derives a session's id from the request id, as the real one does, so a
//! retried create finds its session), and failures on demand.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use warren_bus::{RequestContext, Router};
use warren_contracts::accounts::{self, Account, UserId};
use warren_contracts::activity::{
    Activity, Claim, ClaimMethod, Claimed, HandOver, HandOverMethod, Release, ReleaseMethod,
};
use warren_contracts::sessions::{self, GameMode, Modes, NewSession, Session, Status};
use warren_contracts::{Empty, ErrorCode, WireError};

/// What the stand-ins know and were asked.
#[derive(Debug)]
pub struct Fakes {
    /// Users `accounts.get` knows.
    pub accounts: Mutex<HashSet<String>>,
    /// user → the activity that holds them.
    pub claims: Mutex<HashMap<String, Activity>>,
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
            claims: Mutex::default(),
            sessions: Mutex::default(),
            fail_create: AtomicBool::new(false),
            refuse_create: AtomicBool::new(false),
            late_creates: AtomicUsize::new(0),
            creates: AtomicUsize::new(0),
            create_gate: watch::Sender::new(true),
        }
    }

    pub fn claim_of(&self, user: &str) -> Option<Activity> {
        self.claims.lock().unwrap().get(user).cloned()
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }
}

/// The methods the stand-ins serve are for services: like the real ones, they refuse a caller.
fn service_only(ctx: &RequestContext) -> Result<(), WireError> {
    match &ctx.user_id {
        Some(_) => Err(WireError::new(
            ErrorCode::Forbidden,
            format!("{} is not available to clients", ctx.method),
        )),
        None => Ok(()),
    }
}

pub fn accounts_router(fakes: &Arc<Fakes>) -> Router {
    let (get, claim, hand_over, release) = (
        Arc::clone(fakes),
        Arc::clone(fakes),
        Arc::clone(fakes),
        Arc::clone(fakes),
    );
    Router::new(accounts::SERVICE)
        .method::<accounts::Get, _, _>(move |_ctx, params: UserId| {
            let known = get.accounts.lock().unwrap().contains(&params.user_id);
            async move {
                if !known {
                    return Err(WireError::new(ErrorCode::NotFound, "no such account"));
                }
                Ok(Account {
                    user_id: params.user_id.clone(),
                    username: params.user_id,
                    display_name: "player".into(),
                    rating: 1000.0,
                    games_played: 0,
                    games_won: 0,
                })
            }
        })
        .method::<ClaimMethod, _, _>(move |ctx, params: Claim| {
            let answer = service_only(&ctx).map(|()| {
                let mut claims = claim.claims.lock().unwrap();
                match claims.get(&params.user_id) {
                    Some(current)
                        if *current != params.activity
                            && Some(current) != params.replaces.as_ref() =>
                    {
                        Claimed {
                            claimed: false,
                            current: Some(current.clone()),
                        }
                    }
                    _ => {
                        claims.insert(params.user_id, params.activity);
                        Claimed {
                            claimed: true,
                            current: None,
                        }
                    }
                }
            });
            async move { answer }
        })
        .method::<HandOverMethod, _, _>(move |ctx, params: HandOver| {
            let answer = service_only(&ctx).map(|()| {
                let mut claims = hand_over.claims.lock().unwrap();
                for user in params.user_ids {
                    if claims.get(&user).is_none_or(|c| *c == params.from) {
                        claims.insert(user, params.to.clone());
                    }
                }
                Empty {}
            });
            async move { answer }
        })
        .method::<ReleaseMethod, _, _>(move |ctx, params: Release| {
            let answer = service_only(&ctx).map(|()| {
                let mut claims = release.claims.lock().unwrap();
                for user in params.user_ids {
                    if claims.get(&user) == Some(&params.activity) {
                        claims.remove(&user);
                    }
                }
                Empty {}
            });
            async move { answer }
        })
}

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

pub fn sessions_router(fakes: &Arc<Fakes>) -> Router {
    let create = Arc::clone(fakes);
    Router::new(sessions::SERVICE)
        .method::<Modes, _, _>(|_ctx, _params: Empty| async { Ok(modes()) })
        .method::<sessions::Create, _, _>(move |ctx: RequestContext, params: NewSession| {
            let fakes = Arc::clone(&create);
            async move {
                service_only(&ctx)?;
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
                    let mut sessions = fakes.sessions.lock().unwrap();
                    match sessions.iter().find(|s| s.session_id == session_id) {
                        Some(existing) => existing.clone(),
                        None => {
                            let session = Session {
                                session_id,
                                game: params.mode,
                                players: params.players,
                                state: Value::Null,
                                version: 0,
                                status: Status::Running,
                                winner: None,
                            };
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
