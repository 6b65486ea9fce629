//! The Lua scripts of the Redis store, each one step that Redis runs atomically: what must be
//! checked and written together (an account's existence, a result applied once, an activity's
//! compare-and-set) is written here as one program, apart from the Rust that encodes and decodes.

/// Writes a whole account unless its key exists. KEYS[1]: the account; ARGV: field, value, ...
/// Returns 1 when written, 0 when an account was there.
pub(super) const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
";

/// Renames an existing account and returns it as a flat field/value list; nil (and no write) when
/// there is none. KEYS[1]: the account; ARGV[1]: the display name.
pub(super) const SET_DISPLAY_NAME: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
redis.call('HSET', KEYS[1], 'display_name', ARGV[1])
return redis.call('HGETALL', KEYS[1])
";

/// Applies one game's result once. KEYS[1]: the session's result key; KEYS[2..]: the players'
/// accounts. ARGV[1]: how long to remember the session, in seconds; then for each account its
/// rating delta and whether it won ("1" or "0"). Returns nil (and writes nothing) when the session
/// was applied already; otherwise, for each account in order, its fields as a flat list after the
/// update, or an empty list when the account does not exist. Every existing account is checked
/// before the first write, since Redis does not roll a script's writes back when it fails half-way.
pub(super) const APPLY_RESULT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then
    if redis.call('TYPE', key).ok ~= 'hash' then
      return redis.error_reply('ERR ' .. key .. ' is not an account hash')
    end
    if tonumber(redis.call('HGET', key, 'rating')) == nil then
      return redis.error_reply('ERR ' .. key .. ' has no numeric rating')
    end
    for _, field in ipairs({'games_played', 'games_won'}) do
      local count = redis.call('HGET', key, field)
      if not count or not string.match(count, '^%d+$') or #count > 18 then
        return redis.error_reply('ERR ' .. key .. ' has no count ' .. field)
      end
    end
  end
end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return false
end
local updated = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBYFLOAT', key, 'rating', ARGV[2 * (i - 1)])
    redis.call('HINCRBY', key, 'games_played', 1)
    if ARGV[2 * (i - 1) + 1] == '1' then
      redis.call('HINCRBY', key, 'games_won', 1)
    end
    updated[i - 1] = redis.call('HGETALL', key)
  else
    updated[i - 1] = {}
  end
end
return updated
";

/// Puts a user in an activity unless another holds them. KEYS[1]: the user's activity; ARGV[1],
/// ARGV[2]: the claimed kind and id; then the kind and id of each activity that may be replaced.
/// Returns nil when the user is now in the claimed activity, otherwise the {kind, id} in the way.
pub(super) const CLAIM: &str = r"
local current = redis.call('HMGET', KEYS[1], 'kind', 'id')
local kind, id = current[1], current[2]
if kind and id and not (kind == ARGV[1] and id == ARGV[2]) then
  local replaceable = false
  for i = 3, #ARGV, 2 do
    if kind == ARGV[i] and id == ARGV[i + 1] then
      replaceable = true
      break
    end
  end
  if not replaceable then
    return {kind, id}
  end
end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'id', ARGV[2])
return false
";

/// Moves users from one activity (or none) to another. KEYS: the users' activities; ARGV[1],
/// ARGV[2]: the kind and id moved from; ARGV[3], ARGV[4]: moved to. Returns for each key in order
/// 1 if the user is now in the new activity, 0 if another one keeps them.
pub(super) const HAND_OVER: &str = r"
local moved = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('HMGET', key, 'kind', 'id')
  local kind, id = current[1], current[2]
  if not (kind and id)
      or (kind == ARGV[1] and id == ARGV[2])
      or (kind == ARGV[3] and id == ARGV[4]) then
    redis.call('HSET', key, 'kind', ARGV[3], 'id', ARGV[4])
    moved[i] = 1
  else
    moved[i] = 0
  end
end
return moved
";

/// Frees the users still in one activity. KEYS: the users' activities; ARGV[1], ARGV[2]: its kind
/// and id. Returns how many were freed.
pub(super) const RELEASE: &str = r"
local released = 0
for _, key in ipairs(KEYS) do
  local current = redis.call('HMGET', key, 'kind', 'id')
  if current[1] == ARGV[1] and current[2] == ARGV[2] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
";
