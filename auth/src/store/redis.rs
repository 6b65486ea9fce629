//! The Redis store, shared by every auth instance. Each change that touches several keys is one
//! Lua script, so it is atomic.
//!
//! Keys (all under the prefix given to [`RedisStore::new`], e.g. `warren:auth:`):
//!
//! ```text
//! user:<lowercase name>        hash {user_id, username, password_hash}     the credentials
//! user_id:<user id>            string: the lowercase name                  user id → credentials
//! refresh:<sha-256 hex>        string: the user id, expires with the token a live refresh token
//! user_refresh:<user id>       sorted set: token digests scored by expiry   a user's tokens
//!                              (ms), expires with the newest token
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

use super::{Admission, AuthStore, LoginLimits, Settle, StoreError, UserRecord, username_key};
use ::redis::aio::ConnectionManager;
use ::redis::{RedisError, Script};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The prefix a deployment gives the auth service's keys (the binaries may put a namespace before
/// it); tests use prefixes of their own.
pub const REDIS_PREFIX: &str = "warren:auth:";

/// Creates the credentials and their user-id index unless the name is taken.
/// KEYS: user, user_id. ARGV: user id, username, password hash, lowercase name.
static CREATE_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'username', ARGV[2], 'password_hash', ARGV[3])
        redis.call('SET', KEYS[2], ARGV[4])
        return 1
        ",
    )
});

/// Deletes a user's credentials (if still theirs), the index and every refresh token.
/// KEYS: user_id, user_refresh. ARGV: prefix, user id.
static DELETE_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local existed = 0
        local name = redis.call('GET', KEYS[1])
        if name then
            local user = ARGV[1] .. 'user:' .. name
            if redis.call('HGET', user, 'user_id') == ARGV[2] then
                redis.call('DEL', user)
                existed = 1
            end
            redis.call('DEL', KEYS[1])
        end
        for _, digest in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
            redis.call('DEL', ARGV[1] .. 'refresh:' .. digest)
        end
        redis.call('DEL', KEYS[2])
        return existed
        ",
    )
});

/// Stores a refresh token if its user still exists, indexes it under the user and forgets index
/// entries that expired over a minute ago (the minute covers clock skew between instances).
/// KEYS: user_id, refresh, user_refresh. ARGV: user id, digest, ttl ms, now ms.
static ADD_REFRESH_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local ttl = tonumber(ARGV[3])
        local now = tonumber(ARGV[4])
        redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000)
        redis.call('ZADD', KEYS[3], now + ttl, ARGV[2])
        if redis.call('PTTL', KEYS[3]) < ttl then
            redis.call('PEXPIRE', KEYS[3], ARGV[3])
        end
        return 1
        ",
    )
});

/// Takes a refresh token: returns its user and deletes it, or nil.
/// KEYS: refresh. ARGV: prefix, digest.
static TAKE_REFRESH_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local user_id = redis.call('GET', KEYS[1])
        if not user_id then return false end
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', ARGV[1] .. 'user_refresh:' .. user_id, ARGV[2])
        return user_id
        ",
    )
});

/// Admits a login attempt unless a failure count is at its limit, and then counts it as a failure;
/// each count's first failure opens its window. Returns 0 when admitted, otherwise the
/// milliseconds until the blocking window ends.
/// KEYS: pair count, address count. ARGV: pair limit, address limit, window ms.
static ADMIT_LOGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local wait = 0
        for i, key in ipairs(KEYS) do
            if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
                wait = math.max(wait, redis.call('PTTL', key), 1)
            end
        end
        if wait > 0 then return wait end
        for _, key in ipairs(KEYS) do
            redis.call('INCR', key)
            if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[3]) end
        end
        return 0
        ",
    )
});

/// Settles an admitted attempt: `succeeded` deletes the pair's count, `not_checked` takes one back
/// from it; both take one back from the address's count.
/// KEYS: pair count, address count. ARGV: `succeeded` or `not_checked`.
static SETTLE_LOGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local function take_back(key)
            if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
        end
        if ARGV[1] == 'succeeded' then redis.call('DEL', KEYS[1]) else take_back(KEYS[1]) end
        take_back(KEYS[2])
        return 0
        ",
    )
});

/// Counts a request in its address's window, the first one opening it. Returns 0 within the limit,
/// otherwise the milliseconds until the window ends.
/// KEYS: request count. ARGV: limit, window ms.
static COUNT_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local count = redis.call('INCR', KEYS[1])
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            ttl = tonumber(ARGV[2])
        end
        if count > tonumber(ARGV[1]) then return math.max(ttl, 1) end
        return 0
        ",
    )
});

/// Auth's state in Redis. Cheap to clone: the connection manager is shared and reconnects by
/// itself; while Redis is away, every operation fails with [`StoreError::Unavailable`].
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
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
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
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

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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

    async fn delete_user(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut invocation = DELETE_USER.prepare_invoke();
        invocation
            .key(self.key("user_id", user_id))
            .key(self.key("user_refresh", user_id))
            .arg(&self.prefix)
            .arg(user_id);
        let existed: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(existed == 1)
    }

    async fn add_refresh_token(
        &self,
        digest: &str,
        user_id: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut invocation = ADD_REFRESH_TOKEN.prepare_invoke();
        invocation
            .key(self.key("user_id", user_id))
            .key(self.key("refresh", digest))
            .key(self.key("user_refresh", user_id))
            .arg(user_id)
            .arg(digest)
            .arg(millis(ttl))
            .arg(now_millis());
        let added: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(added == 1)
    }

    async fn take_refresh_token(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let mut invocation = TAKE_REFRESH_TOKEN.prepare_invoke();
        invocation
            .key(self.key("refresh", digest))
            .arg(&self.prefix)
            .arg(digest);
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
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
