//! The in-memory store: one mutex over a few maps, for the embedded mode and tests. Every check
//! and count of a throttle happens under that one lock, so it is atomic as the Redis scripts are.
//! Expired entries are dropped when touched and in a sweep every few hundred writes, so unused
//! tokens and counts do not pile up.

use super::{Admission, AuthStore, LoginLimits, Settle, StoreError, UserRecord, username_key};
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
    /// (lowercase username, client address) to its failed logins.
    failures: HashMap<(String, String), Window>,
    /// Client address to its failed logins, whatever the names.
    address_failures: HashMap<String, Window>,
    /// Client address to its throttled requests.
    requests: HashMap<String, Window>,
    writes_since_sweep: u32,
}

/// A count in a fixed window, like a Redis counter with an expiry.
#[derive(Debug, Clone, Copy)]
struct Window {
    count: u32,
    ends: Instant,
}

impl Window {
    /// The count now: 0 once the window is over.
    fn count(&self, now: Instant) -> u32 {
        if self.ends > now { self.count } else { 0 }
    }

    fn retry_after(&self, now: Instant) -> Duration {
        self.ends
            .saturating_duration_since(now)
            .max(Duration::from_millis(1))
    }

    /// Counts one more, opening a window of `length` if none is open.
    fn add(&mut self, now: Instant, length: Duration) {
        if self.ends <= now {
            *self = Window {
                count: 0,
                ends: deadline(now, length),
            };
        }
        self.count = self.count.saturating_add(1);
    }

    fn take_back(&mut self) {
        self.count = self.count.saturating_sub(1);
    }
}

/// The live window under `key`, or a closed one.
fn window<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Window>,
    key: K,
    now: Instant,
) -> &mut Window {
    map.entry(key).or_insert(Window {
        count: 0,
        ends: now,
    })
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
        self.failures.retain(|_, window| window.ends > now);
        self.address_failures.retain(|_, window| window.ends > now);
        self.requests.retain(|_, window| window.ends > now);
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

    async fn admit_login(
        &self,
        username: &str,
        client: &str,
        limits: &LoginLimits,
    ) -> Result<Admission, StoreError> {
        let now = Instant::now();
        let mut guard = self.lock();
        let state = &mut *guard;
        let pair = window(
            &mut state.failures,
            (username_key(username), client.to_owned()),
            now,
        );
        let mut wait = None;
        if pair.count(now) >= limits.per_name_and_address {
            wait = Some(pair.retry_after(now));
        }
        let address = window(&mut state.address_failures, client.to_owned(), now);
        if address.count(now) >= limits.per_address {
            wait = wait.max(Some(address.retry_after(now)));
        }
        if let Some(retry_after) = wait {
            return Ok(Admission::Refused { retry_after });
        }
        address.add(now, limits.window);
        pair.add(now, limits.window);
        state.wrote(now);
        Ok(Admission::Allowed)
    }

    async fn settle_login(
        &self,
        username: &str,
        client: &str,
        settle: Settle,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let pair = (username_key(username), client.to_owned());
        match settle {
            Settle::Succeeded => {
                state.failures.remove(&pair);
            }
            Settle::NotChecked => {
                if let Some(window) = state.failures.get_mut(&pair) {
                    window.take_back();
                }
            }
        }
        if let Some(window) = state.address_failures.get_mut(client) {
            window.take_back();
        }
        Ok(())
    }

    async fn count_request(
        &self,
        client: &str,
        limit: u32,
        window_length: Duration,
    ) -> Result<Admission, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        let requests = window(&mut state.requests, client.to_owned(), now);
        requests.add(now, window_length);
        let admission = if requests.count > limit {
            Admission::Refused {
                retry_after: requests.retry_after(now),
            }
        } else {
            Admission::Allowed
        };
        state.wrote(now);
        Ok(admission)
    }
}
