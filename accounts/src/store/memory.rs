//! [`MemoryStore`]: accounts and activities in maps in this process, for the embedded mode and
//! fast tests. Each operation holds the lock for its whole (synchronous) body, which makes it
//! atomic.

use super::{AccountStore, RESULT_TTL, RatingChange, StoreError, check_deltas};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use warren_contracts::accounts::Account;
use warren_contracts::activity::Activity;

/// Accounts by user id, in memory; gone when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Everything behind one lock, so that a result updates its players' accounts and records
    /// its session as applied to them in one step (stronger than the trait asks).
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, Account>,
    /// Each user's current activity, by user id; no entry when they are in nothing.
    activities: HashMap<String, Activity>,
    /// (user id, session id) of each player's part of a result that was applied.
    applied: HashSet<(String, String)>,
    /// The same pairs in the order they were applied, to forget them after [`RESULT_TTL`].
    applied_at: VecDeque<(Instant, (String, String))>,
}

impl State {
    /// Forgets the applied parts older than [`RESULT_TTL`].
    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.applied_at.front() {
            if now.duration_since(*at) < RESULT_TTL {
                break;
            }
            if let Some((_, part)) = self.applied_at.pop_front() {
                self.applied.remove(&part);
            }
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing under the lock can panic half-way through an update (every check comes before the
    /// first write, and counters saturate), so a poisoned lock is still good to use.
    fn state(&self) -> MutexGuard<'_, State> {
        warren_bus::lock(&self.state)
    }
}

#[async_trait::async_trait]
impl AccountStore for MemoryStore {
    async fn create(&self, account: &Account) -> Result<(), StoreError> {
        match self.state().accounts.entry(account.user_id.clone()) {
            Entry::Occupied(_) => Err(StoreError::AlreadyExists),
            Entry::Vacant(slot) => {
                slot.insert(account.clone());
                Ok(())
            }
        }
    }

    async fn get(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.state().accounts.get(user_id).cloned())
    }

    async fn set_display_name(
        &self,
        user_id: &str,
        display_name: &str,
    ) -> Result<Account, StoreError> {
        let mut state = self.state();
        let account = state
            .accounts
            .get_mut(user_id)
            .ok_or(StoreError::NotFound)?;
        display_name.clone_into(&mut account.display_name);
        Ok(account.clone())
    }

    async fn delete(&self, user_id: &str) -> Result<(), StoreError> {
        self.state()
            .accounts
            .remove(user_id)
            .map(drop)
            .ok_or(StoreError::NotFound)
    }

    async fn apply_result(
        &self,
        session_id: &str,
        changes: &[RatingChange],
    ) -> Result<Option<Vec<Account>>, StoreError> {
        check_deltas(changes)?;
        let now = Instant::now();
        let mut state = self.state();
        state.expire(now);
        let mut applied = false;
        let mut updated = Vec::with_capacity(changes.len());
        for change in changes {
            let part = (change.user_id.clone(), session_id.to_owned());
            if !state.applied.insert(part.clone()) {
                continue;
            }
            state.applied_at.push_back((now, part));
            applied = true;
            if let Some(account) = state.accounts.get_mut(&change.user_id) {
                account.rating += change.delta;
                account.games_played = account.games_played.saturating_add(1);
                if change.won {
                    account.games_won = account.games_won.saturating_add(1);
                }
                updated.push(account.clone());
            }
        }
        Ok(applied.then_some(updated))
    }

    async fn activity(&self, user_id: &str) -> Result<Option<Activity>, StoreError> {
        Ok(self.state().activities.get(user_id).cloned())
    }

    async fn claim(
        &self,
        user_id: &str,
        activity: &Activity,
        replaceable: &[Activity],
    ) -> Result<Option<Activity>, StoreError> {
        let mut state = self.state();
        if let Some(current) = state.activities.get(user_id)
            && current != activity
            && !replaceable.contains(current)
        {
            return Ok(Some(current.clone()));
        }
        state
            .activities
            .insert(user_id.to_owned(), activity.clone());
        Ok(None)
    }

    async fn hand_over(
        &self,
        user_ids: &[String],
        from: &Activity,
        to: &Activity,
    ) -> Result<Vec<String>, StoreError> {
        let mut state = self.state();
        let mut kept = Vec::new();
        for user_id in user_ids {
            match state.activities.get(user_id) {
                // Already in `to`: a repeated hand-over, done before.
                Some(current) if current != from && current != to => kept.push(user_id.clone()),
                _ => {
                    state.activities.insert(user_id.clone(), to.clone());
                }
            }
        }
        Ok(kept)
    }

    async fn release(&self, user_ids: &[String], activity: &Activity) -> Result<usize, StoreError> {
        let mut state = self.state();
        let mut released = 0;
        for user_id in user_ids {
            if state.activities.get(user_id) == Some(activity) {
                state.activities.remove(user_id);
                released += 1;
            }
        }
        Ok(released)
    }
}
