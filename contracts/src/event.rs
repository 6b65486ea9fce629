//! The event envelope: what a service announces on its `<service>.events` fanout exchange.
//!
//! An event names its type and its recipients (user ids); gateways deliver it to those of the
//! recipients connected to them. The `id` lets a consumer that must not apply an event twice (a
//! durable queue delivers at least once) recognise a redelivery.
//!
//! The gateway's journal numbers each recipient's events (`seqs`) before gateways deliver them, so
//! that every gateway gives a user's events the same numbers and a client can resume after them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event, kept across redeliveries.
    pub id: Uuid,
    /// What happened, e.g. `match.found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user ids the event is for. Empty for events meant for services only.
    pub recipients: Vec<String>,
    pub data: serde_json::Value,
    /// When it was published, Unix epoch milliseconds.
    pub published_at: u64,
    /// Each recipient's number for this event, set by the journal; empty until then.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seqs: BTreeMap<String, u64>,
}

impl Event {
    /// A new event with a fresh id, stamped now.
    pub fn new(kind: impl Into<String>, recipients: Vec<String>, data: serde_json::Value) -> Self {
        Self {
            id: Uuid::new_v4(),
            kind: kind.into(),
            recipients,
            data,
            published_at: now_millis(),
            seqs: BTreeMap::new(),
        }
    }

    /// The event that announces one decided thing, named by `key` (e.g. `match.found:<match id>`):
    /// its id follows from the key, so a publisher that retries it after a failure, on any
    /// instance, publishes the same event, and the journal numbers it once (within the bus journal's
    /// dedup window of the first try).
    pub fn once(
        key: &str,
        kind: impl Into<String>,
        recipients: Vec<String>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            id: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()),
            ..Self::new(kind, recipients, data)
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_type_field_is_named_type_on_the_wire() {
        let event = Event::new("match.found", vec!["u1".into()], json!({"session_id": "s"}));
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["type"], "match.found");
        assert_eq!(value["recipients"], json!(["u1"]));
        let back: Event = serde_json::from_value(value).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn an_event_made_once_has_the_same_id_every_time() {
        let a = Event::once("match.found:m1", "match.found", vec![], json!({}));
        let b = Event::once("match.found:m1", "match.found", vec![], json!({}));
        let c = Event::once("match.found:m2", "match.found", vec![], json!({}));
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }
}
