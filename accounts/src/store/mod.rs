//! Where accounts live: the [`AccountStore`] trait the handlers use, and its two implementations,
//! [`MemoryStore`] (embedded mode, tests) and [`RedisStore`] (distributed mode).
//!
//! The store keeps the account record exactly as [`Account`] describes it and enforces nothing but
//! existence: bounds on names are the handlers' business. Every operation on one account is atomic
//! on its own, so several service instances can share one Redis. What concerns several users (a
//! game's result, a hand-over, a release) is done user by user, each user's step atomic on its own
//! and safe to repeat, so that each user's records can live apart (in different slots of a Redis
//! Cluster) and a retry completes whatever an interrupted call left half done.
//!
//! Beside the account, the store keeps each user's current [`Activity`] (where they are: a room, a
//! matchmaking ticket, a session). It is keyed by user id alone and needs no account record: the
//! other services seat users by id, and whether an account exists is none of this rule's business.
//! Deleting an account leaves its activity, which its owner releases as usual. Every change of an
//! activity is a compare-and-set on what is stored, so a user is never in two places at once however
//! many instances claim them concurrently.
//!
//! To grow the record, add the field to [`Account`] and to both implementations' encodings; to
//! grow the behaviour, add a method here and implement it in both, atomically per user, as
//! [`AccountStore::apply_result`] is (a game's result, each player's part once per session id).

pub mod memory;
pub mod redis;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

use std::time::Duration;
use warren_contracts::accounts::Account;
use warren_contracts::activity::Activity;

/// How long a session id is remembered as applied to a player: redeliveries come long before that.
pub const RESULT_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// One player's part of a finished game's result.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingChange {
    pub user_id: String,
    /// Added to the rating; finite.
    pub delta: f64,
    /// Whether this player won: counts in `games_won`.
    pub won: bool,
}

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

/// Refuses a result that would write a rating that is not a number.
pub(crate) fn check_deltas(changes: &[RatingChange]) -> Result<(), StoreError> {
    match changes.iter().find(|change| !change.delta.is_finite()) {
        Some(change) => Err(StoreError::Internal(format!(
            "rating delta for {} is {}",
            change.user_id, change.delta
        ))),
        None => Ok(()),
    }
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

    /// Applies one finished game, each player's part once per `session_id`: for each change whose
    /// account exists, adds `delta` to the rating, 1 to `games_played` and, if `won`, 1 to
    /// `games_won` (changes for missing accounts are skipped), and records the session as applied
    /// to that player for [`RESULT_TTL`]; a part applied already is left as it is (a player named
    /// twice counts once). Each part is atomic on its own, not the whole: a call that fails after
    /// some parts (an instance stopped, Redis unavailable half-way) leaves them applied, and the
    /// next call for the session applies the rest, never a part twice.
    ///
    /// Returns the accounts this call updated, in the order of `changes`, or `None` when it
    /// applied no part: every part was applied before (by an earlier call, or by a concurrent one
    /// that got there first), which is also the answer for no changes at all. So of all the calls
    /// for one session, each account is returned by the one that updated it and by no other:
    /// whoever announces the returned ratings announces each player's once at most (never, if the
    /// call that applied it then failed, as when a whole result was applied and its answer lost).
    /// Fails with [`StoreError::Internal`], changing nothing, for a delta that is not finite or an
    /// account record that cannot take it.
    async fn apply_result(
        &self,
        session_id: &str,
        changes: &[RatingChange],
    ) -> Result<Option<Vec<Account>>, StoreError>;

    /// The activity `user_id` is in, if any.
    async fn activity(&self, user_id: &str) -> Result<Option<Activity>, StoreError>;

    /// Puts `user_id` in `activity`, atomically, if they are in nothing, in `activity` already, or
    /// in one of `replaceable`; returns `None` then. Otherwise changes nothing and returns the
    /// activity that holds them. Claims for one user take turns: of concurrent claims of a free
    /// user for different activities, exactly one succeeds.
    async fn claim(
        &self,
        user_id: &str,
        activity: &Activity,
        replaceable: &[Activity],
    ) -> Result<Option<Activity>, StoreError>;

    /// Moves each of `user_ids` that is in `from`, or in nothing, to `to`: each user in one atomic
    /// step, the users independently, so a call that fails may have moved some of them; calling
    /// again completes it (a user in `to` already stays there). Returns the users left where they
    /// were because another activity (not `from`, not `to`) holds them.
    async fn hand_over(
        &self,
        user_ids: &[String],
        from: &Activity,
        to: &Activity,
    ) -> Result<Vec<String>, StoreError>;

    /// Frees each of `user_ids` that is in exactly `activity`, each user in one atomic step (a
    /// call that fails may have freed some; calling again frees the rest); the others are left as
    /// they are. Returns how many this call freed.
    async fn release(&self, user_ids: &[String], activity: &Activity) -> Result<usize, StoreError>;
}
