//! The store's key names (the module above says what each holds), and how an index entry or a
//! pointer names what it leads to.

use serde::{Deserialize, Serialize};
use warren_runtime::redis_client::tag;

/// The key names under one store's prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A pool's waiting tickets.
    pub(super) fn pool(&self, pool: &str) -> String {
        format!("{}pool:{}", self.prefix, tag("pool", pool))
    }

    /// A ticket, in its pool's slot.
    pub(super) fn ticket(&self, pool: &str, ticket_id: &str) -> String {
        format!("{}ticket:{}:{ticket_id}", self.prefix, tag("pool", pool))
    }

    /// A match, in the slot of the pool its tickets were taken from.
    pub(super) fn match_key(&self, pool: &str, match_id: &str) -> String {
        format!("{}match:{}:{match_id}", self.prefix, tag("pool", pool))
    }

    pub(super) fn lease(&self, pool: &str) -> String {
        format!("{}lease:{}", self.prefix, tag("pool", pool))
    }

    /// The pointer from a ticket id to its pool.
    pub(super) fn ticket_place(&self, ticket_id: &str) -> String {
        format!("{}where:{}", self.prefix, tag("ticket", ticket_id))
    }

    /// The pointer from a match id to its pool and tickets.
    pub(super) fn match_place(&self, match_id: &str) -> String {
        format!("{}where:{}", self.prefix, tag("match", match_id))
    }

    /// The pointer from a user to their ticket.
    pub(super) fn user(&self, user_id: &str) -> String {
        format!("{}user:{}", self.prefix, tag("user", user_id))
    }

    pub(super) fn presence(&self, user_id: &str) -> String {
        format!("{}presence:{}", self.prefix, tag("user", user_id))
    }

    /// Pools a ticket joined, scored by when one last did.
    pub(super) fn pool_index(&self) -> String {
        format!("{}pool-index", self.prefix)
    }

    /// Tickets by when they run out.
    pub(super) fn expiry(&self) -> String {
        format!("{}expiry", self.prefix)
    }

    /// Matches by when a sweeper should advance them.
    pub(super) fn due(&self) -> String {
        format!("{}due", self.prefix)
    }
}

/// A ticket or a match as an index entry or a user's pointer names it: `["<pool>","<id>"]`, so that
/// its reader finds its keys without another look-up.
pub(super) fn reference(pool: &str, id: &str) -> String {
    serde_json::json!([pool, id]).to_string()
}

/// A [`reference`] read back; `None` if it is not one.
pub(super) fn parse_reference(text: &str) -> Option<(String, String)> {
    serde_json::from_str(text).ok()
}

/// What a match's pointer holds: its pool and its tickets, neither of which ever changes, so that
/// every step of the match finds all its keys with one look-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct MatchPlace {
    pub(super) pool: String,
    pub(super) tickets: Vec<String>,
}

impl MatchPlace {
    /// The tickets as the match's own hash lists them (space-separated), which a script checks
    /// the keys it was given against.
    pub(super) fn list(&self) -> String {
        self.tickets.join(" ")
    }
}
