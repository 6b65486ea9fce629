//! Where the auth service keeps its state: credentials by username, logins (families of refresh
//! tokens, see `warren_contracts::auth`) and their tokens by digest, the logins ended recently,
//! failed-login counts by (username, client address) and by address, and request counts by
//! address. A small trait, implemented in memory (the embedded mode and fast tests) and
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

/// The limits of the login throttle (see `crate::config` for the values in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one username from one client address.
    pub per_name_and_address: u32,
    /// Failures from one client address, whatever the names.
    pub per_address: u32,
    /// How long failures count, from the first one.
    pub window: Duration,
}

/// Whether a throttled request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over a limit until the window ends, `retry_after` from now.
    Refused {
        retry_after: Duration,
    },
}

/// How an admitted login attempt ended, when not as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The password was right.
    Succeeded,
    /// The password was never checked (no hashing slot, a store failure).
    NotChecked,
}

/// What rotating a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is spent now, and the next one is live in the same login.
    Rotated { user_id: String, family: String },
    /// The token had been spent before: someone holds a copy. The login is ended (its live token
    /// stops working) and nothing new is stored.
    Reused { user_id: String, family: String },
    /// Unknown, expired, or of a login that has ended.
    Unknown,
}

/// A login that was ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub user_id: String,
    pub family: String,
}

/// What deleting a user found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Whether there were credentials.
    pub existed: bool,
    /// The logins of theirs that were still going and are ended now.
    pub families: Vec<String>,
}

/// The key a username is unique under: its lowercase form.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// The auth service's storage. Each method's change to one thing (a name's credentials, a user, a
/// login, an address's counts) is atomic. A method that concerns several (deleting a user, ending
/// all of a user's logins) may, on Redis, change them one after the other, in an order that never
/// lets a client keep what it ends; one cut short (an instance stopping, Redis failing) is
/// completed by calling it again.
#[async_trait::async_trait]
pub trait AuthStore: Send + Sync {
    /// Stores new credentials, with the index from their user id. `Ok(false)` when the name is
    /// taken (in any case), leaving the existing user untouched.
    async fn create_user(&self, user: &UserRecord) -> Result<bool, StoreError>;

    /// The credentials of `username`, in any case.
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Deletes a user's credentials (freeing the name) and ends every login of theirs. Deleting
    /// an unknown user is not an error.
    async fn delete_user(&self, user_id: &str) -> Result<Deleted, StoreError>;

    /// Starts the login `family` of `user_id` with its first refresh token (`digest`). The login
    /// and each of its tokens live for `ttl` from their last use. `Ok(false)`, leaving nothing
    /// that works, when the user has no credentials (any more): a login cannot outlive its user.
    async fn start_family(
        &self,
        family: &str,
        user_id: &str,
        digest: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Spends the refresh token `spent` and makes `next` the live token of its login, or finds
    /// that `spent` was used before and ends its login. Atomic: of two concurrent rotations of
    /// one token, one rotates and the other finds it reused.
    async fn rotate_refresh_token(
        &self,
        spent: &str,
        next: &str,
        ttl: Duration,
    ) -> Result<Rotation, StoreError>;

    /// Ends the login the token `digest` belongs to (live or spent); `None` if there is none.
    async fn end_family_of(&self, digest: &str) -> Result<Option<Ended>, StoreError>;

    /// Ends every login of `user_id`; returns the ones that were going.
    async fn end_families(&self, user_id: &str) -> Result<Vec<String>, StoreError>;

    /// Remembers that the logins `families` ended, until `until` (Unix ms), when their last
    /// access tokens have expired.
    async fn record_revoked(&self, families: &[String], until: u64) -> Result<(), StoreError>;

    /// The logins remembered as ended whose `until` is after `now` (Unix ms), with it. The Redis
    /// store also answers a login ended but never recorded (the instance stopped in between),
    /// with a time after which its access tokens have expired: when the login would have expired,
    /// plus a minute (refresh tokens never live shorter than access tokens, see the settings).
    async fn revoked(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError>;

    /// Admits a login attempt of `username` from `client` unless the failures counted in the
    /// window reach a limit, for the pair or for the address; an admitted attempt is counted as a
    /// failure at once, before its password is checked, so concurrent guesses cannot outrun the
    /// count. Checking and counting are one atomic step. Each count's window opens at its first
    /// failure and lasts `limits.window`.
    async fn admit_login(
        &self,
        username: &str,
        client: &str,
        limits: &LoginLimits,
    ) -> Result<Admission, StoreError>;

    /// Settles an admitted attempt whose password was right ([`Settle::Succeeded`]: the pair's
    /// count goes, the address's failure is taken back) or never checked ([`Settle::NotChecked`]:
    /// both counts are taken back).
    async fn settle_login(
        &self,
        username: &str,
        client: &str,
        settle: Settle,
    ) -> Result<(), StoreError>;

    /// Counts one request from `client` in a fixed window of length `window` opened by its first
    /// request; refuses it once the window holds more than `limit`.
    async fn count_request(
        &self,
        client: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Admission, StoreError>;
}
