//! Tickets in Redis, under the store's prefix:
//!
//! - `ticket:<id>`: a hash: `record` (the search, as JSON), `user`, `pool`, `entry` (the pool
//!   entry), `expires_at`, and what changes as it is matched: `status`, `deadline`, `takes`;
//! - `user:<user>`: the id of the user's ticket;
//! - `pool:<pool>`: a hash, ticket id → `rating|created_at`, of the pool's waiting tickets: all a
//!   matching pass needs, in one `HGETALL`;
//! - `pools`: the set of pools with waiting tickets;
//! - `expiry`: pending and waiting tickets scored by when they run out;
//! - `matching`: matching tickets scored by when the sweeper should look at them (an instance may
//!   have died mid-match);
//! - `lease:<pool>`: the instance working the pool now, for a few seconds;
//! - `presence:<user>`: a hash, gateway id → `<ms>:<0|1>`, each gateway's newest statement.
//!
//! Every change that touches more than one key is one Lua script. The scripts that work on
//! tickets found in a schedule or named by the caller build those tickets' key names from the
//! prefix (passed as the first argument), so the store wants one Redis, not a cluster. Ticket and
//! user keys also expire a while after the ticket should have: a backstop if no sweeper runs.

use super::{Removal, StoreError, TicketRecord, TicketStatus, TicketStore, parse_entry};
use crate::pool::Waiting;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::time::Duration;
use warren_contracts::event::now_millis;

/// How long after its last due moment a ticket's keys stay in Redis unless removed first.
const BACKSTOP_MS: u64 = 60_000;
/// What each gateway said of a user is forgotten a day after the last statement.
const PRESENCE_TTL_SECONDS: u64 = 86_400;

/// Shared by the ticket scripts. ARGV[1] is the prefix. `fields` reads what a caller gets back of
/// a ticket (see `records`), followed by its user and pool.
const PRELUDE: &str = r"
local P = ARGV[1]
local function ticket_key(id) return P .. 'ticket:' .. id end
local function leave_pool(id, pool)
  local key = P .. 'pool:' .. pool
  redis.call('HDEL', key, id)
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', P .. 'pools', pool) end
end
local function join_pool(id, pool, entry)
  redis.call('HSET', P .. 'pool:' .. pool, id, entry)
  redis.call('SADD', P .. 'pools', pool)
end
local function fields(id)
  return redis.call('HMGET', ticket_key(id), 'record', 'status', 'deadline', 'takes', 'user', 'pool')
end
local function delete(id, f)
  local user_key = P .. 'user:' .. f[5]
  if redis.call('GET', user_key) == id then redis.call('DEL', user_key) end
  leave_pool(id, f[6])
  redis.call('ZREM', P .. 'expiry', id)
  redis.call('ZREM', P .. 'matching', id)
  redis.call('DEL', ticket_key(id))
end
local function push(out, f)
  for i = 1, 4 do table.insert(out, f[i]) end
end
local function keep(id, user, ms)
  local user_key = P .. 'user:' .. user
  if redis.call('PTTL', ticket_key(id)) < tonumber(ms) then
    redis.call('PEXPIRE', ticket_key(id), ms)
    if redis.call('GET', user_key) == id then redis.call('PEXPIRE', user_key, ms) end
  end
end
";

/// ARGV: prefix, id, user, pool, entry, expires_at, record, keys' lifetime (ms). The id of the
/// user's ticket if they have one, nil once stored.
const ADD: &str = r"
local user_key = P .. 'user:' .. ARGV[3]
local existing = redis.call('GET', user_key)
if existing and redis.call('EXISTS', ticket_key(existing)) == 1 then return existing end
local key = ticket_key(ARGV[2])
redis.call('HSET', key, 'record', ARGV[7], 'user', ARGV[3], 'pool', ARGV[4], 'entry', ARGV[5],
  'expires_at', ARGV[6], 'status', 'pending', 'deadline', '0', 'takes', '0')
redis.call('PEXPIRE', key, ARGV[8])
redis.call('SET', user_key, ARGV[2], 'PX', ARGV[8])
redis.call('ZADD', P .. 'expiry', ARGV[6], ARGV[2])
return false";

/// ARGV: prefix, id.
const ACTIVATE: &str = r"
local key = ticket_key(ARGV[2])
local f = redis.call('HMGET', key, 'status', 'pool', 'entry')
if f[1] ~= 'pending' then return 0 end
redis.call('HSET', key, 'status', 'waiting')
join_pool(ARGV[2], f[2], f[3])
return 1";

/// ARGV: prefix, id, allowed statuses… `{}` if missing, `{'kept', status}`, or `{'removed',
/// record…}`.
const REMOVE: &str = r"
local f = fields(ARGV[2])
if not f[1] then return {} end
for i = 3, #ARGV do
  if f[2] == ARGV[i] then
    delete(ARGV[2], f)
    local out = {'removed'}
    push(out, f)
    return out
  end
end
return {'kept', f[2]}";

/// ARGV: prefix, pool, deadline, keys' lifetime (ms), ids… The taken records, or `{}`.
const TAKE: &str = r"
local pool = ARGV[2]
for i = 5, #ARGV do
  local f = redis.call('HMGET', ticket_key(ARGV[i]), 'status', 'pool')
  if not f[1] then
    -- Gone without leaving its pool (its keys expired): tidy up, so no pass picks it again.
    leave_pool(ARGV[i], pool)
    return {}
  end
  if f[1] ~= 'waiting' or f[2] ~= pool then return {} end
end
local out = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local key = ticket_key(id)
  redis.call('HSET', key, 'status', 'matching', 'deadline', ARGV[3])
  redis.call('HINCRBY', key, 'takes', 1)
  leave_pool(id, pool)
  redis.call('ZREM', P .. 'expiry', id)
  redis.call('ZADD', P .. 'matching', ARGV[3], id)
  local f = fields(id)
  keep(id, f[5], ARGV[4])
  push(out, f)
end
return out";

/// ARGV: prefix, then (id, takes) pairs. How many went back.
const PUT_BACK: &str = r"
local n = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local key = ticket_key(id)
  local f = redis.call('HMGET', key, 'status', 'takes', 'pool', 'entry', 'expires_at')
  if f[1] == 'matching' and f[2] == ARGV[i + 1] then
    redis.call('HSET', key, 'status', 'waiting', 'deadline', '0')
    redis.call('ZREM', P .. 'matching', id)
    redis.call('ZADD', P .. 'expiry', f[5], id)
    join_pool(id, f[3], f[4])
    n = n + 1
  end
end
return n";

/// ARGV: prefix, ids…
const FINISH: &str = r"
for i = 2, #ARGV do
  local f = fields(ARGV[i])
  if f[1] then delete(ARGV[i], f) end
end
return 1";

/// ARGV: prefix, now, limit. The removed records.
const TAKE_EXPIRED: &str = r"
local due = redis.call('ZRANGEBYSCORE', P .. 'expiry', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'expiry', id)
  local f = fields(id)
  if f[1] and (f[2] == 'waiting' or f[2] == 'pending') then
    delete(id, f)
    push(out, f)
  end
end
return out";

/// ARGV: prefix, now, limit, retry at. The stuck records, with their new deadline.
const TAKE_STUCK: &str = r"
local due = redis.call('ZRANGEBYSCORE', P .. 'matching', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(due) do
  local f = fields(id)
  if f[1] and f[2] == 'matching' then
    redis.call('ZADD', P .. 'matching', ARGV[4], id)
    redis.call('HSET', ticket_key(id), 'deadline', ARGV[4])
    f[3] = ARGV[4]
    push(out, f)
  else
    redis.call('ZREM', P .. 'matching', id)
  end
end
return out";

/// KEYS: lease. ARGV: holder.
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1";

/// KEYS: presence. ARGV: gateway, at (ms), 0|1, ttl (s). 1 if online on any gateway afterwards.
const SET_PRESENCE: &str = r"
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

pub struct RedisStore {
    redis: ConnectionManager,
    prefix: String,
    add: redis::Script,
    activate: redis::Script,
    remove: redis::Script,
    take: redis::Script,
    put_back: redis::Script,
    finish: redis::Script,
    take_expired: redis::Script,
    take_stuck: redis::Script,
    release_lease: redis::Script,
    set_presence: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn ticket_script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}{body}"))
}

impl RedisStore {
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            add: ticket_script(ADD),
            activate: ticket_script(ACTIVATE),
            remove: ticket_script(REMOVE),
            take: ticket_script(TAKE),
            put_back: ticket_script(PUT_BACK),
            finish: ticket_script(FINISH),
            take_expired: ticket_script(TAKE_EXPIRED),
            take_stuck: ticket_script(TAKE_STUCK),
            release_lease: redis::Script::new(RELEASE_LEASE),
            set_presence: redis::Script::new(SET_PRESENCE),
        }
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// An invocation of a ticket script, with the prefix as its first argument.
    fn invocation<'a>(&self, script: &'a redis::Script) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(&self.prefix);
        invocation
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        invocation
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A ticket from its four stored parts: record, status, deadline, takes.
fn record(parts: &[String]) -> Result<TicketRecord, StoreError> {
    let [json, status, deadline, takes] = parts else {
        return Err(corrupt("a ticket came back in pieces"));
    };
    let mut record: TicketRecord = serde_json::from_str(json).map_err(corrupt)?;
    record.status =
        TicketStatus::parse(status).ok_or_else(|| corrupt(format!("status {status:?}")))?;
    record.deadline = deadline.parse().map_err(corrupt)?;
    record.takes = takes.parse().map_err(corrupt)?;
    Ok(record)
}

/// The tickets a script returned, four parts each.
fn records(flat: &[String]) -> Result<Vec<TicketRecord>, StoreError> {
    flat.chunks(4).map(record).collect()
}

/// How long from now a ticket's keys should live if its last due moment is `due` (Unix ms).
fn lifetime_ms(due: u64) -> u64 {
    due.saturating_sub(now_millis()).saturating_add(BACKSTOP_MS)
}

#[async_trait::async_trait]
impl TicketStore for RedisStore {
    async fn add(&self, ticket: &TicketRecord) -> Result<Option<String>, StoreError> {
        let json = serde_json::to_string(ticket).map_err(corrupt)?;
        let mut invocation = self.invocation(&self.add);
        invocation
            .arg(&ticket.ticket_id)
            .arg(&ticket.user_id)
            .arg(ticket.pool())
            .arg(ticket.entry())
            .arg(ticket.expires_at)
            .arg(json)
            .arg(lifetime_ms(ticket.expires_at));
        self.run(invocation).await
    }

    async fn get(&self, ticket_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        let parts: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("ticket", ticket_id))
            .arg(&["record", "status", "deadline", "takes"][..])
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let parts: Option<Vec<String>> = parts.into_iter().collect();
        parts.map(|parts| record(&parts)).transpose()
    }

    async fn find_user(&self, user_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        let ticket_id: Option<String> = redis::cmd("GET")
            .arg(self.key("user", user_id))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        match ticket_id {
            Some(id) => self.get(&id).await,
            None => Ok(None),
        }
    }

    async fn activate(&self, ticket_id: &str) -> Result<bool, StoreError> {
        let mut invocation = self.invocation(&self.activate);
        invocation.arg(ticket_id);
        let activated: i64 = self.run(invocation).await?;
        Ok(activated == 1)
    }

    async fn remove(
        &self,
        ticket_id: &str,
        allowed: &[TicketStatus],
    ) -> Result<Removal, StoreError> {
        let mut invocation = self.invocation(&self.remove);
        invocation.arg(ticket_id);
        for status in allowed {
            invocation.arg(status.as_str());
        }
        let answer: Vec<String> = self.run(invocation).await?;
        match answer.split_first() {
            None => Ok(Removal::Missing),
            Some((what, rest)) if what == "removed" => Ok(Removal::Removed(record(rest)?)),
            Some((_, [status])) => TicketStatus::parse(status)
                .map(Removal::Kept)
                .ok_or_else(|| corrupt(format!("status {status:?}"))),
            Some(_) => Err(corrupt("an unreadable answer to a removal")),
        }
    }

    async fn pools(&self) -> Result<Vec<String>, StoreError> {
        redis::cmd("SMEMBERS")
            .arg(format!("{}pools", self.prefix))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn queue_lengths(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let pools = self.pools().await?;
        if pools.is_empty() {
            return Ok(Vec::new());
        }
        let mut lengths = redis::pipe();
        for pool in &pools {
            lengths.cmd("HLEN").arg(self.key("pool", pool));
        }
        let lengths: Vec<u64> = lengths
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(pools.into_iter().zip(lengths).collect())
    }

    async fn waiting(&self, pool: &str) -> Result<Vec<Waiting>, StoreError> {
        let entries: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.key("pool", pool))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        entries
            .iter()
            .map(|(id, entry)| parse_entry(id, entry))
            .collect()
    }

    async fn lease(&self, pool: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key("lease", pool))
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }

    async fn release_lease(&self, pool: &str, holder: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .release_lease
            .key(self.key("lease", pool))
            .arg(holder)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take(
        &self,
        pool: &str,
        ticket_ids: &[String],
        deadline: u64,
    ) -> Result<Option<Vec<TicketRecord>>, StoreError> {
        if ticket_ids.is_empty() {
            return Ok(None);
        }
        let mut invocation = self.invocation(&self.take);
        invocation
            .arg(pool)
            .arg(deadline)
            .arg(lifetime_ms(deadline))
            .arg(ticket_ids);
        let flat: Vec<String> = self.run(invocation).await?;
        if flat.is_empty() {
            return Ok(None);
        }
        records(&flat).map(Some)
    }

    async fn put_back(&self, tickets: &[TicketRecord]) -> Result<usize, StoreError> {
        if tickets.is_empty() {
            return Ok(0);
        }
        let mut invocation = self.invocation(&self.put_back);
        for ticket in tickets {
            invocation.arg(&ticket.ticket_id).arg(ticket.takes);
        }
        self.run(invocation).await
    }

    async fn finish(&self, ticket_ids: &[String]) -> Result<(), StoreError> {
        if ticket_ids.is_empty() {
            return Ok(());
        }
        let mut invocation = self.invocation(&self.finish);
        invocation.arg(ticket_ids);
        let _: i64 = self.run(invocation).await?;
        Ok(())
    }

    async fn take_expired(&self, now: u64, limit: usize) -> Result<Vec<TicketRecord>, StoreError> {
        let mut invocation = self.invocation(&self.take_expired);
        invocation.arg(now).arg(limit.max(1));
        let flat: Vec<String> = self.run(invocation).await?;
        records(&flat)
    }

    async fn take_stuck(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        let mut invocation = self.invocation(&self.take_stuck);
        invocation.arg(now).arg(limit.max(1)).arg(retry_at);
        let flat: Vec<String> = self.run(invocation).await?;
        records(&flat)
    }

    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        let anywhere: i64 = self
            .set_presence
            .key(self.key("presence", user_id))
            .arg(gateway_id)
            .arg(at)
            .arg(u8::from(online))
            .arg(PRESENCE_TTL_SECONDS)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(anywhere == 1)
    }
}
