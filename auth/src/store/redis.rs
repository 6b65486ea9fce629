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
//! failed_logins:<lowercase>    integer, expires at the end of the window   the login throttle
//! ```

use super::{AuthStore, StoreError, UserRecord, username_key};
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

/// Counts a failed login; the first one of a window sets the window's end.
/// KEYS: failed_logins. ARGV: window ms.
static RECORD_FAILED_LOGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local count = redis.call('INCR', KEYS[1])
        if redis.call('PTTL', KEYS[1]) < 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
        end
        return count
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

    async fn failed_logins(&self, username: &str) -> Result<u32, StoreError> {
        let count: Option<u32> = ::redis::cmd("GET")
            .arg(self.key("failed_logins", &username_key(username)))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(count.unwrap_or(0))
    }

    async fn record_failed_login(
        &self,
        username: &str,
        window: Duration,
    ) -> Result<u32, StoreError> {
        let mut invocation = RECORD_FAILED_LOGIN.prepare_invoke();
        invocation
            .key(self.key("failed_logins", &username_key(username)))
            .arg(millis(window));
        let count: u64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn clear_failed_logins(&self, username: &str) -> Result<(), StoreError> {
        ::redis::cmd("DEL")
            .arg(self.key("failed_logins", &username_key(username)))
            .exec_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
