//! Tickets in this process's memory, for the embedded mode and tests. One lock covers every
//! ticket, pool and schedule, which is what makes each step atomic.

use super::{Removal, StoreError, TicketRecord, TicketStatus, TicketStore};
use crate::pool::Waiting;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Once the presence map holds this many users, those no gateway spoke of for a day are forgotten
/// (as their Redis key would expire); the next clean-up waits until the map has doubled, so the
/// cost stays constant per event.
const PRESENCE_KEPT: usize = 100_000;
const PRESENCE_TTL_MS: u64 = 86_400_000;

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    tickets: HashMap<String, TicketRecord>,
    /// user → their ticket's id
    users: HashMap<String, String>,
    /// pool → the ids of its waiting tickets
    pools: HashMap<String, BTreeSet<String>>,
    /// (expires_at, ticket id) of pending and waiting tickets
    expiry: BTreeSet<(u64, String)>,
    /// (recovery deadline, ticket id) of matching tickets
    matching: BTreeSet<(u64, String)>,
    /// pool → (holder, until)
    leases: HashMap<String, (String, Instant)>,
    /// user → gateway → (when it said so, online)
    presence: HashMap<String, HashMap<String, (u64, bool)>>,
    /// The presence map's size that triggers the next clean-up; 0 means [`PRESENCE_KEPT`].
    presence_prune_at: usize,
}

impl State {
    fn join_pool(&mut self, ticket_id: &str, pool: String) {
        self.pools
            .entry(pool)
            .or_default()
            .insert(ticket_id.to_owned());
    }

    fn leave_pool(&mut self, ticket_id: &str, pool: &str) {
        if let Some(members) = self.pools.get_mut(pool) {
            members.remove(ticket_id);
            if members.is_empty() {
                self.pools.remove(pool);
            }
        }
    }

    /// Removes every trace of the ticket; the ticket as it was.
    fn delete(&mut self, ticket_id: &str) -> Option<TicketRecord> {
        let record = self.tickets.remove(ticket_id)?;
        if self.users.get(&record.user_id).map(String::as_str) == Some(ticket_id) {
            self.users.remove(&record.user_id);
        }
        self.leave_pool(ticket_id, &record.pool());
        self.expiry
            .remove(&(record.expires_at, ticket_id.to_owned()));
        self.matching
            .remove(&(record.deadline, ticket_id.to_owned()));
        Some(record)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every step under this lock completes before it can panic, so a poisoned lock is sound.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl TicketStore for MemoryStore {
    async fn add(&self, ticket: &TicketRecord) -> Result<Option<String>, StoreError> {
        let mut state = lock(&self.state);
        if let Some(existing) = state.users.get(&ticket.user_id) {
            return Ok(Some(existing.clone()));
        }
        let mut record = ticket.clone();
        record.status = TicketStatus::Pending;
        record.deadline = 0;
        record.takes = 0;
        let id = record.ticket_id.clone();
        state.users.insert(record.user_id.clone(), id.clone());
        state.expiry.insert((record.expires_at, id.clone()));
        state.tickets.insert(id, record);
        Ok(None)
    }

    async fn get(&self, ticket_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        Ok(lock(&self.state).tickets.get(ticket_id).cloned())
    }

    async fn find_user(&self, user_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .users
            .get(user_id)
            .and_then(|id| state.tickets.get(id))
            .cloned())
    }

    async fn activate(&self, ticket_id: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(record) = state.tickets.get_mut(ticket_id) else {
            return Ok(false);
        };
        if record.status != TicketStatus::Pending {
            return Ok(false);
        }
        record.status = TicketStatus::Waiting;
        let pool = record.pool();
        state.join_pool(ticket_id, pool);
        Ok(true)
    }

    async fn remove(
        &self,
        ticket_id: &str,
        allowed: &[TicketStatus],
    ) -> Result<Removal, StoreError> {
        let mut state = lock(&self.state);
        let Some(record) = state.tickets.get(ticket_id) else {
            return Ok(Removal::Missing);
        };
        if !allowed.contains(&record.status) {
            return Ok(Removal::Kept(record.status));
        }
        Ok(state
            .delete(ticket_id)
            .map_or(Removal::Missing, Removal::Removed))
    }

    async fn pools(&self) -> Result<Vec<String>, StoreError> {
        Ok(lock(&self.state).pools.keys().cloned().collect())
    }

    async fn queue_lengths(&self) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(lock(&self.state)
            .pools
            .iter()
            .map(|(pool, members)| (pool.clone(), u64::try_from(members.len()).unwrap_or(0)))
            .collect())
    }

    async fn waiting(&self, pool: &str) -> Result<Vec<Waiting>, StoreError> {
        let state = lock(&self.state);
        let Some(members) = state.pools.get(pool) else {
            return Ok(Vec::new());
        };
        Ok(members
            .iter()
            .filter_map(|id| state.tickets.get(id))
            .map(TicketRecord::waiting)
            .collect())
    }

    async fn lease(&self, pool: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        match state.leases.get(pool) {
            Some((_, until)) if *until > now => Ok(false),
            _ => {
                state
                    .leases
                    .insert(pool.to_owned(), (holder.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release_lease(&self, pool: &str, holder: &str) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.leases.get(pool).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(pool);
        }
        Ok(())
    }

    async fn take(
        &self,
        pool: &str,
        ticket_ids: &[String],
        deadline: u64,
    ) -> Result<Option<Vec<TicketRecord>>, StoreError> {
        let mut state = lock(&self.state);
        let all_waiting = ticket_ids.iter().all(|id| {
            state
                .tickets
                .get(id)
                .is_some_and(|t| t.status == TicketStatus::Waiting && t.pool() == pool)
        });
        if !all_waiting {
            return Ok(None);
        }
        let mut taken = Vec::with_capacity(ticket_ids.len());
        for id in ticket_ids {
            let Some(record) = state.tickets.get_mut(id) else {
                continue;
            };
            record.status = TicketStatus::Matching;
            record.deadline = deadline;
            record.takes += 1;
            let record = record.clone();
            state.leave_pool(id, pool);
            state.expiry.remove(&(record.expires_at, id.clone()));
            state.matching.insert((deadline, id.clone()));
            taken.push(record);
        }
        Ok(Some(taken))
    }

    async fn put_back(&self, tickets: &[TicketRecord]) -> Result<usize, StoreError> {
        let mut state = lock(&self.state);
        let mut back = 0;
        for ticket in tickets {
            let id = &ticket.ticket_id;
            let Some(record) = state.tickets.get_mut(id) else {
                continue;
            };
            if record.status != TicketStatus::Matching || record.takes != ticket.takes {
                continue;
            }
            let deadline = record.deadline;
            record.status = TicketStatus::Waiting;
            record.deadline = 0;
            let (pool, expires_at) = (record.pool(), record.expires_at);
            state.matching.remove(&(deadline, id.clone()));
            state.expiry.insert((expires_at, id.clone()));
            state.join_pool(id, pool);
            back += 1;
        }
        Ok(back)
    }

    async fn finish(&self, ticket_ids: &[String]) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        for id in ticket_ids {
            state.delete(id);
        }
        Ok(())
    }

    async fn take_expired(&self, now: u64, limit: usize) -> Result<Vec<TicketRecord>, StoreError> {
        let mut state = lock(&self.state);
        let due: Vec<String> = state
            .expiry
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect();
        Ok(due.iter().filter_map(|id| state.delete(id)).collect())
    }

    async fn take_stuck(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        let mut state = lock(&self.state);
        let due: Vec<(u64, String)> = state
            .matching
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .cloned()
            .collect();
        let mut stuck = Vec::with_capacity(due.len());
        for entry in due {
            state.matching.remove(&entry);
            let Some(record) = state.tickets.get_mut(&entry.1) else {
                continue;
            };
            record.deadline = retry_at;
            stuck.push(record.clone());
            state.matching.insert((retry_at, entry.1));
        }
        Ok(stuck)
    }

    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if state.presence.len() >= state.presence_prune_at.max(PRESENCE_KEPT) {
            let since = at.saturating_sub(PRESENCE_TTL_MS);
            state
                .presence
                .retain(|_, gateways| gateways.values().any(|(said, _)| *said > since));
            state.presence_prune_at = state.presence.len().saturating_mul(2);
        }
        let gateways = state.presence.entry(user_id.to_owned()).or_default();
        let said = gateways.entry(gateway_id.to_owned()).or_insert((0, false));
        if at >= said.0 {
            *said = (at, online);
        }
        Ok(gateways.values().any(|(_, online)| *online))
    }
}
