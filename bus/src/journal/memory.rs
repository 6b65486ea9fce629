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
/// recipients rather than copied for each, and kept as compact JSON: a log holds up to
/// `--resume-events` of them per user, read back only when a client resumes, so one small
/// allocation beats a tree of them.
struct Kept {
    at: u64,
    seq: u64,
    body: Arc<(String, Box<str>)>,
}

#[derive(Default)]
struct Inner {
    logs: HashMap<String, Log>,
    /// Each event's numbers, in the order of [`super::recipients`] of the event.
    numbered: HashMap<Uuid, Box<[u64]>>,
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
        crate::lock(&self.inner)
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
            let users = super::recipients(event);
            if let Some(numbers) = inner.numbered.get(&event.id) {
                let seqs = users.iter().map(|u| (*u).clone());
                answers.push(seqs.zip(numbers.iter().copied()).collect());
                continue;
            }
            let data = serde_json::to_string(&event.data)
                .map_err(|e| JournalError::Corrupt(e.to_string()))?;
            let body = Arc::new((event.kind.clone(), data.into_boxed_str()));
            let mut seqs = BTreeMap::new();
            let mut numbers = Vec::with_capacity(users.len());
            for user in users {
                let log = match inner.logs.get_mut(user) {
                    Some(log) => log,
                    None => inner.logs.entry(user.clone()).or_default(),
                };
                log.head += 1;
                log.kept.push_back(Kept {
                    at: now,
                    seq: log.head,
                    body: Arc::clone(&body),
                });
                log.drop_old(&self.config, now);
                numbers.push(log.head);
                seqs.insert(user.clone(), log.head);
            }
            inner.numbered.insert(event.id, numbers.into_boxed_slice());
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
        let kept = log
            .kept
            .iter()
            .filter(|k| k.seq > after)
            .map(|k| {
                Ok(Numbered {
                    seq: k.seq,
                    kind: k.body.0.clone(),
                    data: serde_json::from_str(&k.body.1)
                        .map_err(|e| JournalError::Corrupt(e.to_string()))?,
                })
            })
            .collect::<Result<Vec<_>, JournalError>>()?;
        Ok(super::resumed(log.head, after, kept))
    }

    async fn head(&self, user: &str) -> Result<u64, JournalError> {
        Ok(self.lock().logs.get(user).map_or(0, |log| log.head))
    }
}
