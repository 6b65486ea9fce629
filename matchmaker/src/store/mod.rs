//! Where tickets live: a small trait with an in-memory and a Redis implementation.
//!
//! A ticket goes through three states. `Pending` while its user is being claimed in `accounts`
//! (it holds the user, so `matchmaker.holds` says yes, but it cannot be matched); `Waiting` in its
//! pool, where matching passes find it; `Matching` once a pass has taken it into a group whose
//! session is being made. Every change that touches more than one thing (the ticket, the user's
//! index, its pool, the schedules) is one atomic step of the store, so two instances over one
//! store never see half of one. The step that matters most is [`TicketStore::take`]: a group is
//! taken whole or not at all, which is what keeps a ticket out of two matches even when two
//! instances work one pool at once.
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
use warren_contracts::matchmaker::Ticket;

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Stored, its user being claimed; not matchable yet.
    #[default]
    Pending,
    /// In its pool, matchable.
    Waiting,
    /// Taken into a group whose session is being made.
    Matching,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Pending => "pending",
            TicketStatus::Waiting => "waiting",
            TicketStatus::Matching => "matching",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(TicketStatus::Pending),
            "waiting" => Some(TicketStatus::Waiting),
            "matching" => Some(TicketStatus::Matching),
            _ => None,
        }
    }
}

/// A ticket and what only the service needs to know about it. The search itself never changes
/// after the ticket is made; `status`, `deadline` and `takes` change as it is matched, and are
/// kept apart from the rest in Redis (so they are not part of the serialised form).
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
    /// While `Matching`: when the sweeper should look at the ticket in case the instance that
    /// took it died (Unix ms). 0 otherwise.
    #[serde(skip)]
    pub deadline: u64,
    /// How many times the ticket was taken into a match. A put-back names the take it undoes,
    /// so a late one cannot pull a ticket out of a later match.
    #[serde(skip)]
    pub takes: u64,
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
        }
    }
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
    /// Left alone: its status was not one of those allowed.
    Kept(TicketStatus),
    /// There is no such ticket.
    Missing,
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

    /// Removes the ticket if its status is one of `allowed`.
    async fn remove(
        &self,
        ticket_id: &str,
        allowed: &[TicketStatus],
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

    /// Takes a group of `pool`'s tickets into a match: if every one is still waiting, all become
    /// `Matching` with the recovery `deadline` (Unix ms) and come back in the order asked;
    /// otherwise nothing changes and the answer is `None`.
    async fn take(
        &self,
        pool: &str,
        ticket_ids: &[String],
        deadline: u64,
    ) -> Result<Option<Vec<TicketRecord>>, StoreError>;

    /// Puts taken tickets back in their pool as waiting, keeping when they were made, each only
    /// if it is still in the take it was read in (its `takes`). How many went back.
    async fn put_back(&self, tickets: &[TicketRecord]) -> Result<usize, StoreError>;

    /// Removes the tickets, whatever their state: their match is made.
    async fn finish(&self, ticket_ids: &[String]) -> Result<(), StoreError>;

    /// Removes up to `limit` pending or waiting tickets whose time ran out by `now` and returns
    /// them; each goes to one caller only, so several instances can sweep at once.
    async fn take_expired(&self, now: u64, limit: usize) -> Result<Vec<TicketRecord>, StoreError>;

    /// Up to `limit` tickets left `Matching` past their deadline by `now`: an instance died
    /// mid-match. Each is given to one caller, which gets until `retry_at` to settle it before
    /// it is handed out again.
    async fn take_stuck(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<TicketRecord>, StoreError>;

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
