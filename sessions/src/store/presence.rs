//! What the grace period needs from the store: who is online, which sessions a user plays, and
//! the deadlines of players who went away.

use super::StoreError;

/// A player away from a session, and when their seat is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Away {
    pub session_id: String,
    pub user_id: String,
}

#[async_trait::async_trait]
pub trait PresenceStore: Send + Sync {
    /// Records what `gateway_id` said of `user_id` at `at` (ms); an older statement than the last
    /// one from that gateway is ignored (events can overtake each other). Returns whether the user
    /// is online on any gateway afterwards.
    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError>;

    async fn is_online(&self, user_id: &str) -> Result<bool, StoreError>;

    /// Remembers that `user_id` plays `session_id`.
    async fn add_user_session(&self, user_id: &str, session_id: &str) -> Result<(), StoreError>;

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<String>, StoreError>;

    /// The player loses their seat at `deadline` (ms) unless cancelled.
    async fn schedule_away(&self, away: &Away, deadline: u64) -> Result<(), StoreError>;

    async fn cancel_away(&self, away: &Away) -> Result<(), StoreError>;

    /// Takes the deadlines that have passed by `now`; each is given to one caller only, so
    /// several instances can sweep at once.
    async fn take_due(&self, now: u64) -> Result<Vec<Away>, StoreError>;
}
