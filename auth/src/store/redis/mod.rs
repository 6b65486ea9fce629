//! The Redis store, shared by every auth instance, on one Redis server or a Redis Cluster.
//!
//! Keys (all under the prefix given to [`RedisStore::new`], e.g. `warren:auth:`), grouped by their
//! hash tag (`warren_runtime::redis_client::tag`): the keys of one group share a Redis Cluster
//! slot, and each script (`scripts.rs`) touches the keys of one group only.
//!
//! ```text
//! user:{name:<lowercase name>}   hash {user_id, username, password_hash}   the credentials
//!
//! user_id:{user:<user id>}       string: the lowercase name               the user exists (logins
//!                                                                         may start); id → name
//! user_families:{user:<user id>} sorted set: login ids scored by when     a user's logins
//!                                they expire at the latest (ms), expires
//!                                with the newest login
//!
//! family:{family:<login id>}     string: the user id, expires with the    a login
//!                                login
//! refresh_state:{family:<login id>}:<sha-256 hex>
//!                                string: live | spent, expires with the   a refresh token of the
//!                                token                                    login; spent ones are
//!                                                                         kept to recognise reuse
//!
//! refresh:{refresh:<sha-256 hex>}
//!                                hash {family, user}, expires with the    refresh token → login
//!                                token
//!
//! revoked:{revoked:all}          sorted set: ended login ids scored by    for gateways
//!                                when their last access token expires (ms)
//! revoking:{revoked:all}         sorted set: login ids being ended, not   ditto, until recorded
//!                                yet in `revoked`, scored likewise
//!
//! failed_logins:{address:<address>}:<lowercase name>
//!                                integer, expires at the end of its window failures of a name
//!                                                                         from an address
//! failed_logins_from:{address:<address>}
//!                                integer, expires at the end of its window failures from an address
//! requests_from:{address:<address>}
//!                                integer, expires after the minute        throttled requests
//! ```
//!
//! Flows that concern several groups are several commands, ordered so that a failure half-way
//! (an instance stopping, Redis unreachable) leaves nothing a client could misuse:
//!
//! - *Creating a user*: `user_id` first, then the credentials if the name is free (else `user_id`
//!   is deleted again). A `user_id` left without credentials names a user id nobody was given.
//! - *Deleting a user*: the credentials (if still theirs), then `user_id` (no login starts after
//!   that), then each indexed login is ended, then the index goes. A retry finishes the job.
//! - *Starting a login*: the token's pointer, the login and its token, then the entry in the
//!   user's index if the user still exists (the step that makes the login count; until it the
//!   login is unreachable, its token not yet handed out; if the user is gone, the rest is deleted).
//! - *Rotating*: the pointer names the login; its index entry is lengthened before the login is,
//!   so the index's expiry is never before the login's (a login no longer indexed is not going);
//!   the next token's pointer is written; then the login's script decides, checking that the
//!   login is the pointer's user's and holds the token (a pointer it does not confirm names
//!   nothing). A spent token makes that script answer `spent` and change nothing; the login is
//!   listed in `revoking`, and a second run of the script ends it if the token is still spent in
//!   a login still going: of concurrent rotations of one token, one rotates, one finds it reused.
//! - *Ending logins* (one, all of a user's, a reused token's): each login is listed in `revoking`
//!   first, then ended, then taken out of its user's index. The service then records it in
//!   `revoked` (which takes it out of `revoking`). `revoked` answers both lists, a login in
//!   `revoking` only once its record is gone: so no ended login is ever missing from the answer,
//!   even when the instance stops before recording it.
//!
//! The address's hash tag puts the two failure counts one login checks in one slot.

mod logins;
mod revocation;
mod scripts;
mod throttles;
mod users;

use super::{
    Admission, AuthStore, Deleted, Ended, LoginLimits, Rotation, Settle, StoreError, UserRecord,
    username_key,
};
use ::redis::{AsyncCommands, RedisError};
use std::time::Duration;
use warren_runtime::Redis;
use warren_runtime::redis_client::tag;

/// The prefix a deployment gives the auth service's keys (the binaries may put a namespace before
/// it); tests use prefixes of their own.
pub const REDIS_PREFIX: &str = "warren:auth:";

/// Auth's state in Redis. Cheap to clone: the connection is shared and reconnects by itself;
/// while Redis is away, every operation fails with [`StoreError::Unavailable`].
#[derive(Clone)]
pub struct RedisStore {
    conn: Redis,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl From<RedisError> for StoreError {
    fn from(error: RedisError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

impl RedisStore {
    /// A store whose keys all start with `prefix` (e.g. `warren:auth:`).
    pub fn new(conn: Redis, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
        }
    }

    fn conn(&self) -> Redis {
        self.conn.clone()
    }

    fn credentials_key(&self, username: &str) -> String {
        format!(
            "{}user:{}",
            self.prefix,
            tag("name", &username_key(username))
        )
    }

    fn user_id_key(&self, user_id: &str) -> String {
        format!("{}user_id:{}", self.prefix, tag("user", user_id))
    }

    fn user_families_key(&self, user_id: &str) -> String {
        format!("{}user_families:{}", self.prefix, tag("user", user_id))
    }

    fn family_key(&self, family: &str) -> String {
        format!("{}family:{}", self.prefix, tag("family", family))
    }

    fn state_key(&self, family: &str, digest: &str) -> String {
        format!(
            "{}refresh_state:{}:{digest}",
            self.prefix,
            tag("family", family)
        )
    }

    fn pointer_key(&self, digest: &str) -> String {
        format!("{}refresh:{}", self.prefix, tag("refresh", digest))
    }

    /// `revoked` and `revoking`.
    fn revoked_keys(&self) -> [String; 2] {
        let all = tag("revoked", "all");
        [
            format!("{}revoked:{all}", self.prefix),
            format!("{}revoking:{all}", self.prefix),
        ]
    }

    /// The two failure counts of a login: of the name from the address, and of the address.
    fn login_keys(&self, username: &str, client: &str) -> [String; 2] {
        let address = tag("address", client);
        [
            format!(
                "{}failed_logins:{address}:{}",
                self.prefix,
                username_key(username)
            ),
            format!("{}failed_logins_from:{address}", self.prefix),
        ]
    }

    /// Deletes keys that nothing reaches any more, each on its own (they may be in several
    /// slots). Tidying only: they expire anyway, so a failure is logged and not returned.
    async fn tidy(&self, keys: Vec<String>) {
        let deletions = keys.into_iter().map(|key| async move {
            let _: i64 = self.conn().del(&key).await?;
            Ok::<(), StoreError>(())
        });
        if let Err(error) = futures_util::future::try_join_all(deletions).await {
            tracing::warn!(%error, "could not delete keys that expire by themselves");
        }
    }
}

/// Milliseconds for Redis: at least 1 (Redis refuses a zero expiry).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Each operation is written in the module of what it concerns (`users`, `logins`, `revocation`,
/// `throttles`); a trait impl is one block, so this only hands on.
#[async_trait::async_trait]
impl AuthStore for RedisStore {
    async fn create_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        self.add_user(user).await
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read_user(username).await
    }

    async fn delete_user(&self, user_id: &str) -> Result<Deleted, StoreError> {
        self.remove_user(user_id).await
    }

    async fn start_family(
        &self,
        family: &str,
        user_id: &str,
        digest: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.open_family(family, user_id, digest, ttl).await
    }

    async fn rotate_refresh_token(
        &self,
        spent: &str,
        next: &str,
        ttl: Duration,
    ) -> Result<Rotation, StoreError> {
        self.rotate(spent, next, ttl).await
    }

    async fn end_family_of(&self, digest: &str) -> Result<Option<Ended>, StoreError> {
        self.end_token_family(digest).await
    }

    async fn end_families(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        self.end_user_families(user_id).await
    }

    async fn record_revoked(&self, families: &[String], until: u64) -> Result<(), StoreError> {
        self.add_revoked(families, until).await
    }

    async fn revoked(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        self.read_revoked(now).await
    }

    async fn admit_login(
        &self,
        username: &str,
        client: &str,
        limits: &LoginLimits,
    ) -> Result<Admission, StoreError> {
        self.admit_login_attempt(username, client, limits).await
    }

    async fn settle_login(
        &self,
        username: &str,
        client: &str,
        settle: Settle,
    ) -> Result<(), StoreError> {
        self.settle_login_attempt(username, client, settle).await
    }

    async fn count_request(
        &self,
        client: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Admission, StoreError> {
        self.count_client_request(client, limit, window).await
    }
}
