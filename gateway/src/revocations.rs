//! The logins that have ended while access tokens of theirs may still be unexpired, held in
//! memory so that checking a token costs no call to anyone.
//!
//! Auth announces each end on `auth.events` (the hub hands those events here and closes the
//! sockets opened with such tokens). What this gateway could have missed (it started after, its
//! queue was renewed after a broker restart, an announcement failed) it reads from
//! `auth.revocations` at start and every [`RESYNC_EVERY`] after; until the first read succeeds
//! the gateway is not ready.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, CallOptions};
use warren_contracts::Empty;
use warren_contracts::auth::Revocations as RevocationsMethod;
use warren_contracts::event::now_millis;

/// How often the list is read again, in case an announcement did not arrive.
pub const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// The waits between reads that fail at start (auth not up yet), the last one repeated.
const RETRIES: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Inserts between two sweeps of what has expired.
const SWEEP_EVERY: usize = 1024;

#[derive(Debug, Default)]
pub struct Revocations {
    /// Login id to when its last access token expires (Unix ms).
    ended: Mutex<Ended>,
    synced: AtomicBool,
}

#[derive(Debug, Default)]
struct Ended {
    logins: HashMap<String, u64>,
    inserts_since_sweep: usize,
}

impl Revocations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the login `sid` has ended.
    pub fn is_ended(&self, sid: &str) -> bool {
        let ended = self.lock();
        ended
            .logins
            .get(sid)
            .is_some_and(|&until| until > now_millis())
    }

    /// Remembers that the logins `sids` ended, until `until` (Unix ms); returns those it did not
    /// know of, whose sockets are to be closed.
    pub fn end(&self, sids: impl IntoIterator<Item = String>, until: u64) -> Vec<String> {
        let now = now_millis();
        if until <= now {
            return Vec::new();
        }
        let mut ended = self.lock();
        let mut new = Vec::new();
        for sid in sids {
            match ended.logins.insert(sid.clone(), until) {
                Some(before) if before > now => {}
                _ => new.push(sid),
            }
            ended.inserts_since_sweep += 1;
        }
        if ended.inserts_since_sweep >= SWEEP_EVERY {
            ended.inserts_since_sweep = 0;
            ended.logins.retain(|_, until| *until > now);
        }
        new
    }

    /// Whether the list has been read from auth at least once.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// Reads the list from auth; returns the logins this gateway did not know had ended.
    pub async fn sync(&self, bus: &Bus, timeout: Duration) -> Result<Vec<String>, String> {
        let options = CallOptions {
            timeout,
            ..CallOptions::default()
        };
        let list = bus
            .call::<RevocationsMethod>(&Empty {}, options)
            .await
            .map_err(|error| error.to_string())?;
        let mut new = Vec::new();
        for session in list.sessions {
            new.extend(self.end([session.sid], session.until));
        }
        self.synced.store(true, Ordering::SeqCst);
        Ok(new)
    }

    /// After a first read (see [`Revocations::sync`]), reads the list again every
    /// [`RESYNC_EVERY`], or sooner while no read has succeeded yet, until `shutdown`, handing each
    /// read's new logins to `ended`.
    pub async fn keep_synced(
        &self,
        bus: &Bus,
        timeout: Duration,
        shutdown: CancellationToken,
        ended: impl Fn(Vec<String>),
    ) {
        let mut failures = 0;
        loop {
            let wait = if self.synced() {
                RESYNC_EVERY
            } else {
                RETRIES[failures.min(RETRIES.len() - 1)]
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            match self.sync(bus, timeout).await {
                Ok(new) => {
                    failures = 0;
                    if !new.is_empty() {
                        ended(new);
                    }
                }
                Err(error) => {
                    failures += 1;
                    if self.synced() || failures == RETRIES.len() {
                        tracing::warn!(%error, "cannot read the ended logins from auth");
                    }
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ended> {
        warren_bus::lock(&self.ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_login_is_remembered_until_its_tokens_expire() {
        let revocations = Revocations::new();
        let now = now_millis();
        assert!(!revocations.is_ended("a"));
        assert_eq!(
            revocations.end(["a".to_owned(), "b".to_owned()], now + 60_000),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(revocations.is_ended("a"));
        assert!(revocations.is_ended("b"));
        assert!(!revocations.is_ended("c"));
        assert!(
            revocations.end(["a".to_owned()], now + 90_000).is_empty(),
            "known already"
        );
        assert!(
            revocations.end(["old".to_owned()], now - 1).is_empty(),
            "its tokens have expired: nothing to remember"
        );
        assert!(!revocations.is_ended("old"));
    }
}
