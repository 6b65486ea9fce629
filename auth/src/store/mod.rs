//! Where the auth service keeps its state: credentials by username, refresh tokens by digest, and
//! failed-login counts. A small trait, implemented in memory (the embedded mode and fast tests) and
//! on Redis (several instances sharing one state).
//!
//! Usernames are unique case-insensitively: every method taking a username looks it up by
//! [`username_key`], while [`UserRecord::username`] keeps the name as it was typed.

mod memory;
mod redis;

pub use self::memory::MemoryStore;
pub use self::redis::{REDIS_PREFIX, RedisStore};

use std::fmt;
use std::time::Duration;

/// A user's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: String,
    /// As the user typed it at registration, for display.
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// Leaves the password hash out.
impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why the store could not do what was asked. The text is for the log, never for a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or failed to answer.
    #[error("auth store unavailable: {0}")]
    Unavailable(String),
    /// Something stored is not in the shape this code writes.
    #[error("auth store holds unreadable data: {0}")]
    Corrupt(String),
}

/// The key a username is unique under: its lowercase form.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// The auth service's storage. Each method is atomic on its own.
#[async_trait::async_trait]
pub trait AuthStore: Send + Sync {
    /// Stores new credentials, with the index from their user id. `Ok(false)` when the name is
    /// taken (in any case), leaving the existing user untouched.
    async fn create_user(&self, user: &UserRecord) -> Result<bool, StoreError>;

    /// The credentials of `username`, in any case.
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Deletes a user's credentials (freeing the name) and every refresh token of theirs.
    /// Returns whether there were credentials; deleting an unknown user is not an error.
    async fn delete_user(&self, user_id: &str) -> Result<bool, StoreError>;

    /// Stores the digest of a refresh token of `user_id`, valid for `ttl`. `Ok(false)`, storing
    /// nothing, when the user has no credentials (any more): a token cannot outlive its user.
    async fn add_refresh_token(
        &self,
        digest: &str,
        user_id: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Removes a live refresh token and returns its user. Atomic: of two concurrent takes of one
    /// token, one gets the user and the other `None`, as for an unknown or expired token.
    async fn take_refresh_token(&self, digest: &str) -> Result<Option<String>, StoreError>;

    /// Failed logins of `username` in the current window (0 when there is none).
    async fn failed_logins(&self, username: &str) -> Result<u32, StoreError>;

    /// Counts one failed login of `username` and returns the count in the window. The first
    /// failure opens a window of length `window`; the count goes when the window ends.
    async fn record_failed_login(
        &self,
        username: &str,
        window: Duration,
    ) -> Result<u32, StoreError>;

    /// Forgets the failed logins of `username`.
    async fn clear_failed_logins(&self, username: &str) -> Result<(), StoreError>;
}
