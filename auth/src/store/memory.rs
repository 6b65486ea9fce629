//! The in-memory store: one mutex over a few maps, for the embedded mode and tests. Expired
//! entries are dropped when touched and in a sweep every few hundred writes, so unused tokens and
//! failure counts do not pile up.

use super::{AuthStore, StoreError, UserRecord, username_key};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Writes between two sweeps of expired entries.
const SWEEP_EVERY: u32 = 256;

/// Longer lifetimes are cut to this, so that adding one to an instant cannot overflow.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

fn deadline(now: Instant, after: Duration) -> Instant {
    now + after.min(LONGEST)
}

/// Everything in process memory; gone when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// By lowercase username.
    users: HashMap<String, UserRecord>,
    /// User id to lowercase username.
    names: HashMap<String, String>,
    /// Token digest to (user id, expiry).
    refresh: HashMap<String, (String, Instant)>,
    /// User id to the digests of their tokens.
    user_refresh: HashMap<String, HashSet<String>>,
    /// Lowercase username to (failures, end of window).
    failures: HashMap<String, (u32, Instant)>,
    writes_since_sweep: u32,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every update under the lock completes before it is released and none can panic halfway,
    /// so a poisoned lock still guards consistent maps.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn wrote(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep < SWEEP_EVERY {
            return;
        }
        self.writes_since_sweep = 0;
        self.failures.retain(|_, (_, end)| *end > now);
        let refresh = &mut self.refresh;
        refresh.retain(|_, (_, expiry)| *expiry > now);
        self.user_refresh.retain(|_, digests| {
            digests.retain(|digest| refresh.contains_key(digest));
            !digests.is_empty()
        });
    }

    fn remove_refresh(&mut self, digest: &str) -> Option<(String, Instant)> {
        let (user_id, expiry) = self.refresh.remove(digest)?;
        if let Some(digests) = self.user_refresh.get_mut(&user_id) {
            digests.remove(digest);
            if digests.is_empty() {
                self.user_refresh.remove(&user_id);
            }
        }
        Some((user_id, expiry))
    }
}

#[async_trait::async_trait]
impl AuthStore for MemoryStore {
    async fn create_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let key = username_key(&user.username);
        let mut state = self.lock();
        if state.users.contains_key(&key) {
            return Ok(false);
        }
        state.names.insert(user.user_id.clone(), key.clone());
        state.users.insert(key, user.clone());
        Ok(true)
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.lock().users.get(&username_key(username)).cloned())
    }

    async fn delete_user(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let mut existed = false;
        if let Some(key) = state.names.remove(user_id)
            && state.users.get(&key).is_some_and(|u| u.user_id == user_id)
        {
            state.users.remove(&key);
            existed = true;
        }
        for digest in state.user_refresh.remove(user_id).unwrap_or_default() {
            state.refresh.remove(&digest);
        }
        Ok(existed)
    }

    async fn add_refresh_token(
        &self,
        digest: &str,
        user_id: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        if !state.names.contains_key(user_id) {
            return Ok(false);
        }
        state
            .refresh
            .insert(digest.to_owned(), (user_id.to_owned(), deadline(now, ttl)));
        state
            .user_refresh
            .entry(user_id.to_owned())
            .or_default()
            .insert(digest.to_owned());
        state.wrote(now);
        Ok(true)
    }

    async fn take_refresh_token(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        Ok(state
            .remove_refresh(digest)
            .filter(|(_, expiry)| *expiry > now)
            .map(|(user_id, _)| user_id))
    }

    async fn failed_logins(&self, username: &str) -> Result<u32, StoreError> {
        let now = Instant::now();
        let state = self.lock();
        Ok(match state.failures.get(&username_key(username)) {
            Some((count, end)) if *end > now => *count,
            _ => 0,
        })
    }

    async fn record_failed_login(
        &self,
        username: &str,
        window: Duration,
    ) -> Result<u32, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        let entry = state
            .failures
            .entry(username_key(username))
            .or_insert((0, now));
        if entry.1 <= now {
            *entry = (0, deadline(now, window));
        }
        entry.0 = entry.0.saturating_add(1);
        let count = entry.0;
        state.wrote(now);
        Ok(count)
    }

    async fn clear_failed_logins(&self, username: &str) -> Result<(), StoreError> {
        self.lock().failures.remove(&username_key(username));
        Ok(())
    }
}
