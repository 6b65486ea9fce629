//! The Lua scripts of the Redis store. Each touches the keys of one entity only (one hash tag, so
//! one Redis Cluster slot), all of them passed in `KEYS`; a flow that concerns several entities
//! runs one script per entity, in the order `mod.rs` explains. Every script is made with
//! `warren_runtime::redis_client::script`, so Redis refuses one that reaches outside its slot.

use ::redis::Script;
use std::sync::LazyLock;
use warren_runtime::redis_client::script;

/// Stores credentials unless the name is taken. Returns 1 if stored, 0 if taken.
/// KEYS: user (`{name:…}`). ARGV: user id, username, password hash.
pub(super) static CREATE_CREDENTIALS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'username', ARGV[2], 'password_hash', ARGV[3])
        return 1
        ",
    )
});

/// Deletes credentials if they are still the given user's. Returns 1 if deleted.
/// KEYS: user (`{name:…}`). ARGV: user id.
pub(super) static DELETE_CREDENTIALS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        if redis.call('HGET', KEYS[1], 'user_id') ~= ARGV[1] then return 0 end
        redis.call('DEL', KEYS[1])
        return 1
        ",
    )
});

/// Closes a user to new logins (deletes the user id record) and returns the logins indexed under
/// them, which the caller ends next.
/// KEYS: user_id, user_families (`{user:…}`).
pub(super) static CLOSE_USER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        redis.call('DEL', KEYS[1])
        return redis.call('ZRANGE', KEYS[2], 0, -1)
        ",
    )
});

/// Writes a refresh token's pointer to its login, expiring with the token.
/// KEYS: refresh (`{refresh:…}`). ARGV: family, user id, ttl ms.
pub(super) static SET_POINTER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        redis.call('HSET', KEYS[1], 'family', ARGV[1], 'user', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        ",
    )
});

/// Writes a new login and its first live token, both expiring after the ttl.
/// KEYS: family, refresh_state of the token (`{family:…}`). ARGV: user id, ttl ms.
pub(super) static CREATE_FAMILY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('SET', KEYS[2], 'live', 'PX', ARGV[2])
        return 1
        ",
    )
});

/// Indexes a new login under its user if the user still exists, and forgets index entries that
/// expired over a minute ago (the minute covers clock skew between instances). Returns 1 if
/// indexed, 0 if the user is gone. The index expires with the newest login.
/// KEYS: user_id, user_families (`{user:…}`). ARGV: family, ttl ms, now ms.
pub(super) static INDEX_FAMILY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local ttl = tonumber(ARGV[2])
        local now = tonumber(ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
        redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
        if redis.call('PTTL', KEYS[2]) < ttl then
            redis.call('PEXPIRE', KEYS[2], ARGV[2])
        end
        return 1
        ",
    )
});

/// Before a rotation may lengthen a login, lengthens its index entry to the new expiry. Returns
/// 1, or 0 (changing nothing) if the login is not indexed: then it is not going.
/// KEYS: user_families (`{user:…}`). ARGV: family, ttl ms, now ms.
pub(super) static EXTEND_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if not score then return 0 end
        local ttl = tonumber(ARGV[2])
        local expiry = tonumber(ARGV[3]) + ttl
        if expiry > tonumber(score) then redis.call('ZADD', KEYS[1], expiry, ARGV[1]) end
        if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 1
        ",
    )
});

/// Rotates a refresh token within its login. A live token is marked spent, the next one stored
/// live and the login's lifetime starts again: `rotated`. A spent one ends the login when ARGV[3]
/// is `1` (`reused`); otherwise nothing changes and the answer is `spent` with the ms the login
/// has left, so that the caller can list the login as being ended first. `unknown`:
/// no such token in this login, or the login ended or expired, or is another user's. Answers
/// `{word, ms}`, ms 0 but for `spent`.
/// KEYS: family, refresh_state of the spent token, refresh_state of the next one (`{family:…}`).
/// ARGV: user id, ttl ms, `1` to end the login on reuse.
pub(super) static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'unknown', 0} end
        local state = redis.call('GET', KEYS[2])
        if state == 'live' then
            redis.call('SET', KEYS[2], 'spent', 'KEEPTTL')
            redis.call('SET', KEYS[3], 'live', 'PX', ARGV[2])
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return {'rotated', 0}
        end
        if state ~= 'spent' then return {'unknown', 0} end
        if ARGV[3] ~= '1' then return {'spent', redis.call('PTTL', KEYS[1])} end
        redis.call('DEL', KEYS[1])
        return {'reused', 0}
        ",
    )
});

/// Whether a login is going (it exists, is the user's, and holds the token when one is given):
/// the ms it has left, or -1 if it is not going. Changes nothing.
/// KEYS: family[, refresh_state of a token] (`{family:…}`). ARGV: user id.
pub(super) static PEEK_FAMILY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
        if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
        return math.max(redis.call('PTTL', KEYS[1]), 0)
        ",
    )
});

/// Ends a login if it is going (as `PEEK_FAMILY` judges). Returns 1 if it ended it. Its tokens'
/// states stay until they expire and name a login that is gone.
/// KEYS: family[, refresh_state of a token] (`{family:…}`). ARGV: user id.
pub(super) static END_FAMILY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
        redis.call('DEL', KEYS[1])
        return 1
        ",
    )
});

/// Lists logins as being ended, before they are: each until the given time (the later one for a
/// login listed twice), unless it is recorded as ended already. Forgets entries past their time.
/// KEYS: revoked, revoking (`{revoked:all}`). ARGV: now ms, then pairs of family and until ms.
pub(super) static MARK_ENDING: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        local now = tonumber(ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
        for i = 2, #ARGV, 2 do
            local recorded = redis.call('ZSCORE', KEYS[1], ARGV[i])
            if not recorded or tonumber(recorded) <= now then
                redis.call('ZADD', KEYS[2], 'GT', ARGV[i + 1], ARGV[i])
            end
        end
        return 0
        ",
    )
});

/// Records ended logins until their `until`, keeping the later one for a login named twice, takes
/// them off the list of logins being ended, and forgets entries past their time.
/// KEYS: revoked, revoking (`{revoked:all}`). ARGV: until ms, now ms, family…
pub(super) static RECORD_REVOKED: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
        for i = 3, #ARGV do
            redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[i])
            redis.call('ZREM', KEYS[2], ARGV[i])
        end
        return 0
        ",
    )
});

/// Two lists of `[login, time, …]`: the recorded ended logins whose time is after now, and the
/// logins being ended (and not recorded) whose time is after now.
/// KEYS: revoked, revoking (`{revoked:all}`). ARGV: now ms.
pub(super) static READ_REVOKED: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
        local after = '(' .. ARGV[1]
        local recorded = redis.call('ZRANGEBYSCORE', KEYS[1], after, '+inf', 'WITHSCORES')
        local ending = {}
        local listed = redis.call('ZRANGEBYSCORE', KEYS[2], after, '+inf', 'WITHSCORES')
        for i = 1, #listed, 2 do
            if not redis.call('ZSCORE', KEYS[1], listed[i]) then
                table.insert(ending, listed[i])
                table.insert(ending, listed[i + 1])
            end
        end
        return {recorded, ending}
        ",
    )
});

/// Admits a login attempt unless a failure count is at its limit, and then counts it as a failure;
/// each count's first failure opens its window. Returns 0 when admitted, otherwise the
/// milliseconds until the blocking window ends.
/// KEYS: pair count, address count (`{address:…}`). ARGV: pair limit, address limit, window ms.
pub(super) static ADMIT_LOGIN: LazyLock<Script> = LazyLock::new(|| {
    script(
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
/// KEYS: pair count, address count (`{address:…}`). ARGV: `succeeded` or `not_checked`.
pub(super) static SETTLE_LOGIN: LazyLock<Script> = LazyLock::new(|| {
    script(
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
/// KEYS: request count (`{address:…}`). ARGV: limit, window ms.
pub(super) static COUNT_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    script(
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
