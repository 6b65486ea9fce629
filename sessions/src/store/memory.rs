//! Sessions in this process's memory, for the embedded mode and tests. Several instances sharing
//! one store in one process behave as they would over Redis: one owner per session, fenced
//! commits, heartbeats that run out.

use super::{
    APPLIED_KEPT, Away, Change, Claim, Committed, Owned, PresenceStore, SessionRecord,
    SessionStore, StoreError,
};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use warren_bus::lock;
use warren_contracts::event::now_millis;
use warren_contracts::sessions::Status;
use warren_runtime::presence::PresenceTable;

#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, Stored>>,
    /// Instance → until when (ms) it is alive.
    alive: Mutex<HashMap<String, u64>>,
    presence: Mutex<Presence>,
}

#[derive(Debug)]
struct Stored {
    record: SessionRecord,
    owner: Option<String>,
    applied: VecDeque<String>,
}

#[derive(Debug, Default)]
struct Presence {
    gateways: PresenceTable,
    user_sessions: HashMap<String, BTreeSet<String>>,
    /// (deadline, session, user)
    away: BTreeSet<(u64, String, String)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn presence(&self) -> std::sync::MutexGuard<'_, Presence> {
        lock(&self.presence)
    }

    fn is_alive(&self, instance: &str) -> bool {
        lock(&self.alive)
            .get(instance)
            .is_some_and(|until| *until > now_millis())
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &SessionRecord, owner: &str) -> Result<(), StoreError> {
        let mut sessions = lock(&self.sessions);
        let id = &record.session.session_id;
        if sessions.contains_key(id) {
            return Err(StoreError::AlreadyExists);
        }
        let stored = Stored {
            record: record.clone(),
            owner: Some(owner.to_owned()),
            applied: VecDeque::new(),
        };
        sessions.insert(id.clone(), stored);
        Ok(())
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(lock(&self.sessions)
            .get(session_id)
            .map(|s| s.record.clone()))
    }

    async fn claim(
        &self,
        session_id: &str,
        me: &str,
        dead: Option<&str>,
    ) -> Result<Claim, StoreError> {
        let owner = match lock(&self.sessions).get(session_id) {
            None => return Ok(Claim::Missing),
            Some(stored) => stored.owner.clone(),
        };
        if let Some(owner) = owner
            && owner != me
            && Some(owner.as_str()) != dead
            && self.is_alive(&owner)
        {
            return Ok(Claim::OwnedBy(owner));
        }
        let mut sessions = lock(&self.sessions);
        let Some(stored) = sessions.get_mut(session_id) else {
            return Ok(Claim::Missing);
        };
        let previous = stored.owner.replace(me.to_owned()).filter(|p| p != me);
        Ok(Claim::Owned(Box::new(Owned {
            record: stored.record.clone(),
            applied: stored.applied.iter().cloned().collect(),
            last_events: Vec::new(),
            previous_owner: previous,
        })))
    }

    async fn commit(&self, change: Change<'_>, me: &str) -> Result<Committed, StoreError> {
        let mut sessions = lock(&self.sessions);
        let Some(stored) = sessions.get_mut(&change.record.session.session_id) else {
            return Ok(Committed::Lost);
        };
        if stored.owner.as_deref() != Some(me) {
            return Ok(Committed::Lost);
        }
        stored.record.clone_from(change.record);
        if let Some(request_id) = change.request_id {
            stored.applied.push_back(request_id.to_owned());
            if stored.applied.len() > APPLIED_KEPT {
                stored.applied.pop_front();
            }
        }
        // No last events kept: in one process an owner stops only after it has published them.
        Ok(Committed::Done(None))
    }

    async fn release(&self, session_ids: &[String], me: &str) -> Result<(), StoreError> {
        let mut sessions = lock(&self.sessions);
        for session_id in session_ids {
            if let Some(stored) = sessions.get_mut(session_id)
                && stored.owner.as_deref() == Some(me)
            {
                stored.owner = None;
            }
        }
        Ok(())
    }

    async fn heartbeat(&self, me: &str, ttl_ms: u64) -> Result<(), StoreError> {
        lock(&self.alive).insert(me.to_owned(), now_millis().saturating_add(ttl_ms));
        Ok(())
    }

    async fn count_running(&self) -> Result<u64, StoreError> {
        let running = lock(&self.sessions)
            .values()
            .filter(|s| s.record.session.status == Status::Running)
            .count();
        Ok(u64::try_from(running).unwrap_or(u64::MAX))
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
        Ok(self
            .presence()
            .gateways
            .set(user_id, gateway_id, online, at))
    }

    async fn is_online(&self, user_id: &str) -> Result<bool, StoreError> {
        Ok(self.presence().gateways.online(user_id))
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
