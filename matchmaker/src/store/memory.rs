//! Tickets and matches in this process's memory, for the embedded mode and tests. One lock covers
//! every ticket, match, pool and schedule, which is what makes each step atomic. It is one file
//! because it is one implementation of `TicketStore`, step for step beside the Redis one.

use super::{
    Abandoned, DONE_KEPT_MS, MatchRecord, Removal, Step, StoreError, TicketRecord, TicketStatus,
    TicketStore,
};
use crate::pool::Waiting;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use warren_bus::lock;
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::CancelReason;
use warren_runtime::presence::PresenceTable;

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
    /// match id → the match, undone or done
    matches: HashMap<String, MatchRecord>,
    /// (due, match id) of matches not done
    due: BTreeSet<(u64, String)>,
    /// (forgotten at, match id) of done matches
    done: BTreeSet<(u64, String)>,
    /// pool → (holder, until)
    leases: HashMap<String, (String, Instant)>,
    presence: PresenceTable,
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
        Some(record)
    }

    /// Forgets done matches whose time is up.
    fn forget_done(&mut self, now: u64) {
        while let Some(first) = self.done.first().cloned() {
            if first.0 > now {
                break;
            }
            self.done.remove(&first);
            self.matches.remove(&first.1);
        }
    }

    /// The match's tickets that are still its own.
    fn tickets_of(&self, record: &MatchRecord) -> Vec<String> {
        record
            .tickets
            .iter()
            .filter(|id| {
                self.tickets
                    .get(*id)
                    .is_some_and(|t| t.match_id.as_deref() == Some(record.match_id.as_str()))
            })
            .cloned()
            .collect()
    }
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
        record.match_id = None;
        record.session_id = None;
        record.leaving = None;
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
        leaving: Option<CancelReason>,
    ) -> Result<Removal, StoreError> {
        let mut state = lock(&self.state);
        let Some(record) = state.tickets.get_mut(ticket_id) else {
            return Ok(Removal::Missing);
        };
        if !allowed.contains(&record.status) {
            if record.status == TicketStatus::Matching && leaving.is_some() {
                record.leaving = leaving;
            }
            return Ok(Removal::Kept(record.clone()));
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

    async fn take(&self, new: &MatchRecord) -> Result<Option<Vec<TicketRecord>>, StoreError> {
        let mut state = lock(&self.state);
        let all_waiting = new.tickets.iter().all(|id| {
            state
                .tickets
                .get(id)
                .is_some_and(|t| t.status == TicketStatus::Waiting && t.pool() == new.pool)
        });
        if new.tickets.is_empty() || !all_waiting || state.matches.contains_key(&new.match_id) {
            return Ok(None);
        }
        let mut taken = Vec::with_capacity(new.tickets.len());
        for id in &new.tickets {
            let Some(record) = state.tickets.get_mut(id) else {
                continue;
            };
            record.status = TicketStatus::Matching;
            record.match_id = Some(new.match_id.clone());
            let record = record.clone();
            state.leave_pool(id, &new.pool);
            state.expiry.remove(&(record.expires_at, id.clone()));
            taken.push(record);
        }
        let mut stored = new.clone();
        stored.session_id = None;
        stored.handed_over = false;
        stored.announced = false;
        stored.done = false;
        state.due.insert((stored.due, stored.match_id.clone()));
        state.matches.insert(stored.match_id.clone(), stored);
        Ok(Some(taken))
    }

    async fn get_match(&self, match_id: &str) -> Result<Option<MatchRecord>, StoreError> {
        let mut state = lock(&self.state);
        state.forget_done(now_millis());
        Ok(state.matches.get(match_id).cloned())
    }

    async fn record_session(
        &self,
        match_id: &str,
        session_id: &str,
    ) -> Result<Option<(MatchRecord, bool)>, StoreError> {
        let mut state = lock(&self.state);
        let Some(record) = state.matches.get_mut(match_id) else {
            return Ok(None);
        };
        if record.session_id.is_some() {
            return Ok(Some((record.clone(), false)));
        }
        record.session_id = Some(session_id.to_owned());
        let record = record.clone();
        for id in state.tickets_of(&record) {
            if let Some(ticket) = state.tickets.get_mut(&id) {
                ticket.status = TicketStatus::Matched;
                ticket.session_id = Some(session_id.to_owned());
            }
        }
        Ok(Some((record, true)))
    }

    async fn note(&self, match_id: &str, step: Step) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if let Some(record) = state.matches.get_mut(match_id) {
            match step {
                Step::HandedOver => record.handed_over = true,
                Step::Announced => record.announced = true,
            }
        }
        Ok(())
    }

    async fn complete(&self, match_id: &str) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let now = now_millis();
        state.forget_done(now);
        let Some(record) = state.matches.get(match_id).cloned() else {
            return Ok(());
        };
        if record.done {
            return Ok(());
        }
        for id in state.tickets_of(&record) {
            state.delete(&id);
        }
        state.due.remove(&(record.due, match_id.to_owned()));
        state
            .done
            .insert((now.saturating_add(DONE_KEPT_MS), match_id.to_owned()));
        if let Some(record) = state.matches.get_mut(match_id) {
            record.done = true;
        }
        Ok(())
    }

    async fn abandon(&self, match_id: &str) -> Result<Abandoned, StoreError> {
        let mut state = lock(&self.state);
        let Some(record) = state.matches.get(match_id).cloned() else {
            return Ok(Abandoned::Missing);
        };
        if record.session_id.is_some() {
            return Ok(Abandoned::HasSession);
        }
        let (mut back, mut ended) = (Vec::new(), Vec::new());
        for id in state.tickets_of(&record) {
            let leaving = state.tickets.get(&id).and_then(|t| t.leaving);
            if leaving.is_some() {
                ended.extend(state.delete(&id));
                continue;
            }
            let Some(ticket) = state.tickets.get_mut(&id) else {
                continue;
            };
            ticket.status = TicketStatus::Waiting;
            ticket.match_id = None;
            let ticket = ticket.clone();
            state.expiry.insert((ticket.expires_at, id.clone()));
            state.join_pool(&id, ticket.pool());
            back.push(ticket);
        }
        state.due.remove(&(record.due, match_id.to_owned()));
        state.matches.remove(match_id);
        Ok(Abandoned::Undone { back, ended })
    }

    async fn defer(&self, match_id: &str, due: u64) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let Some(record) = state.matches.get_mut(match_id) else {
            return Ok(());
        };
        if record.done {
            return Ok(());
        }
        let before = std::mem::replace(&mut record.due, due);
        state.due.remove(&(before, match_id.to_owned()));
        state.due.insert((due, match_id.to_owned()));
        Ok(())
    }

    async fn take_due(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<MatchRecord>, StoreError> {
        let mut state = lock(&self.state);
        let due: Vec<(u64, String)> = state
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .cloned()
            .collect();
        let mut taken = Vec::with_capacity(due.len());
        for entry in due {
            state.due.remove(&entry);
            let Some(record) = state.matches.get_mut(&entry.1) else {
                continue;
            };
            record.due = retry_at;
            taken.push(record.clone());
            state.due.insert((retry_at, entry.1));
        }
        Ok(taken)
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

    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        Ok(lock(&self.state)
            .presence
            .set(user_id, gateway_id, online, at))
    }
}
