//! The in-memory store: one mutex over a few maps, for the embedded mode and tests. Every check
//! and count of a throttle and every change of a login happens under that one lock, so it is
//! atomic as the Redis scripts are. Expired entries are dropped when touched and in a sweep every
//! few hundred writes, so unused tokens and counts do not pile up.

mod logins;
mod throttle;

use self::logins::Logins;
use self::throttle::{Window, window};
use super::{
    Admission, AuthStore, Deleted, Ended, LoginLimits, Rotation, Settle, StoreError, UserRecord,
    username_key,
};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use warren_contracts::event::now_millis;

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
    logins: Logins,
    /// (lowercase username, client address) to its failed logins.
    failures: HashMap<(String, String), Window>,
    /// Client address to its failed logins, whatever the names.
    address_failures: HashMap<String, Window>,
    /// Client address to its throttled requests.
    requests: HashMap<String, Window>,
    writes_since_sweep: u32,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every update under the lock completes before it is released and none can panic halfway,
    /// so a poisoned lock still guards consistent maps.
    fn lock(&self) -> MutexGuard<'_, State> {
        warren_bus::lock(&self.state)
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
        self.logins.sweep(now, now_millis());
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

    async fn delete_user(&self, user_id: &str) -> Result<Deleted, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        let mut existed = false;
        if let Some(key) = state.names.remove(user_id)
            && state.users.get(&key).is_some_and(|u| u.user_id == user_id)
        {
            state.users.remove(&key);
            existed = true;
        }
        let families = state.logins.end_user(user_id, now);
        Ok(Deleted { existed, families })
    }

    async fn start_family(
        &self,
        family: &str,
        user_id: &str,
        digest: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        if !state.names.contains_key(user_id) {
            return Ok(false);
        }
        state
            .logins
            .start(family, user_id, digest, deadline(now, ttl));
        state.wrote(now);
        Ok(true)
    }

    async fn rotate_refresh_token(
        &self,
        spent: &str,
        next: &str,
        ttl: Duration,
    ) -> Result<Rotation, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        let rotation = state.logins.rotate(spent, next, now, deadline(now, ttl));
        state.wrote(now);
        Ok(rotation)
    }

    async fn end_family_of(&self, digest: &str) -> Result<Option<Ended>, StoreError> {
        Ok(self.lock().logins.end_family_of(digest, Instant::now()))
    }

    async fn end_families(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().logins.end_user(user_id, Instant::now()))
    }

    async fn record_revoked(&self, families: &[String], until: u64) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.logins.record_revoked(families, until);
        state.wrote(Instant::now());
        Ok(())
    }

    async fn revoked(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self.lock().logins.revoked(now))
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
