//! The Lua scripts of the sessions store: each is one step that no other writer interleaves.

/// KEYS: session, running. ARGV: version, record, ttl, now (ms), session id, running (0 or 1),
/// owner.
pub const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2], 'owner', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[6] == '1' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) end
return 1";

/// KEYS: session, applied. ARGV: me, the prefix of instances' heartbeat keys, an instance the
/// broker says is gone ('' for none). Returns `{'missing'}`, `{'owned', owner}` or
/// `{'mine', record, outbox, previous owner ('' for none), applied ids...}`.
pub const CLAIM: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= '' and owner ~= ARGV[1] and owner ~= ARGV[3]
    and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
  return {'owned', owner}
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
local fields = redis.call('HMGET', KEYS[1], 'record', 'outbox')
local previous = ''
if owner and owner ~= ARGV[1] then previous = owner end
local answer = {'mine', fields[1] or '', fields[2] or '', previous}
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do answer[#answer + 1] = id end
return answer";

/// KEYS: session, running, applied. ARGV: me, version, record, outbox, ttl, now (ms), session
/// id, running (0 or 1), request id ('' for none), ids kept, then (when the store numbers events)
/// the journal's arguments. Returns `{'lost'}`, or `{'done', numbers of each event...}`.
pub const COMMIT: &str = r"
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {'lost'} end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3], 'outbox', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
if ARGV[8] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
else
  redis.call('ZREM', KEYS[2], ARGV[7])
end
if ARGV[9] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[9])
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[10]), -1)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
local answer = {'done'}
if #ARGV > 10 then
  for _, numbers in ipairs(journal_append(ARGV, 11)) do answer[#answer + 1] = numbers end
end
return answer";

/// KEYS: the sessions given up. ARGV: me.
pub const RELEASE: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'owner') == ARGV[1] then redis.call('HDEL', key, 'owner') end
end
return 0";

/// KEYS: running. ARGV: the oldest score of a session that has not expired.
pub const COUNT_RUNNING: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return redis.call('ZCARD', KEYS[1])";

pub const TAKE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due";
