//! Where accounts live: the [`AccountStore`] trait the handlers use, and its two implementations,
//! [`MemoryStore`] (embedded mode, tests) and [`RedisStore`] (distributed mode).
//!
//! The store keeps the account record exactly as [`Account`] describes it and enforces nothing but
//! existence: bounds on names are the handlers' business. Every operation on one account is atomic
//! on its own, so several service instances can share one Redis.
//!
//! To grow the record (say, the game results accounts will apply), add the field to [`Account`]
//! and to both implementations' encodings; to grow the behaviour (applying a result once per
//! session id), add a method here and implement it atomically in both.

pub mod memory;
pub mod redis;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

use warren_contracts::accounts::Account;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backing store cannot be reached or cannot serve now (Redis down, loading, read-only);
    /// trying again later may work.
    #[error("account store unavailable: {0}")]
    Unavailable(String),
    /// `create` found an account for that user id already.
    #[error("an account exists for this user id")]
    AlreadyExists,
    /// No account for that user id.
    #[error("no account for this user id")]
    NotFound,
    /// The store answered something this code cannot read (a damaged record, a key of the wrong
    /// type): a bug or tampering, not something a retry fixes.
    #[error("account store failure: {0}")]
    Internal(String),
}

/// The accounts' storage. Implementations are shared by every request of a service instance.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new account under `account.user_id`. Fails with [`StoreError::AlreadyExists`],
    /// changing nothing, if there is one already; of concurrent creates for one id, one wins.
    async fn create(&self, account: &Account) -> Result<(), StoreError>;

    /// The account of `user_id`, if there is one.
    async fn get(&self, user_id: &str) -> Result<Option<Account>, StoreError>;

    /// Sets the display name of `user_id`'s account and returns the account as it is now.
    /// [`StoreError::NotFound`] if there is none (and none is created).
    async fn set_display_name(
        &self,
        user_id: &str,
        display_name: &str,
    ) -> Result<Account, StoreError>;

    /// Deletes `user_id`'s account; [`StoreError::NotFound`] if there is none.
    async fn delete(&self, user_id: &str) -> Result<(), StoreError>;
}
