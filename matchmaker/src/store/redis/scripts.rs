//! The Lua scripts of the Redis store. Each touches the keys of one hash slot only, every one of
//! them passed in `KEYS`: the pool scripts a pool's waiting tickets, tickets and matches (one
//! pool's tag), the others one pointer or one index. What a change needs in other slots (an
//! index, a pointer) the Rust does with separate commands, in the order the store's module gives.
//!
//! A ticket script that finds the key of a ticket or a match it was sent to missing marks it
//! gone (a small hash, `gone` → who marked it, for [`super::TOMBSTONE_MS`]) when it is going to
//! drop a pointer or an index entry for it: a write in flight (its pointer and index entry are
//! written first) then can no longer make it, so what the reader dropped stays dropped.

/// Shared by the pool scripts. `fields` reads what a caller gets back of a ticket (see
/// `TICKET_PARTS` in the store), followed by its user and pool; `match_fields` what a caller gets
/// back of a match: record, session, handed, announced, due, done. `bury` marks a key gone.
pub(super) const PRELUDE: &str = r"
local function fields(key)
  local f = redis.call('HMGET', key, 'record', 'status', 'match', 'session', 'leaving',
    'user', 'pool')
  for i = 3, 5 do f[i] = f[i] or '' end
  return f
end
local function push(out, f)
  for i = 1, 5 do table.insert(out, f[i]) end
end
local function keep(key, ms)
  if redis.call('PTTL', key) < tonumber(ms) then redis.call('PEXPIRE', key, ms) end
end
local function bury(key, ms, by)
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'gone', by)
    redis.call('PEXPIRE', key, ms)
  end
end
local function match_fields(key)
  local m = redis.call('HMGET', key, 'record', 'session', 'handed', 'announced', 'due', 'done')
  if not m[1] then return nil end
  for i = 2, 6 do m[i] = m[i] or '' end
  return m
end
-- Whether `list` (the ids, space-separated, as the caller found them in the match's pointer) is
-- the match's own list: the ticket keys the caller passed are the match's tickets.
local function same_tickets(key, list)
  return (redis.call('HGET', key, 'tickets') or '') == list
end
-- The match's tickets that are still its own, as {id, key, fields}: `list` its ids (checked with
-- `same_tickets`), their keys KEYS[first], KEYS[first + 1], ...
local function owned(mid, list, first)
  local out, i = {}, first
  for id in string.gmatch(list, '%S+') do
    local f = fields(KEYS[i])
    if f[1] and f[3] == mid then table.insert(out, {id, KEYS[i], f}) end
    i = i + 1
  end
  return out
end
local function leave_pool(pool_key, id)
  redis.call('HDEL', pool_key, id)
end
";

/// KEYS: ticket. ARGV: record, user, pool, entry, expires_at, keys' lifetime (ms). `{'stored'}`
/// (now, or by an earlier try of the same add), `{'gone', who marked it}` (another start of the
/// user's, by its pointer value, or a sweep found it missing and marked it: it can never be
/// stored), or `{'taken'}` (the id is another user's ticket).
pub(super) const ADD: &str = r"
local key = KEYS[1]
local f = redis.call('HMGET', key, 'record', 'user', 'gone')
if f[1] then
  if f[2] == ARGV[2] then return {'stored'} end
  return {'taken'}
end
if f[3] then return {'gone', f[3]} end
redis.call('HSET', key, 'record', ARGV[1], 'user', ARGV[2], 'pool', ARGV[3], 'entry', ARGV[4],
  'expires_at', ARGV[5], 'status', 'pending')
redis.call('PEXPIRE', key, ARGV[6])
return {'stored'}";

/// KEYS: ticket. ARGV: user, how long a mark lasts (ms), the pointer value of the start asking.
/// Whether the ticket a user's pointer names holds them: `live`, `other` (another user's), or
/// `gone` (now marked so, by the start asking: it can never be stored, so the pointer may be
/// taken over).
pub(super) const CHECK_HOLDER: &str = r"
local f = redis.call('HMGET', KEYS[1], 'record', 'user')
if f[1] then
  if f[2] == ARGV[1] then return 'live' end
  return 'other'
end
bury(KEYS[1], ARGV[2], ARGV[3])
return 'gone'";

/// KEYS: ticket, pool. ARGV: id.
pub(super) const ACTIVATE: &str = r"
local key = KEYS[1]
local f = redis.call('HMGET', key, 'status', 'entry')
if f[1] ~= 'pending' then return 0 end
redis.call('HSET', key, 'status', 'waiting')
redis.call('HSET', KEYS[2], ARGV[1], f[2])
return 1";

/// KEYS: ticket, pool. ARGV: id, leaving reason or '', allowed statuses… `{}` if missing,
/// `{'kept', ticket…}` (a matching one marked leaving, if a reason was given), or
/// `{'removed', ticket…}`.
pub(super) const REMOVE: &str = r"
local key, id = KEYS[1], ARGV[1]
local f = fields(key)
if not f[1] then return {} end
for i = 3, #ARGV do
  if f[2] == ARGV[i] then
    leave_pool(KEYS[2], id)
    redis.call('DEL', key)
    local out = {'removed'}
    push(out, f)
    return out
  end
end
if f[2] == 'matching' and ARGV[2] ~= '' then
  redis.call('HSET', key, 'leaving', ARGV[2])
  f[5] = ARGV[2]
end
local out = {'kept'}
push(out, f)
return out";

/// KEYS: pool, match, tickets… ARGV: pool name, match id, due, match record, the tickets joined
/// by spaces, keys' lifetime (ms), ids… (in the order of their keys). `{'exists'}` if there is a
/// match (or a mark) under that id, `{'stale'}` if a ticket is no longer waiting in the pool, or
/// `{'taken', ticket…}`.
pub(super) const TAKE: &str = r"
local pool, mid = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[2]) == 1 then return {'exists'} end
for i = 3, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'status', 'pool')
  if not f[1] then
    -- Gone without leaving its pool (its keys expired): tidy up, so no pass picks it again.
    leave_pool(KEYS[1], ARGV[i + 4])
    return {'stale'}
  end
  if f[1] ~= 'waiting' or f[2] ~= pool then return {'stale'} end
end
local out = {'taken'}
for i = 3, #KEYS do
  local key = KEYS[i]
  redis.call('HSET', key, 'status', 'matching', 'match', mid)
  redis.call('HDEL', key, 'session', 'leaving')
  leave_pool(KEYS[1], ARGV[i + 4])
  keep(key, ARGV[6])
  push(out, fields(key))
end
redis.call('HSET', KEYS[2], 'record', ARGV[4], 'tickets', ARGV[5], 'due', ARGV[3], 'handed', '0',
  'announced', '0', 'done', '0')
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return out";

/// KEYS: match, tickets… ARGV: match id, the tickets joined by spaces, session id. `{}` if there
/// is no such match, else `{1 if this call recorded the session, match…}`. (`{'mismatch'}`, here
/// and below, if the tickets passed are not the match's.)
pub(super) const RECORD_SESSION: &str = r"
local key = KEYS[1]
local m = match_fields(key)
if not m then return {} end
if not same_tickets(key, ARGV[2]) then return {'mismatch'} end
local first = 0
if m[2] == '' then
  redis.call('HSET', key, 'session', ARGV[3])
  for _, t in ipairs(owned(ARGV[1], ARGV[2], 2)) do
    redis.call('HSET', t[2], 'status', 'matched', 'session', ARGV[3])
  end
  m[2] = ARGV[3]
  first = 1
end
table.insert(m, 1, tostring(first))
return m";

/// KEYS: match. ARGV: field (`handed` or `announced`).
pub(super) const NOTE: &str = r"
if redis.call('HEXISTS', KEYS[1], 'record') == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], '1')
end
return 1";

/// KEYS: match, pool, tickets… ARGV: match id, the tickets joined by spaces, how long a done
/// match is kept (ms). `{}` if there is no such match or it is done already, else `{'done', id,
/// user, …}` for each ticket removed.
pub(super) const COMPLETE: &str = r"
local key = KEYS[1]
local done = redis.call('HGET', key, 'done')
if not done or done == '1' then return {} end
if not same_tickets(key, ARGV[2]) then return {'mismatch'} end
local out = {'done'}
for _, t in ipairs(owned(ARGV[1], ARGV[2], 3)) do
  leave_pool(KEYS[2], t[1])
  redis.call('DEL', t[2])
  table.insert(out, t[1])
  table.insert(out, t[3][6])
end
redis.call('HSET', key, 'done', '1')
redis.call('PEXPIRE', key, ARGV[3])
return out";

/// KEYS: match, pool, tickets… ARGV: match id, the tickets joined by spaces. `{'missing'}`,
/// `{'session'}`, or `{'undone', how many went back, ticket… (those back, then those ended)}`.
pub(super) const ABANDON: &str = r"
local key = KEYS[1]
local m = match_fields(key)
if not m then return {'missing'} end
if m[2] ~= '' then return {'session'} end
if not same_tickets(key, ARGV[2]) then return {'mismatch'} end
local back, ended = {}, {}
for _, t in ipairs(owned(ARGV[1], ARGV[2], 3)) do
  local id, tkey, f = t[1], t[2], t[3]
  if f[5] ~= '' then
    leave_pool(KEYS[2], id)
    redis.call('DEL', tkey)
    table.insert(ended, f)
  else
    redis.call('HSET', tkey, 'status', 'waiting')
    redis.call('HDEL', tkey, 'match')
    redis.call('HSET', KEYS[2], id, redis.call('HGET', tkey, 'entry'))
    f[2], f[3] = 'waiting', ''
    table.insert(back, f)
  end
end
redis.call('DEL', key)
local out = {'undone', tostring(#back)}
for _, f in ipairs(back) do push(out, f) end
for _, f in ipairs(ended) do push(out, f) end
return out";

/// KEYS: match. ARGV: due. 1 if the match is there and not done (its due is now `due`).
pub(super) const DEFER: &str = r"
local done = redis.call('HGET', KEYS[1], 'done')
if not done or done == '1' then return 0 end
redis.call('HSET', KEYS[1], 'due', ARGV[1])
return 1";

/// KEYS: match, tickets… (those its pointer names; none without one). ARGV: match id, the tickets
/// joined by spaces, now, retry at, keys' lifetime (ms), how long a mark lasts (ms). The match's
/// own `due` decides, so that each due match goes to one caller at a time: `{'taken', match…}`
/// (due now `retry at`), `{'later', due}`, `{'done'}`, `{'gone'}` (missing: marked, so that a take
/// in flight cannot make it), or `{'unsure'}` (its tickets are not those passed).
pub(super) const TAKE_DUE: &str = r"
local key = KEYS[1]
local m = match_fields(key)
if not m then
  bury(key, ARGV[6], 'sweep')
  return {'gone'}
end
if m[6] == '1' then return {'done'} end
if not same_tickets(key, ARGV[2]) then return {'unsure'} end
local due = tonumber(m[5])
if due and due > tonumber(ARGV[3]) then return {'later', m[5]} end
redis.call('HSET', key, 'due', ARGV[4])
redis.call('PEXPIRE', key, ARGV[5])
for _, t in ipairs(owned(ARGV[1], ARGV[2], 2)) do keep(t[2], ARGV[5]) end
m[5] = ARGV[4]
table.insert(m, 1, 'taken')
return m";

/// KEYS: pool, tickets… ARGV: now, how long a mark lasts (ms), ids… (in the order of their
/// keys). For each ticket, in order: `{'expired', ticket…}` (removed now, by this call only),
/// `{'later', expires_at}`, `{'busy'}` (being matched: its match decides), or `{'gone'}` (missing,
/// and marked so that an add in flight cannot store it).
pub(super) const EXPIRE: &str = r"
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #KEYS do
  local key, id = KEYS[i], ARGV[i + 1]
  local f = fields(key)
  if not f[1] then
    bury(key, ARGV[2], 'sweep')
    table.insert(out, {'gone'})
  elseif f[2] == 'waiting' or f[2] == 'pending' then
    local at = redis.call('HGET', key, 'expires_at') or '0'
    if (tonumber(at) or 0) > now then
      table.insert(out, {'later', at})
    else
      leave_pool(KEYS[1], id)
      redis.call('DEL', key)
      local r = {'expired'}
      push(r, f)
      table.insert(out, r)
    end
  else
    table.insert(out, {'busy'})
  end
end
return out";

/// KEYS: a pointer. ARGV: the value expected ('' for none); the new value; its lifetime (ms).
/// Sets it if it holds nothing or what was expected (nil), else says what it holds.
pub(super) const SWAP_POINTER: &str = r"
local current = redis.call('GET', KEYS[1])
if not current or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return false
end
return current";

/// KEYS: a pointer. ARGV: a value. Deletes the pointer if it still holds that value.
pub(super) const FORGET_POINTER: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1";

/// KEYS: the pool index. ARGV: pool, its score when found empty. Drops it if no ticket joined
/// the pool since (a join raises its score first).
pub(super) const DROP_IDLE_POOL: &str = r"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1";

/// KEYS: lease. ARGV: holder.
pub(super) const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1";
