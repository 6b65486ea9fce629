//! Sessions in this process's memory, for the embedded mode and tests.

use super::{Away, PresenceStore, SessionRecord, SessionStore, StoreError};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use warren_contracts::sessions::Status;

#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, SessionRecord>>,
    presence: Mutex<Presence>,
}

#[derive(Debug, Default)]
struct Presence {
    /// user → gateway → (when, online)
    gateways: HashMap<String, HashMap<String, (u64, bool)>>,
    user_sessions: HashMap<String, BTreeSet<String>>,
    /// (deadline, session, user)
    away: BTreeSet<(u64, String, String)>,
    /// (due, session)
    outboxes: BTreeSet<(u64, String)>,
}

impl Presence {
    fn online(&self, user_id: &str) -> bool {
        self.gateways
            .get(user_id)
            .is_some_and(|g| g.values().any(|(_, online)| *online))
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionRecord>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn presence(&self) -> std::sync::MutexGuard<'_, Presence> {
        self.presence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut sessions = self.sessions();
        let id = &record.session.session_id;
        if sessions.contains_key(id) {
            return Err(StoreError::AlreadyExists);
        }
        sessions.insert(id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.sessions().get(session_id).cloned())
    }

    async fn watch_outbox(&self, session_id: &str, due: u64) -> Result<(), StoreError> {
        self.presence()
            .outboxes
            .insert((due, session_id.to_owned()));
        Ok(())
    }

    async fn take_due_outboxes(&self, now: u64) -> Result<Vec<String>, StoreError> {
        let mut presence = self.presence();
        let due: Vec<(u64, String)> = presence
            .outboxes
            .iter()
            .take_while(|(due, _)| *due <= now)
            .cloned()
            .collect();
        for entry in &due {
            presence.outboxes.remove(entry);
        }
        Ok(due.into_iter().map(|(_, session_id)| session_id).collect())
    }

    async fn count_running(&self) -> Result<u64, StoreError> {
        let running = self
            .sessions()
            .values()
            .filter(|r| r.session.status == Status::Running)
            .count();
        Ok(u64::try_from(running).unwrap_or(u64::MAX))
    }

    async fn replace(&self, record: &SessionRecord, expected: u64) -> Result<bool, StoreError> {
        let mut sessions = self.sessions();
        match sessions.get_mut(&record.session.session_id) {
            Some(current) if current.version() == expected => {
                *current = record.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait::async_trait]
impl PresenceStore for MemoryStore {
    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        let mut presence = self.presence();
        let gateways = presence.gateways.entry(user_id.to_owned()).or_default();
        let entry = gateways.entry(gateway_id.to_owned()).or_insert((0, false));
        if at >= entry.0 {
            *entry = (at, online);
        }
        Ok(presence.online(user_id))
    }

    async fn is_online(&self, user_id: &str) -> Result<bool, StoreError> {
        Ok(self.presence().online(user_id))
    }

    async fn add_user_session(&self, user_id: &str, session_id: &str) -> Result<(), StoreError> {
        self.presence()
            .user_sessions
            .entry(user_id.to_owned())
            .or_default()
            .insert(session_id.to_owned());
        Ok(())
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .presence()
            .user_sessions
            .get(user_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn schedule_away(&self, away: &Away, deadline: u64) -> Result<(), StoreError> {
        let mut presence = self.presence();
        presence
            .away
            .retain(|(_, s, u)| !(s == &away.session_id && u == &away.user_id));
        presence
            .away
            .insert((deadline, away.session_id.clone(), away.user_id.clone()));
        Ok(())
    }

    async fn cancel_away(&self, away: &Away) -> Result<(), StoreError> {
        self.presence()
            .away
            .retain(|(_, s, u)| !(s == &away.session_id && u == &away.user_id));
        Ok(())
    }

    async fn take_due(&self, now: u64) -> Result<Vec<Away>, StoreError> {
        let mut presence = self.presence();
        let due: Vec<(u64, String, String)> = presence
            .away
            .iter()
            .take_while(|(deadline, _, _)| *deadline <= now)
            .cloned()
            .collect();
        for entry in &due {
            presence.away.remove(entry);
        }
        Ok(due
            .into_iter()
            .map(|(_, session_id, user_id)| Away {
                session_id,
                user_id,
            })
            .collect())
    }
}
