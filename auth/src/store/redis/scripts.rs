//! The Lua scripts of the Redis store: each change that touches several keys is one script, so
//! it is atomic.

use ::redis::Script;
use std::sync::LazyLock;

/// Creates the credentials and their user-id index unless the name is taken.
/// KEYS: user, user_id. ARGV: user id, username, password hash, lowercase name.
pub(super) static CREATE_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'username', ARGV[2], 'password_hash', ARGV[3])
        redis.call('SET', KEYS[2], ARGV[4])
        return 1
        ",
    )
});

/// Deletes a user's credentials (if still theirs) and the index, and ends every login of theirs.
/// Returns whether there were credentials, then the logins that were going.
/// KEYS: user_id, user_families. ARGV: prefix, user id.
pub(super) static DELETE_USER: LazyLock<Script> = LazyLock::new(|| {
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
        local answer = {existed}
        for _, family in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
            if redis.call('DEL', ARGV[1] .. 'family:' .. family) == 1 then
                table.insert(answer, family)
            end
        end
        redis.call('DEL', KEYS[2])
        return answer
        ",
    )
});

/// Starts a login with its first refresh token if its user still exists, indexes it under the
/// user and forgets index entries that expired over a minute ago (the minute covers clock skew
/// between instances).
/// KEYS: user_id, family, refresh, user_families. ARGV: user id, family, ttl ms, now ms.
pub(super) static START_FAMILY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local ttl = tonumber(ARGV[3])
        local now = tonumber(ARGV[4])
        redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
        redis.call('HSET', KEYS[3], 'family', ARGV[2], 'state', 'live')
        redis.call('PEXPIRE', KEYS[3], ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 60000)
        redis.call('ZADD', KEYS[4], now + ttl, ARGV[2])
        if redis.call('PTTL', KEYS[4]) < ttl then
            redis.call('PEXPIRE', KEYS[4], ARGV[3])
        end
        return 1
        ",
    )
});

/// Rotates a refresh token: a live one is marked spent and the next one stored live in its login,
/// whose lifetime starts again; a spent one ends its login. Returns `{'rotated' | 'reused', user
/// id, family}` or `{'unknown'}` (no such token, or its login ended or expired; a token stored
/// in the shape before logins is unknown too).
/// KEYS: spent refresh, next refresh. ARGV: prefix, ttl ms, now ms.
pub(super) static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return {'unknown'} end
        local family = redis.call('HGET', KEYS[1], 'family')
        if not family then return {'unknown'} end
        local family_key = ARGV[1] .. 'family:' .. family
        local user = redis.call('GET', family_key)
        if not user then return {'unknown'} end
        local index = ARGV[1] .. 'user_families:' .. user
        if redis.call('HGET', KEYS[1], 'state') == 'spent' then
            redis.call('DEL', family_key)
            redis.call('ZREM', index, family)
            return {'reused', user, family}
        end
        local ttl = tonumber(ARGV[2])
        redis.call('HSET', KEYS[1], 'state', 'spent')
        redis.call('HSET', KEYS[2], 'family', family, 'state', 'live')
        redis.call('PEXPIRE', KEYS[2], ARGV[2])
        redis.call('PEXPIRE', family_key, ARGV[2])
        redis.call('ZADD', index, tonumber(ARGV[3]) + ttl, family)
        if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ARGV[2]) end
        return {'rotated', user, family}
        ",
    )
});

/// Ends the login of a refresh token, live or spent. Returns `{user id, family}` or nil.
/// KEYS: refresh. ARGV: prefix.
pub(super) static END_FAMILY_OF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return false end
        local family = redis.call('HGET', KEYS[1], 'family')
        if not family then return false end
        local family_key = ARGV[1] .. 'family:' .. family
        local user = redis.call('GET', family_key)
        if not user then return false end
        redis.call('DEL', family_key)
        redis.call('ZREM', ARGV[1] .. 'user_families:' .. user, family)
        return {user, family}
        ",
    )
});

/// Ends every login of a user; returns the ones that were going.
/// KEYS: user_families. ARGV: prefix.
pub(super) static END_FAMILIES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local ended = {}
        for _, family in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
            if redis.call('DEL', ARGV[1] .. 'family:' .. family) == 1 then
                table.insert(ended, family)
            end
        end
        redis.call('DEL', KEYS[1])
        return ended
        ",
    )
});

/// Remembers ended logins until their `until`, keeping the later one for a login named twice,
/// and forgets those past theirs.
/// KEYS: revoked. ARGV: until ms, now ms, family…
pub(super) static RECORD_REVOKED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
        for i = 3, #ARGV do
            redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[i])
        end
        return 0
        ",
    )
});

/// Admits a login attempt unless a failure count is at its limit, and then counts it as a failure;
/// each count's first failure opens its window. Returns 0 when admitted, otherwise the
/// milliseconds until the blocking window ends.
/// KEYS: pair count, address count. ARGV: pair limit, address limit, window ms.
pub(super) static ADMIT_LOGIN: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static SETTLE_LOGIN: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static COUNT_REQUEST: LazyLock<Script> = LazyLock::new(|| {
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
