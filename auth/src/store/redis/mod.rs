//! The Redis store, shared by every auth instance. Each change that touches several keys is one
//! Lua script (`scripts.rs`), so it is atomic.
//!
//! Keys (all under the prefix given to [`RedisStore::new`], e.g. `warren:auth:`):
//!
//! ```text
//! user:<lowercase name>        hash {user_id, username, password_hash}     the credentials
//! user_id:<user id>            string: the lowercase name                  user id → credentials
//! family:<login id>            string: the user id, expires with the login  a login
//! refresh:<sha-256 hex>        hash {family, state: live | spent},          a refresh token; spent
//!                              expires with the token                       ones are kept to
//!                                                                          recognise their reuse
//! user_families:<user id>      sorted set: login ids scored by expiry (ms), a user's logins
//!                              expires with the newest login
//! revoked                      sorted set: ended login ids scored by when   for gateways
//!                              their last access token expires (ms)
//! failed_logins:<lowercase name>:{<address>}
//!                              integer, expires at the end of its window   failures of a name
//!                                                                          from an address
//! failed_logins_from:{<address>}
//!                              integer, expires at the end of its window   failures from an address
//! requests_from:{<address>}    integer, expires after the minute          throttled requests
//! ```
//!
//! The address is in braces, a Redis Cluster hash tag, so that the two counts one login checks
//! live in one slot and one script may touch both.

mod scripts;

use self::scripts::{
    ADMIT_LOGIN, COUNT_REQUEST, CREATE_USER, DELETE_USER, END_FAMILIES, END_FAMILY_OF,
    RECORD_REVOKED, ROTATE, SETTLE_LOGIN, START_FAMILY,
};
use super::{
    Admission, AuthStore, Deleted, Ended, LoginLimits, Rotation, Settle, StoreError, UserRecord,
    username_key,
};
use ::redis::RedisError;
use std::time::Duration;
use warren_contracts::event::now_millis;
use warren_runtime::Redis;

/// The prefix a deployment gives the auth service's keys (the binaries may put a namespace before
/// it); tests use prefixes of their own.
pub const REDIS_PREFIX: &str = "warren:auth:";

/// Auth's state in Redis. Cheap to clone: the connection manager is shared and reconnects by
/// itself; while Redis is away, every operation fails with [`StoreError::Unavailable`].
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

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// The two failure counts of a login: of the name from the address, and of the address.
    fn login_keys(&self, username: &str, client: &str) -> [String; 2] {
        [
            self.key(
                "failed_logins",
                &format!("{}:{{{client}}}", username_key(username)),
            ),
            self.key("failed_logins_from", &format!("{{{client}}}")),
        ]
    }
}

/// A script's answer: 0 to go on, otherwise the milliseconds to wait.
fn admission(wait_ms: u64) -> Admission {
    if wait_ms == 0 {
        Admission::Allowed
    } else {
        Admission::Refused {
            retry_after: Duration::from_millis(wait_ms),
        }
    }
}

/// Milliseconds for Redis: at least 1 (Redis refuses a zero expiry).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[async_trait::async_trait]
impl AuthStore for RedisStore {
    async fn create_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let name = username_key(&user.username);
        let mut invocation = CREATE_USER.prepare_invoke();
        invocation
            .key(self.key("user", &name))
            .key(self.key("user_id", &user.user_id))
            .arg(&user.user_id)
            .arg(&user.username)
            .arg(&user.password_hash)
            .arg(&name);
        let created: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(created == 1)
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = self.key("user", &username_key(username));
        let fields: (Option<String>, Option<String>, Option<String>) = ::redis::cmd("HMGET")
            .arg(&key)
            .arg("user_id")
            .arg("username")
            .arg("password_hash")
            .query_async(&mut self.conn.clone())
            .await?;
        match fields {
            (None, None, None) => Ok(None),
            (Some(user_id), Some(username), Some(password_hash)) => Ok(Some(UserRecord {
                user_id,
                username,
                password_hash,
            })),
            _ => Err(StoreError::Corrupt(format!("{key} lacks a field"))),
        }
    }

    async fn delete_user(&self, user_id: &str) -> Result<Deleted, StoreError> {
        let mut invocation = DELETE_USER.prepare_invoke();
        invocation
            .key(self.key("user_id", user_id))
            .key(self.key("user_families", user_id))
            .arg(&self.prefix)
            .arg(user_id);
        let answer: Vec<::redis::Value> = invocation.invoke_async(&mut self.conn.clone()).await?;
        let mut answer = answer.into_iter();
        let existed = matches!(answer.next(), Some(::redis::Value::Int(1)));
        let families = answer
            .map(::redis::from_redis_value::<String>)
            .collect::<Result<_, _>>()
            .map_err(|error| StoreError::Corrupt(format!("deleting a user answered {error}")))?;
        Ok(Deleted { existed, families })
    }

    async fn start_family(
        &self,
        family: &str,
        user_id: &str,
        digest: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut invocation = START_FAMILY.prepare_invoke();
        invocation
            .key(self.key("user_id", user_id))
            .key(self.key("family", family))
            .key(self.key("refresh", digest))
            .key(self.key("user_families", user_id))
            .arg(user_id)
            .arg(family)
            .arg(millis(ttl))
            .arg(now_millis());
        let started: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(started == 1)
    }

    async fn rotate_refresh_token(
        &self,
        spent: &str,
        next: &str,
        ttl: Duration,
    ) -> Result<Rotation, StoreError> {
        let mut invocation = ROTATE.prepare_invoke();
        invocation
            .key(self.key("refresh", spent))
            .key(self.key("refresh", next))
            .arg(&self.prefix)
            .arg(millis(ttl))
            .arg(now_millis());
        let answer: Vec<String> = invocation.invoke_async(&mut self.conn.clone()).await?;
        match <[String; 3]>::try_from(answer) {
            Ok([outcome, user_id, family]) if outcome == "rotated" => {
                Ok(Rotation::Rotated { user_id, family })
            }
            Ok([outcome, user_id, family]) if outcome == "reused" => {
                Ok(Rotation::Reused { user_id, family })
            }
            Ok(other) => Err(StoreError::Corrupt(format!("rotation answered {other:?}"))),
            Err(_) => Ok(Rotation::Unknown),
        }
    }

    async fn end_family_of(&self, digest: &str) -> Result<Option<Ended>, StoreError> {
        let mut invocation = END_FAMILY_OF.prepare_invoke();
        invocation
            .key(self.key("refresh", digest))
            .arg(&self.prefix);
        let ended: Option<(String, String)> =
            invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(ended.map(|(user_id, family)| Ended { user_id, family }))
    }

    async fn end_families(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let mut invocation = END_FAMILIES.prepare_invoke();
        invocation
            .key(self.key("user_families", user_id))
            .arg(&self.prefix);
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    async fn record_revoked(&self, families: &[String], until: u64) -> Result<(), StoreError> {
        if families.is_empty() {
            return Ok(());
        }
        let mut invocation = RECORD_REVOKED.prepare_invoke();
        invocation
            .key(format!("{}revoked", self.prefix))
            .arg(until)
            .arg(now_millis());
        for family in families {
            invocation.arg(family);
        }
        let _: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    async fn revoked(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(::redis::cmd("ZRANGEBYSCORE")
            .arg(format!("{}revoked", self.prefix))
            .arg(format!("({now}"))
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut self.conn.clone())
            .await?)
    }

    async fn admit_login(
        &self,
        username: &str,
        client: &str,
        limits: &LoginLimits,
    ) -> Result<Admission, StoreError> {
        let [pair, address] = self.login_keys(username, client);
        let mut invocation = ADMIT_LOGIN.prepare_invoke();
        invocation
            .key(pair)
            .key(address)
            .arg(limits.per_name_and_address)
            .arg(limits.per_address)
            .arg(millis(limits.window));
        let wait: u64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(admission(wait))
    }

    async fn settle_login(
        &self,
        username: &str,
        client: &str,
        settle: Settle,
    ) -> Result<(), StoreError> {
        let [pair, address] = self.login_keys(username, client);
        let outcome = match settle {
            Settle::Succeeded => "succeeded",
            Settle::NotChecked => "not_checked",
        };
        let mut invocation = SETTLE_LOGIN.prepare_invoke();
        invocation.key(pair).key(address).arg(outcome);
        let _: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    async fn count_request(
        &self,
        client: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Admission, StoreError> {
        let mut invocation = COUNT_REQUEST.prepare_invoke();
        invocation
            .key(self.key("requests_from", &format!("{{{client}}}")))
            .arg(limit)
            .arg(millis(window));
        let wait: u64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(admission(wait))
    }
}
