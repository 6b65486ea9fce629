//! The journal in memory, for the embedded system and tests: per user a counter and the newest
//! events, per event id the numbers it was given.

use super::{DEDUP_WINDOW, JournalError, JournalStore, Numbered, ResumeConfig, Resumed};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;
use warren_contracts::Event;

#[derive(Default)]
struct Log {
    head: u64,
    kept: VecDeque<Kept>,
}

/// One event as one user's log keeps it: the type and data are the event's, shared by all its
/// recipients rather than copied for each.
struct Kept {
    at: u64,
    seq: u64,
    body: Arc<(String, serde_json::Value)>,
}

#[derive(Default)]
struct Inner {
    logs: HashMap<String, Log>,
    numbered: HashMap<Uuid, BTreeMap<String, u64>>,
    /// Event ids by when they were numbered, to forget them after the dedup window.
    order: VecDeque<(u64, Uuid)>,
}

pub struct MemoryJournal {
    config: ResumeConfig,
    inner: Mutex<Inner>,
}

impl MemoryJournal {
    pub fn new(config: ResumeConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Log {
    fn drop_old(&mut self, config: &ResumeConfig, now: u64) {
        let oldest = now.saturating_sub(config.ttl_ms());
        while self.kept.front().is_some_and(|k| k.at < oldest) {
            self.kept.pop_front();
        }
        while self.kept.len() > config.max_events {
            self.kept.pop_front();
        }
    }
}

#[async_trait::async_trait]
impl JournalStore for MemoryJournal {
    async fn append(
        &self,
        events: &[Event],
        now: u64,
    ) -> Result<Vec<BTreeMap<String, u64>>, JournalError> {
        let mut inner = self.lock();
        let forget_before =
            now.saturating_sub(u64::try_from(DEDUP_WINDOW.as_millis()).unwrap_or(0));
        while let Some(&(at, id)) = inner.order.front() {
            if at >= forget_before {
                break;
            }
            inner.order.pop_front();
            inner.numbered.remove(&id);
        }
        let mut answers = Vec::with_capacity(events.len());
        for event in events {
            if let Some(seqs) = inner.numbered.get(&event.id) {
                answers.push(seqs.clone());
                continue;
            }
            let mut seqs = BTreeMap::new();
            let body = Arc::new((event.kind.clone(), event.data.clone()));
            for user in super::recipients(event) {
                let log = inner.logs.entry(user.clone()).or_default();
                log.head += 1;
                log.kept.push_back(Kept {
                    at: now,
                    seq: log.head,
                    body: Arc::clone(&body),
                });
                log.drop_old(&self.config, now);
                seqs.insert(user.clone(), log.head);
            }
            inner.numbered.insert(event.id, seqs.clone());
            inner.order.push_back((now, event.id));
            answers.push(seqs);
        }
        Ok(answers)
    }

    async fn after(&self, user: &str, after: u64, now: u64) -> Result<Resumed, JournalError> {
        let mut inner = self.lock();
        let Some(log) = inner.logs.get_mut(user) else {
            return Ok(super::resumed(0, after, Vec::new()));
        };
        log.drop_old(&self.config, now);
        let kept = log.kept.iter().filter(|k| k.seq > after).map(|k| Numbered {
            seq: k.seq,
            kind: k.body.0.clone(),
            data: k.body.1.clone(),
        });
        Ok(super::resumed(log.head, after, kept))
    }

    async fn head(&self, user: &str) -> Result<u64, JournalError> {
        Ok(self.lock().logs.get(user).map_or(0, |log| log.head))
    }
}
