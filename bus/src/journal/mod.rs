//! The event journal: every event for users gets the next number in each recipient's sequence
//! and is kept for a while, so that a client that reconnects can ask for what it missed
//! (`events.resume`).
//!
//! [`crate::Bus::publish`] numbers an event before it publishes it, so an event is in the journal
//! before any gateway can deliver it, and every gateway delivers it with the same numbers. The
//! same event published twice (a retry, by id) keeps the numbers it got the first time. The
//! journal belongs to the bus, not to a service: it is how events to users are published.
//!
//! The in-memory journal is here; the Redis one, shared by every process of a deployment, is in
//! `warren-runtime`, which owns the Redis connection.

mod memory;

pub use memory::MemoryJournal;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use warren_contracts::Event;

/// The prefix of the journal's Redis keys (after the deployment's namespace).
pub const REDIS_PREFIX: &str = "journal:";

/// How long an event's numbers are remembered by its id, for a publisher's retry. Retries come
/// within seconds; this bounds the memory it costs.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(60);

/// How much of each user's history is kept for `events.resume`.
#[derive(Debug, Clone, Copy)]
pub struct ResumeConfig {
    /// Events kept per user, newest.
    pub max_events: usize,
    /// How long an event is kept.
    pub ttl: Duration,
}

impl Default for ResumeConfig {
    fn default() -> Self {
        Self {
            max_events: 1000,
            ttl: Duration::from_secs(600),
        }
    }
}

impl ResumeConfig {
    pub fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }
}

/// An event as a client receives it: its number in the user's sequence, its type and data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numbered {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: serde_json::Value,
}

/// What the journal has after a given number.
#[derive(Debug, Clone, PartialEq)]
pub enum Resumed {
    /// Every event after it, oldest first (empty when there is none).
    Events(Vec<Numbered>),
    /// Some of the events after it are no longer kept (or the journal never had them).
    Gap,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal store unavailable: {0}")]
    Unavailable(String),
    #[error("journal store answered something unreadable: {0}")]
    Corrupt(String),
}

#[async_trait::async_trait]
pub trait JournalStore: Send + Sync {
    /// Numbers each event for each of its recipients, in order, and keeps it; `now` is when
    /// (Unix ms). An event whose id was appended before gets the numbers it got then.
    async fn append(
        &self,
        events: &[Event],
        now: u64,
    ) -> Result<Vec<BTreeMap<String, u64>>, JournalError>;

    /// The events of `user` after number `after` that are still kept at `now`.
    async fn after(&self, user: &str, after: u64, now: u64) -> Result<Resumed, JournalError>;

    /// The last number given to `user`'s events (0: none yet).
    async fn head(&self, user: &str) -> Result<u64, JournalError>;
}

/// An event's recipients, each once, in order.
pub fn recipients(event: &Event) -> Vec<&String> {
    let mut users: Vec<&String> = Vec::with_capacity(event.recipients.len());
    for user in &event.recipients {
        if !users.contains(&user) {
            users.push(user);
        }
    }
    users
}

/// A stored event: the client's view plus when the journal took it, for its age.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept {
    pub at: u64,
    #[serde(flatten)]
    pub event: Numbered,
}

/// The answer for `after`, given the user's last number and the events still kept (oldest
/// first, those older than the time to live already left out).
pub fn resumed(head: u64, after: u64, kept: impl IntoIterator<Item = Numbered>) -> Resumed {
    if after > head {
        // The client saw numbers the journal never gave (its store was lost): nothing after
        // them can be trusted to be complete.
        return Resumed::Gap;
    }
    let events: Vec<Numbered> = kept.into_iter().filter(|e| e.seq > after).collect();
    let complete = match events.first() {
        None => after == head,
        Some(first) => first.seq == after + 1,
    };
    if complete {
        Resumed::Events(events)
    } else {
        Resumed::Gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn numbered(seq: u64) -> Numbered {
        Numbered {
            seq,
            kind: "x".into(),
            data: json!(seq),
        }
    }

    fn seqs(resumed: &Resumed) -> Option<Vec<u64>> {
        match resumed {
            Resumed::Events(events) => Some(events.iter().map(|e| e.seq).collect()),
            Resumed::Gap => None,
        }
    }

    #[test]
    fn a_gap_is_any_number_after_the_asked_one_that_is_not_kept() {
        let kept = || (4..=6).map(numbered);
        assert_eq!(seqs(&resumed(6, 3, kept())), Some(vec![4, 5, 6]));
        assert_eq!(seqs(&resumed(6, 5, kept())), Some(vec![6]));
        assert_eq!(seqs(&resumed(6, 6, kept())), Some(vec![]));
        assert_eq!(seqs(&resumed(6, 2, kept())), None, "3 was dropped");
        assert_eq!(seqs(&resumed(6, 7, kept())), None, "7 was never given");
        assert_eq!(seqs(&resumed(6, 0, Vec::new())), None, "all expired");
        assert_eq!(seqs(&resumed(0, 0, Vec::new())), Some(vec![]));
    }
}
