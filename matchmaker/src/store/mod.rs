//! Where tickets and matches live: a small trait with an in-memory and a Redis implementation.
//!
//! A ticket goes through four states. `Pending` while its user is being claimed in `accounts`
//! (it holds the user, so `matchmaker.holds` says yes, but it cannot be matched); `Waiting` in its
//! pool, where matching passes find it; `Matching` once a pass has taken it into a match whose
//! session is being made; `Matched` once that session exists. Every change to a pool's tickets
//! and the matches made of them is one atomic step of the store, so two instances over one store
//! never see half of one. The step that matters most is [`TicketStore::take`]: a group is taken
//! whole or not at all, which is what keeps a ticket out of two matches even when two instances
//! work one pool at once. What leads to them (a user's ticket, the list of pools, the expiry and
//! due schedules) may, in Redis, be written apart (before what needs it, removed after): it is
//! never missing, may name what is gone, and every reader checks (see the Redis store). A user
//! still has one ticket at most.
//!
//! A match is a record of its own ([`MatchRecord`]) from the take until it is done, and it is the
//! match's outbox: which tickets, which players, the session once made, and how far the steps
//! after it got. Whoever advances a match (the instance that took it, or any sweeper once it is
//! due) reads there what is left to do; every step is idempotent, so doing one twice is harmless.
//! A match that has made its session is never undone: only a match refused a session puts its
//! tickets back.
//!
//! Besides tickets the store keeps the per-pool leases that let one instance work a pool at a
//! time (an optimisation: `take` is the guarantee), and what each gateway last said of each user.

mod memory;
mod redis;

pub use memory::MemoryStore;
pub use redis::RedisStore;

use crate::pool::{Waiting, Window};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use warren_contracts::matchmaker::{CancelReason, SearchState, Ticket};

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Stored, its user being claimed; not matchable yet.
    #[default]
    Pending,
    /// In its pool, matchable.
    Waiting,
    /// Taken into a match whose session is being made.
    Matching,
    /// In a match whose session exists; gone once the players were told.
    Matched,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Pending => "pending",
            TicketStatus::Waiting => "waiting",
            TicketStatus::Matching => "matching",
            TicketStatus::Matched => "matched",
        }
    }

    /// How the player sees it.
    pub fn state(self) -> SearchState {
        match self {
            TicketStatus::Pending | TicketStatus::Waiting => SearchState::Searching,
            TicketStatus::Matching => SearchState::Matching,
            TicketStatus::Matched => SearchState::Matched,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(TicketStatus::Pending),
            "waiting" => Some(TicketStatus::Waiting),
            "matching" => Some(TicketStatus::Matching),
            "matched" => Some(TicketStatus::Matched),
            _ => None,
        }
    }
}

/// A ticket and what only the service needs to know about it. The search itself never changes
/// after the ticket is made; `status`, `match_id`, `session_id` and `leaving` change as it is
/// matched, and are kept apart from the rest in Redis (so they are not part of the serialised
/// form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketRecord {
    pub ticket_id: String,
    pub user_id: String,
    pub mode: String,
    pub region: String,
    pub players_per_match: u32,
    pub rating: f64,
    /// When the search started (Unix ms); waiting time counts from here, across put-backs.
    pub created_at: u64,
    /// When a waiting (or pending) ticket runs out (Unix ms).
    pub expires_at: u64,
    #[serde(skip)]
    pub status: TicketStatus,
    /// While `Matching` or `Matched`: the match it was taken into.
    #[serde(skip)]
    pub match_id: Option<String>,
    /// While `Matched`: the session its match made.
    #[serde(skip)]
    pub session_id: Option<String>,
    /// While `Matching`: the player cancelled or disconnected meanwhile, so if the match makes
    /// no session the ticket ends (the player told why) instead of waiting again.
    #[serde(skip)]
    pub leaving: Option<CancelReason>,
}

impl TicketRecord {
    /// The pool the ticket waits in: tickets match only within one.
    pub fn pool(&self) -> String {
        pool_key(&self.mode, &self.region, self.players_per_match)
    }

    /// How a waiting ticket shows in its pool: `rating|created_at`, all a pass needs.
    pub fn entry(&self) -> String {
        format!("{}|{}", self.rating, self.created_at)
    }

    /// The ticket as the matching rules see it.
    pub fn waiting(&self) -> Waiting {
        Waiting {
            ticket_id: self.ticket_id.clone(),
            rating: self.rating,
            created_at: self.created_at,
        }
    }

    /// The ticket as its player sees it, with the rating window at `now`.
    pub fn to_ticket(&self, window: &Window, now: u64) -> Ticket {
        Ticket {
            ticket_id: self.ticket_id.clone(),
            user_id: self.user_id.clone(),
            mode: self.mode.clone(),
            region: self.region.clone(),
            players_per_match: self.players_per_match,
            rating: self.rating,
            created_at: self.created_at,
            expires_at: self.expires_at,
            window: window.at(now.saturating_sub(self.created_at)),
            state: self.status.state(),
            session_id: self.session_id.clone(),
        }
    }
}

/// One match, from the take of its tickets until its players were told: what is decided and
/// what is done. The group itself never changes; `session_id`, `handed_over`, `announced` and
/// `due` change as it is advanced, and are kept apart from the rest in Redis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchRecord {
    pub match_id: String,
    pub pool: String,
    pub mode: String,
    pub region: String,
    /// The tickets, in seat order.
    pub tickets: Vec<String>,
    /// Their players, in the same order.
    pub players: Vec<String>,
    /// When each ticket's search started (Unix ms), in the same order: for the waiting times.
    pub searching_since: Vec<u64>,
    /// The session made for it, once made: from then on the match only goes forward.
    #[serde(skip)]
    pub session_id: Option<String>,
    /// The players' claims in `accounts` were moved from their tickets to the session.
    #[serde(skip)]
    pub handed_over: bool,
    /// `match.found` reached the journal and the broker.
    #[serde(skip)]
    pub announced: bool,
    /// When a sweeper should advance it, in case nobody else does (Unix ms).
    #[serde(skip)]
    pub due: u64,
    /// Done: its tickets are gone and it is kept a while only so that a cancel waiting on it
    /// learns which session it made.
    #[serde(skip)]
    pub done: bool,
}

impl MatchRecord {
    /// The request id its `sessions.create` is made under, every time: sessions makes one
    /// session per request id, so a retry finds the session an earlier try made.
    pub fn session_request(&self) -> String {
        format!("match:{}", self.match_id)
    }
}

/// What [`TicketStore::abandon`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Abandoned {
    /// The match is gone. `back` wait in their pool again, as they were before the take; `ended`
    /// were leaving (their players cancelled or disconnected meanwhile) and are removed, their
    /// players to be told why.
    Undone {
        back: Vec<TicketRecord>,
        ended: Vec<TicketRecord>,
    },
    /// The match has a session: it goes ahead, and nothing changed.
    HasSession,
    /// There is no such match (undone or done already).
    Missing,
}

/// The name of the pool of tickets for `mode` in `region` with `players_per_match` players.
/// Regions have no `|`, and the count is last, so the name reads back unambiguously.
pub fn pool_key(mode: &str, region: &str, players_per_match: u32) -> String {
    format!("{mode}|{region}|{players_per_match}")
}

/// Reads a pool entry (see [`TicketRecord::entry`]) back.
pub(crate) fn parse_entry(ticket_id: &str, entry: &str) -> Result<Waiting, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("pool entry {entry:?} of ticket {ticket_id}"));
    let (rating, created_at) = entry.split_once('|').ok_or_else(corrupt)?;
    Ok(Waiting {
        ticket_id: ticket_id.to_owned(),
        rating: rating.parse().map_err(|_| corrupt())?,
        created_at: created_at.parse().map_err(|_| corrupt())?,
    })
}

/// What [`TicketStore::remove`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Removal {
    /// Removed; the ticket as it was.
    Removed(TicketRecord),
    /// Left alone: its status was not one of those allowed. A `Matching` ticket is marked as
    /// leaving, if a reason was given: it ends if its match makes no session.
    Kept(TicketRecord),
    /// There is no such ticket.
    Missing,
}

/// How long a done match is kept for those waiting on it.
pub const DONE_KEPT_MS: u64 = 60_000;

/// A step of a match after its session, noted so that it is not done again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    HandedOver,
    Announced,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached now; the caller gets `unavailable`, a consumer retries.
    #[error("ticket store unavailable: {0}")]
    Unavailable(String),
    /// Something stored that cannot be read back.
    #[error("corrupt ticket data: {0}")]
    Corrupt(String),
}

#[async_trait::async_trait]
pub trait TicketStore: Send + Sync {
    /// Stores `ticket` as `Pending`, unless its user has a ticket already: then nothing changes
    /// and the answer is that ticket's id.
    async fn add(&self, ticket: &TicketRecord) -> Result<Option<String>, StoreError>;

    async fn get(&self, ticket_id: &str) -> Result<Option<TicketRecord>, StoreError>;

    /// The user's ticket, in whatever state.
    async fn find_user(&self, user_id: &str) -> Result<Option<TicketRecord>, StoreError>;

    /// `Pending` → `Waiting`: the ticket joins its pool. `false` if it is not pending (removed
    /// meanwhile).
    async fn activate(&self, ticket_id: &str) -> Result<bool, StoreError>;

    /// Removes the ticket if its status is one of `allowed`. A `Matching` ticket that is kept is
    /// marked with `leaving`, if given.
    async fn remove(
        &self,
        ticket_id: &str,
        allowed: &[TicketStatus],
        leaving: Option<CancelReason>,
    ) -> Result<Removal, StoreError>;

    /// The pools that have waiting tickets.
    async fn pools(&self) -> Result<Vec<String>, StoreError>;

    /// The waiting tickets of `pool`, in no particular order.
    async fn waiting(&self, pool: &str) -> Result<Vec<Waiting>, StoreError>;

    /// How many tickets wait in each pool that has any.
    async fn queue_lengths(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Takes the lease on `pool` for `holder` for `ttl`, if nobody holds it.
    async fn lease(&self, pool: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives the lease back, if `holder` still holds it.
    async fn release_lease(&self, pool: &str, holder: &str) -> Result<(), StoreError>;

    /// Takes a group of tickets into a new match: if every one of `new.tickets` is still waiting
    /// in `new.pool`, all become `Matching` for it and the match is stored, due at `new.due`,
    /// and the tickets come back in the order asked; otherwise nothing changes and the answer is
    /// `None`.
    async fn take(&self, new: &MatchRecord) -> Result<Option<Vec<TicketRecord>>, StoreError>;

    async fn get_match(&self, match_id: &str) -> Result<Option<MatchRecord>, StoreError>;

    /// Records the session made for the match on it and on each of its tickets (now `Matched`),
    /// once: a second call with the same session changes nothing. The match as it is now, and
    /// whether this call recorded it; `None` if there is no such match.
    async fn record_session(
        &self,
        match_id: &str,
        session_id: &str,
    ) -> Result<Option<(MatchRecord, bool)>, StoreError>;

    /// Notes that the match's claims were handed over, or that its players were told.
    async fn note(&self, match_id: &str, step: Step) -> Result<(), StoreError>;

    /// The match is made and its players told: its tickets go, and it is kept, done, for
    /// [`DONE_KEPT_MS`].
    async fn complete(&self, match_id: &str) -> Result<(), StoreError>;

    /// The match got no session and never will: its tickets wait again, those whose players left
    /// meanwhile end, and the match goes. Refused (nothing changes) once it has a session.
    async fn abandon(&self, match_id: &str) -> Result<Abandoned, StoreError>;

    /// When a sweeper should look at the match next (Unix ms).
    async fn defer(&self, match_id: &str, due: u64) -> Result<(), StoreError>;

    /// Up to `limit` matches due by `now`: their instance failed a step, or died. Each is given
    /// to one caller, which gets until `retry_at` before it is handed out again.
    async fn take_due(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<MatchRecord>, StoreError>;

    /// Removes up to `limit` pending or waiting tickets whose time ran out by `now` and returns
    /// them; each goes to one caller only, so several instances can sweep at once.
    async fn take_expired(&self, now: u64, limit: usize) -> Result<Vec<TicketRecord>, StoreError>;

    /// Records what `gateway_id` said of `user_id` at `at` (Unix ms); a statement older than the
    /// last one from that gateway is ignored, since events can overtake each other. Whether the
    /// user is online on any gateway afterwards.
    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError>;
}
