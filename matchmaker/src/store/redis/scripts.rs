//! The Lua scripts of the Redis store: every change that touches more than one key is one of
//! these, so it is atomic. Each ticket script starts with [`PRELUDE`] and takes the store's prefix
//! as `ARGV[1]`, building the key names of the tickets and matches it finds from it (so the store
//! wants one Redis, not a cluster).

/// Shared by the ticket scripts. `fields` reads what a caller gets back of a ticket (see
/// `TICKET_PARTS` in the store), followed by its user and pool; `match_fields` what a caller gets
/// back of a match (`MATCH_PARTS`).
pub(super) const PRELUDE: &str = r"
local P = ARGV[1]
local function ticket_key(id) return P .. 'ticket:' .. id end
local function match_key(id) return P .. 'match:' .. id end
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
  local f = redis.call('HMGET', ticket_key(id), 'record', 'status', 'match', 'session', 'leaving',
    'user', 'pool')
  for i = 3, 5 do f[i] = f[i] or '' end
  return f
end
local function delete(id, f)
  local user_key = P .. 'user:' .. f[6]
  if redis.call('GET', user_key) == id then redis.call('DEL', user_key) end
  leave_pool(id, f[7])
  redis.call('ZREM', P .. 'expiry', id)
  redis.call('DEL', ticket_key(id))
end
local function push(out, f)
  for i = 1, 5 do table.insert(out, f[i]) end
end
local function keep(id, user, ms)
  local user_key = P .. 'user:' .. user
  if redis.call('PTTL', ticket_key(id)) < tonumber(ms) then
    redis.call('PEXPIRE', ticket_key(id), ms)
    if redis.call('GET', user_key) == id then redis.call('PEXPIRE', user_key, ms) end
  end
end
local function match_fields(id)
  local m = redis.call('HMGET', match_key(id), 'record', 'session', 'handed', 'announced', 'due',
    'done')
  if not m[1] then return nil end
  for i = 2, 6 do m[i] = m[i] or '' end
  return m
end
-- The match's tickets that are still its own, with their fields.
local function owned(id)
  local out = {}
  local list = redis.call('HGET', match_key(id), 'tickets') or ''
  for ticket in string.gmatch(list, '%S+') do
    local f = fields(ticket)
    if f[1] and f[3] == id then table.insert(out, {ticket, f}) end
  end
  return out
end
";

/// ARGV: prefix, id, user, pool, entry, expires_at, record, keys' lifetime (ms). The id of the
/// user's ticket if they have one, nil once stored.
pub(super) const ADD: &str = r"
local user_key = P .. 'user:' .. ARGV[3]
local existing = redis.call('GET', user_key)
if existing and redis.call('EXISTS', ticket_key(existing)) == 1 then return existing end
local key = ticket_key(ARGV[2])
redis.call('DEL', key)
redis.call('HSET', key, 'record', ARGV[7], 'user', ARGV[3], 'pool', ARGV[4], 'entry', ARGV[5],
  'expires_at', ARGV[6], 'status', 'pending')
redis.call('PEXPIRE', key, ARGV[8])
redis.call('SET', user_key, ARGV[2], 'PX', ARGV[8])
redis.call('ZADD', P .. 'expiry', ARGV[6], ARGV[2])
return false";

/// ARGV: prefix, id.
pub(super) const ACTIVATE: &str = r"
local key = ticket_key(ARGV[2])
local f = redis.call('HMGET', key, 'status', 'pool', 'entry')
if f[1] ~= 'pending' then return 0 end
redis.call('HSET', key, 'status', 'waiting')
join_pool(ARGV[2], f[2], f[3])
return 1";

/// ARGV: prefix, id, leaving reason or '', allowed statuses… `{}` if missing, `{'kept',
/// ticket…}` (a matching one marked leaving, if a reason was given), or `{'removed', ticket…}`.
pub(super) const REMOVE: &str = r"
local id = ARGV[2]
local f = fields(id)
if not f[1] then return {} end
for i = 4, #ARGV do
  if f[2] == ARGV[i] then
    delete(id, f)
    local out = {'removed'}
    push(out, f)
    return out
  end
end
if f[2] == 'matching' and ARGV[3] ~= '' then
  redis.call('HSET', ticket_key(id), 'leaving', ARGV[3])
  f[5] = ARGV[3]
end
local out = {'kept'}
push(out, f)
return out";

/// ARGV: prefix, pool, match id, due, match record, the tickets joined by spaces, keys' lifetime
/// (ms), ids… The taken tickets, or `{}`.
pub(super) const TAKE: &str = r"
local pool, mid = ARGV[2], ARGV[3]
if redis.call('EXISTS', match_key(mid)) == 1 then return {} end
for i = 8, #ARGV do
  local f = redis.call('HMGET', ticket_key(ARGV[i]), 'status', 'pool')
  if not f[1] then
    -- Gone without leaving its pool (its keys expired): tidy up, so no pass picks it again.
    leave_pool(ARGV[i], pool)
    return {}
  end
  if f[1] ~= 'waiting' or f[2] ~= pool then return {} end
end
local out = {}
for i = 8, #ARGV do
  local id = ARGV[i]
  local key = ticket_key(id)
  redis.call('HSET', key, 'status', 'matching', 'match', mid)
  redis.call('HDEL', key, 'session', 'leaving')
  leave_pool(id, pool)
  redis.call('ZREM', P .. 'expiry', id)
  local f = fields(id)
  keep(id, f[6], ARGV[7])
  push(out, f)
end
local key = match_key(mid)
redis.call('HSET', key, 'record', ARGV[5], 'tickets', ARGV[6], 'due', ARGV[4], 'handed', '0',
  'announced', '0', 'done', '0')
redis.call('PEXPIRE', key, ARGV[7])
redis.call('ZADD', P .. 'due', ARGV[4], mid)
return out";

/// ARGV: prefix, match id, session id. `{}` if there is no such match, else `{1 if this call
/// recorded the session, match…}`.
pub(super) const RECORD_SESSION: &str = r"
local mid = ARGV[2]
local m = match_fields(mid)
if not m then return {} end
local first = 0
if m[2] == '' then
  redis.call('HSET', match_key(mid), 'session', ARGV[3])
  for _, t in ipairs(owned(mid)) do
    redis.call('HSET', ticket_key(t[1]), 'status', 'matched', 'session', ARGV[3])
  end
  m[2] = ARGV[3]
  first = 1
end
table.insert(m, 1, tostring(first))
return m";

/// ARGV: prefix, match id, field (`handed` or `announced`).
pub(super) const NOTE: &str = r"
if redis.call('EXISTS', match_key(ARGV[2])) == 1 then
  redis.call('HSET', match_key(ARGV[2]), ARGV[3], '1')
end
return 1";

/// ARGV: prefix, match id, how long a done match is kept (ms).
pub(super) const COMPLETE: &str = r"
local mid = ARGV[2]
local key = match_key(mid)
local done = redis.call('HGET', key, 'done')
if not done or done == '1' then return 0 end
for _, t in ipairs(owned(mid)) do delete(t[1], t[2]) end
redis.call('ZREM', P .. 'due', mid)
redis.call('HSET', key, 'done', '1')
redis.call('PEXPIRE', key, ARGV[3])
return 1";

/// ARGV: prefix, match id. `{'missing'}`, `{'session'}`, or `{'undone', how many went back,
/// ticket… (those back, then those ended)}`.
pub(super) const ABANDON: &str = r"
local mid = ARGV[2]
local m = match_fields(mid)
if not m then return {'missing'} end
if m[2] ~= '' then return {'session'} end
local back, ended = {}, {}
for _, t in ipairs(owned(mid)) do
  local id, f = t[1], t[2]
  if f[5] ~= '' then
    delete(id, f)
    table.insert(ended, f)
  else
    local key = ticket_key(id)
    redis.call('HSET', key, 'status', 'waiting')
    redis.call('HDEL', key, 'match')
    local g = redis.call('HMGET', key, 'entry', 'expires_at')
    redis.call('ZADD', P .. 'expiry', g[2], id)
    join_pool(id, f[7], g[1])
    f[2], f[3] = 'waiting', ''
    table.insert(back, f)
  end
end
redis.call('ZREM', P .. 'due', mid)
redis.call('DEL', match_key(mid))
local out = {'undone', tostring(#back)}
for _, f in ipairs(back) do push(out, f) end
for _, f in ipairs(ended) do push(out, f) end
return out";

/// ARGV: prefix, match id, due.
pub(super) const DEFER: &str = r"
local key = match_key(ARGV[2])
local done = redis.call('HGET', key, 'done')
if not done or done == '1' then return 0 end
redis.call('HSET', key, 'due', ARGV[3])
redis.call('ZADD', P .. 'due', ARGV[3], ARGV[2])
return 1";

/// ARGV: prefix, now, limit, retry at, keys' lifetime (ms). The due matches, with their new due
/// moment.
pub(super) const TAKE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local out = {}
for _, mid in ipairs(due) do
  local m = match_fields(mid)
  if m and m[6] ~= '1' then
    redis.call('ZADD', P .. 'due', ARGV[4], mid)
    redis.call('HSET', match_key(mid), 'due', ARGV[4])
    redis.call('PEXPIRE', match_key(mid), ARGV[5])
    for _, t in ipairs(owned(mid)) do keep(t[1], t[2][6], ARGV[5]) end
    m[5] = ARGV[4]
    for i = 1, 6 do table.insert(out, m[i]) end
  else
    redis.call('ZREM', P .. 'due', mid)
  end
end
return out";

/// ARGV: prefix, now, limit. The removed tickets.
pub(super) const TAKE_EXPIRED: &str = r"
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

/// KEYS: lease. ARGV: holder.
pub(super) const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1";
