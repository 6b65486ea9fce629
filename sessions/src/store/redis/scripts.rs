//! The Lua scripts of the sessions store: each is one step that no other writer interleaves, and
//! each touches the keys of one entity only (one hash slot): a session's, or the `running` index.

/// KEYS: session. ARGV: version, record, owner, running (0 or 1), ttl, now (ms: when the session
/// was put in the running index). 1 if created, 0 if a session with this id exists.
pub const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2], 'owner', ARGV[3],
  'running', ARGV[4], 'indexed', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1";

/// KEYS: session, applied. ARGV: me, the owner the caller read before ('' for none), '1' if the
/// caller found that owner to be another instance that is alive and not said to be gone. Returns
/// `{'missing'}`, `{'changed'}` (the owner is not the one read: read again), `{'owned', owner}`
/// or `{'mine', record, outbox, previous owner ('' for none), applied ids...}`.
pub const CLAIM: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local owner = redis.call('HGET', KEYS[1], 'owner') or ''
if owner ~= ARGV[2] then return {'changed'} end
if ARGV[3] == '1' then return {'owned', owner} end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
local fields = redis.call('HMGET', KEYS[1], 'record', 'outbox')
local previous = ''
if owner ~= ARGV[1] then previous = owner end
local answer = {'mine', fields[1] or '', fields[2] or '', previous}
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do answer[#answer + 1] = id end
return answer";

/// KEYS: session, applied. ARGV: me, version, record, outbox, running (0 or 1), ttl, request id
/// ('' for none), ids kept, now (ms), how often (ms) the running index's score is refreshed.
/// 0 if `me` is not the owner (nothing written); 1 if written; 2 if written and the session,
/// running, is due for a new score in the index (its `indexed` is now).
pub const COMMIT: &str = r"
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3], 'outbox', ARGV[4],
  'running', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if ARGV[7] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[7])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[8]), -1)
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
if ARGV[5] == '1' then
  local indexed = tonumber(redis.call('HGET', KEYS[1], 'indexed') or '0') or 0
  if tonumber(ARGV[9]) - indexed >= tonumber(ARGV[10]) then
    redis.call('HSET', KEYS[1], 'indexed', ARGV[9])
    return 2
  end
end
return 1";

/// KEYS: a session given up. ARGV: me. 1 if it was `me`'s and is nobody's now.
pub const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'owner')
  return 1
end
return 0";

/// KEYS: running. ARGV: the oldest score an entry of a session that has not expired can have,
/// how many entries to sample. Drops the older entries; returns how many are left, then a sample of them, each
/// member followed by its score.
pub const COUNT_RUNNING: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local answer = {tostring(redis.call('ZCARD', KEYS[1]))}
for _, v in ipairs(redis.call('ZRANDMEMBER', KEYS[1], ARGV[2], 'WITHSCORES')) do
  answer[#answer + 1] = v
end
return answer";

/// KEYS: running. ARGV: a session id, the score it had when it was found stale. Removes it unless
/// it was added again since (a new score). 1 if removed.
pub const DROP_STALE: &str = r"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0";

/// KEYS: away. ARGV: now (ms). Takes up to 100 deadlines that have passed.
pub const TAKE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due";
