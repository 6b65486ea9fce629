//! Who is online, as the gateways say it: the table the matchmaker (a player gone from every
//! gateway loses their ticket) and sessions (their grace period starts) each keep from the
//! `presence.online` / `presence.offline` events. Each gateway's newest statement about a user is
//! kept, since events from one gateway can overtake each other; a user is online while any gateway
//! last said so. A user no gateway spoke of for a day is forgotten, as a socket does not stay open
//! that long without its gateway saying so again.

use crate::Redis;
use std::collections::HashMap;

/// How long a user's statements are kept after the last one.
pub const PRESENCE_TTL_SECONDS: u64 = 86_400;
const PRESENCE_TTL_MS: u64 = PRESENCE_TTL_SECONDS * 1000;

/// Once the table holds this many users, those no gateway spoke of for a day are forgotten (as
/// their Redis key would expire); the next clean-up waits until the table has doubled, so the cost
/// stays constant per event.
const PRESENCE_KEPT: usize = 100_000;

/// KEYS: the user's hash, gateway id → `<ms>:<0|1>`. ARGV: gateway, at (ms), 0|1, ttl (s).
/// 1 if online on any gateway afterwards: read in the same step, so that two gateways' events
/// handled at once cannot both find the user offline elsewhere. One key: load it with
/// [`crate::redis_client::script`], like every script.
pub const SET_PRESENCE: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
local newer = true
if current then
  local at = tonumber(string.match(current, '^(%d+):'))
  if at and at > tonumber(ARGV[2]) then newer = false end
end
if newer then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
for _, said in ipairs(redis.call('HVALS', KEYS[1])) do
  if string.sub(said, -2) == ':1' then return 1 end
end
return 0";

/// Records in Redis, under `key` (the user's hash) with [`SET_PRESENCE`] loaded as `script`, what
/// `gateway_id` said at `at` (ms); whether the user is online on any gateway afterwards.
pub async fn set_in_redis(
    script: &redis::Script,
    redis: &Redis,
    key: String,
    gateway_id: &str,
    online: bool,
    at: u64,
) -> redis::RedisResult<bool> {
    let anywhere: i64 = script
        .key(key)
        .arg(gateway_id)
        .arg(at)
        .arg(u8::from(online))
        .arg(PRESENCE_TTL_SECONDS)
        .invoke_async(&mut redis.clone())
        .await?;
    Ok(anywhere == 1)
}

/// Whether a user's hash, as [`SET_PRESENCE`] keeps it, says they are online anywhere.
pub async fn online_in_redis(redis: &Redis, key: String) -> redis::RedisResult<bool> {
    let statements: Vec<String> = redis::cmd("HVALS")
        .arg(key)
        .query_async(&mut redis.clone())
        .await?;
    Ok(statements.iter().any(|s| s.ends_with(":1")))
}

/// The table in memory, for a store without Redis.
#[derive(Debug, Default)]
pub struct PresenceTable {
    /// user → gateway → (when it said so, online)
    users: HashMap<String, HashMap<String, (u64, bool)>>,
    /// The size that triggers the next clean-up; 0 means [`PRESENCE_KEPT`].
    prune_at: usize,
}

impl PresenceTable {
    /// Records what `gateway_id` said of `user_id` at `at` (ms), unless it said something newer
    /// already; whether the user is online on any gateway afterwards.
    pub fn set(&mut self, user_id: &str, gateway_id: &str, online: bool, at: u64) -> bool {
        if self.users.len() >= self.prune_at.max(PRESENCE_KEPT) {
            let since = at.saturating_sub(PRESENCE_TTL_MS);
            self.users
                .retain(|_, gateways| gateways.values().any(|(said, _)| *said > since));
            self.prune_at = self.users.len().saturating_mul(2);
        }
        let gateways = self.users.entry(user_id.to_owned()).or_default();
        let said = gateways.entry(gateway_id.to_owned()).or_insert((0, false));
        if at >= said.0 {
            *said = (at, online);
        }
        self.online(user_id)
    }

    /// Whether any gateway last said `user_id` is online.
    pub fn online(&self, user_id: &str) -> bool {
        self.users
            .get(user_id)
            .is_some_and(|g| g.values().any(|(_, online)| *online))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_gateways_newest_statement_counts() {
        let mut table = PresenceTable::default();
        assert!(table.set("ada", "g1", true, 10));
        assert!(table.set("ada", "g2", false, 20));
        // An older statement from g1 arrives late: ignored.
        assert!(table.set("ada", "g1", false, 5));
        assert!(!table.set("ada", "g1", false, 30));
        assert!(!table.online("ada"));
        assert!(!table.online("bob"));
    }
}
