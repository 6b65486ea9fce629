//! The Lua scripts of the Redis store, each one step that Redis runs atomically: what must be
//! checked and written together (an account's existence, one player's part of a result applied
//! once, an activity's compare-and-set) is written here as one program, apart from the Rust that
//! encodes and decodes.
//!
//! Every script touches one user's keys only, all passed in `KEYS` and all with that user's hash
//! tag, so that each runs on a Redis Cluster (the store creates them with
//! `warren_runtime::redis_client::script`, which makes Redis refuse any other key).

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

/// The Lua that refuses an account (KEYS[1]) that exists but could not take a result: not a hash,
/// no numeric rating, or a count that is not a small enough decimal for `HINCRBY`. Shared by
/// [`CHECK_PART`] and [`APPLY_PART`], which must agree on what they refuse.
macro_rules! refuse_a_damaged_account {
    () => {
        r"
local account = KEYS[1]
if redis.call('EXISTS', account) == 1 then
  if redis.call('TYPE', account).ok ~= 'hash' then
    return redis.error_reply('ERR ' .. account .. ' is not an account hash')
  end
  if tonumber(redis.call('HGET', account, 'rating')) == nil then
    return redis.error_reply('ERR ' .. account .. ' has no numeric rating')
  end
  for _, field in ipairs({'games_played', 'games_won'}) do
    local count = redis.call('HGET', account, field)
    if not count or not string.match(count, '^%d+$') or #count > 18 then
      return redis.error_reply('ERR ' .. account .. ' has no count ' .. field)
    end
  end
end
"
    };
}

/// Checks, writing nothing, that one player's part of a result could be applied now. KEYS[1]: the
/// player's account; KEYS[2]: the player's marker for the session. Returns 1, or an error naming
/// the account when it exists, the part is not applied yet and the record cannot take it.
pub(super) const CHECK_PART: &str = concat!(
    r"
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 1
end
",
    refuse_a_damaged_account!(),
    r"
return 1
"
);

/// Applies one player's part of one game's result, once. KEYS[1]: the player's account; KEYS[2]:
/// the player's marker for the session. ARGV[1]: how long to keep the marker, in seconds; ARGV[2]:
/// the rating delta; ARGV[3]: whether the player won ("1" or "0"). Returns nil (and writes nothing)
/// when the marker is there: the part was applied before. Otherwise sets the marker and returns the
/// account's fields as a flat list after the update, or an empty list when there is no account (the
/// part counts as applied all the same, as a whole result for nobody did before). A damaged record
/// is an error, with nothing written, since Redis does not roll a script's writes back.
pub(super) const APPLY_PART: &str = concat!(
    r"
if redis.call('EXISTS', KEYS[2]) == 1 then
  return false
end
",
    refuse_a_damaged_account!(),
    r"
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
redis.call('HINCRBYFLOAT', KEYS[1], 'rating', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'games_played', 1)
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[1], 'games_won', 1)
end
return redis.call('HGETALL', KEYS[1])
"
);

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

/// Moves one user from one activity (or none) to another. KEYS[1]: the user's activity; ARGV[1],
/// ARGV[2]: the kind and id moved from; ARGV[3], ARGV[4]: moved to. Returns 1 if the user is now
/// in the new activity, 0 if another one keeps them.
pub(super) const HAND_OVER: &str = r"
local current = redis.call('HMGET', KEYS[1], 'kind', 'id')
local kind, id = current[1], current[2]
if not (kind and id)
    or (kind == ARGV[1] and id == ARGV[2])
    or (kind == ARGV[3] and id == ARGV[4]) then
  redis.call('HSET', KEYS[1], 'kind', ARGV[3], 'id', ARGV[4])
  return 1
end
return 0
";

/// Frees one user if they are still in one activity. KEYS[1]: the user's activity; ARGV[1],
/// ARGV[2]: its kind and id. Returns 1 if freed, 0 if not.
pub(super) const RELEASE: &str = r"
local current = redis.call('HMGET', KEYS[1], 'kind', 'id')
if current[1] == ARGV[1] and current[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";
