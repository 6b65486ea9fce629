//! [`RedisStore`]: accounts in Redis, shared by every instance of the service.
//!
//! Layout (every key starts with the store's prefix, e.g. `warren:accounts:`):
//!
//! ```text
//! <prefix>account:<user_id>   hash   user_id, username, display_name,
//!                                    rating        (decimal f64, e.g. "1000" or "1016.5")
//!                                    games_played  (decimal u64)
//!                                    games_won     (decimal u64)
//! <prefix>result:<session_id> string "1": that session's result was applied; expires after
//!                                    30 days (RESULT_TTL)
//! <prefix>activity:<user_id>  hash   kind  (the ActivityKind's wire name, e.g. "private_room")
//!                                    id    (the room, ticket or session id)
//!                                    no expiry; absent when the user is in nothing
//! ```
//!
//! A hash rather than a JSON string, so that single fields can be changed in place and atomically
//! by Redis itself: a rename is one `HSET`, and applying a game result later is `HINCRBYFLOAT` /
//! `HINCRBY` in the same script that records the session id, without reading and rewriting the
//! whole record. New fields are new hash fields; a record written before a field existed simply
//! lacks it, so readers of a new field should give it a default.
//!
//! Atomicity: `create` and `set_display_name` are Lua scripts (check existence and write in one
//! step, so a create never overwrites and a rename never resurrects a deleted account); `get` is
//! `HGETALL` and `delete` is `DEL`. `apply_result` is one script too: it records the session id
//! with `SET NX` and only if that succeeded increments the existing accounts' fields, so a result
//! is applied once however often and however concurrently it comes.
//!
//! An activity is a hash too, so that the scripts that change it (`claim`, `hand_over`, `release`)
//! compare kind and id field by field, never an encoding's exact bytes. Each script reads what is
//! stored and writes only if it is what the caller expects, in one step: a compare-and-set that
//! holds however many instances share the Redis. A hash with one of its two fields missing (only
//! tampering makes one) holds nobody, for the scripts and for `activity` alike.
//!
//! Errors: failures to reach or use the server (I/O, dropped connection, timeouts, a server that is
//! loading, read-only or down) are [`StoreError::Unavailable`]; anything else Redis says, and a
//! record that does not read back, is [`StoreError::Internal`].

mod scripts;

use super::{AccountStore, RESULT_TTL, RatingChange, StoreError, check_deltas};
use ::redis::{ErrorKind, RedisError, Script, ServerErrorKind};
use scripts::{APPLY_RESULT, CLAIM, CREATE, HAND_OVER, RELEASE, SET_DISPLAY_NAME};
use std::collections::HashMap;
use warren_contracts::accounts::Account;
use warren_contracts::activity::{Activity, ActivityKind};
use warren_runtime::Redis;

const USER_ID: &str = "user_id";
const USERNAME: &str = "username";
const DISPLAY_NAME: &str = "display_name";
const RATING: &str = "rating";
const GAMES_PLAYED: &str = "games_played";
const GAMES_WON: &str = "games_won";
const KIND: &str = "kind";
const ID: &str = "id";

/// Accounts in Redis under one key prefix.
#[derive(Clone)]
pub struct RedisStore {
    conn: Redis,
    prefix: String,
    create: Script,
    set_display_name: Script,
    apply_result: Script,
    claim: Script,
    hand_over: Script,
    release: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store over `conn` whose keys all start with `prefix` (e.g. `"warren:accounts:"`).
    pub fn new(conn: Redis, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
            create: Script::new(CREATE),
            set_display_name: Script::new(SET_DISPLAY_NAME),
            apply_result: Script::new(APPLY_RESULT),
            claim: Script::new(CLAIM),
            hand_over: Script::new(HAND_OVER),
            release: Script::new(RELEASE),
        }
    }

    /// The key of `user_id`'s account.
    pub fn account_key(&self, user_id: &str) -> String {
        format!("{}account:{user_id}", self.prefix)
    }

    /// The key that records `session_id`'s result as applied.
    pub fn result_key(&self, session_id: &str) -> String {
        format!("{}result:{session_id}", self.prefix)
    }

    /// The key of `user_id`'s current activity.
    pub fn activity_key(&self, user_id: &str) -> String {
        format!("{}activity:{user_id}", self.prefix)
    }
}

#[async_trait::async_trait]
impl AccountStore for RedisStore {
    async fn create(&self, account: &Account) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.create.key(self.account_key(&account.user_id));
        for (field, value) in encode(account) {
            invocation.arg(field).arg(value);
        }
        let written: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        match written {
            1 => Ok(()),
            _ => Err(StoreError::AlreadyExists),
        }
    }

    async fn get(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.account_key(user_id);
        let fields: HashMap<String, String> = ::redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        if fields.is_empty() {
            return Ok(None);
        }
        decode(&key, fields).map(Some)
    }

    async fn set_display_name(
        &self,
        user_id: &str,
        display_name: &str,
    ) -> Result<Account, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.account_key(user_id);
        let fields: Option<HashMap<String, String>> = self
            .set_display_name
            .key(&key)
            .arg(display_name)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        match fields {
            Some(fields) => decode(&key, fields),
            None => Err(StoreError::NotFound),
        }
    }

    async fn delete(&self, user_id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let deleted: u64 = ::redis::cmd("DEL")
            .arg(self.account_key(user_id))
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        match deleted {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn apply_result(
        &self,
        session_id: &str,
        changes: &[RatingChange],
    ) -> Result<Option<Vec<Account>>, StoreError> {
        check_deltas(changes)?;
        let mut conn = self.conn.clone();
        let keys: Vec<String> = changes
            .iter()
            .map(|change| self.account_key(&change.user_id))
            .collect();
        let mut invocation = self.apply_result.key(self.result_key(session_id));
        invocation.arg(RESULT_TTL.as_secs());
        for (key, change) in keys.iter().zip(changes) {
            invocation
                .key(key)
                // `Display` for f64 never uses an exponent, which HINCRBYFLOAT would refuse.
                .arg(change.delta.to_string())
                .arg(if change.won { "1" } else { "0" });
        }
        let updated: Option<Vec<HashMap<String, String>>> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let Some(updated) = updated else {
            return Ok(None);
        };
        if updated.len() != keys.len() {
            return Err(StoreError::Internal(format!(
                "applying {session_id} returned {} accounts for {}",
                updated.len(),
                keys.len()
            )));
        }
        keys.iter()
            .zip(updated)
            .filter(|(_, fields)| !fields.is_empty())
            .map(|(key, fields)| decode(key, fields))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    async fn activity(&self, user_id: &str) -> Result<Option<Activity>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.activity_key(user_id);
        let (kind, id): (Option<String>, Option<String>) = ::redis::cmd("HMGET")
            .arg(&key)
            .arg(KIND)
            .arg(ID)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        match (kind, id) {
            (Some(kind), Some(id)) => decode_activity(&key, &kind, id).map(Some),
            _ => Ok(None),
        }
    }

    async fn claim(
        &self,
        user_id: &str,
        activity: &Activity,
        replaceable: &[Activity],
    ) -> Result<Option<Activity>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.activity_key(user_id);
        let mut invocation = self.claim.key(&key);
        for activity in std::iter::once(activity).chain(replaceable) {
            invocation.arg(kind_name(activity.kind)?).arg(&activity.id);
        }
        let current: Option<(String, String)> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        current
            .map(|(kind, id)| decode_activity(&key, &kind, id))
            .transpose()
    }

    async fn hand_over(
        &self,
        user_ids: &[String],
        from: &Activity,
        to: &Activity,
    ) -> Result<Vec<String>, StoreError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut invocation = self.hand_over.prepare_invoke();
        for user_id in user_ids {
            invocation.key(self.activity_key(user_id));
        }
        invocation
            .arg(kind_name(from.kind)?)
            .arg(&from.id)
            .arg(kind_name(to.kind)?)
            .arg(&to.id);
        let moved: Vec<u8> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        if moved.len() != user_ids.len() {
            return Err(StoreError::Internal(format!(
                "hand-over returned {} answers for {} users",
                moved.len(),
                user_ids.len()
            )));
        }
        Ok(user_ids
            .iter()
            .zip(moved)
            .filter(|(_, moved)| *moved == 0)
            .map(|(user_id, _)| user_id.clone())
            .collect())
    }

    async fn release(&self, user_ids: &[String], activity: &Activity) -> Result<usize, StoreError> {
        if user_ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        let mut invocation = self.release.prepare_invoke();
        for user_id in user_ids {
            invocation.key(self.activity_key(user_id));
        }
        invocation.arg(kind_name(activity.kind)?).arg(&activity.id);
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)
    }
}

/// The name a kind goes by in Redis: its wire name, so that the stored record reads like the
/// contract.
fn kind_name(kind: ActivityKind) -> Result<String, StoreError> {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        other => Err(StoreError::Internal(format!(
            "activity kind {kind:?} encodes as {other:?}"
        ))),
    }
}

/// The activity from its hash fields; `key` is for the error message.
fn decode_activity(key: &str, kind: &str, id: String) -> Result<Activity, StoreError> {
    let kind = serde_json::from_value(serde_json::Value::String(kind.to_owned()))
        .map_err(|_| StoreError::Internal(format!("{key}: kind is {kind:?}")))?;
    Ok(Activity { kind, id })
}

/// The account as hash fields.
fn encode(account: &Account) -> [(&'static str, String); 6] {
    [
        (USER_ID, account.user_id.clone()),
        (USERNAME, account.username.clone()),
        (DISPLAY_NAME, account.display_name.clone()),
        // `Display` for f64 writes the shortest text that reads back to the same number.
        (RATING, account.rating.to_string()),
        (GAMES_PLAYED, account.games_played.to_string()),
        (GAMES_WON, account.games_won.to_string()),
    ]
}

/// The account from its hash fields; `key` is for the error message.
fn decode(key: &str, mut fields: HashMap<String, String>) -> Result<Account, StoreError> {
    let mut take = |field: &str| {
        fields
            .remove(field)
            .ok_or_else(|| StoreError::Internal(format!("{key} has no field {field}")))
    };
    let user_id = take(USER_ID)?;
    let username = take(USERNAME)?;
    let display_name = take(DISPLAY_NAME)?;
    let rating = take(RATING)?;
    let games_played = take(GAMES_PLAYED)?;
    let games_won = take(GAMES_WON)?;
    let unreadable =
        |field: &str, value: &str| StoreError::Internal(format!("{key}: {field} is {value:?}"));
    Ok(Account {
        user_id,
        username,
        display_name,
        rating: rating
            .parse::<f64>()
            .ok()
            .filter(|rating| rating.is_finite())
            .ok_or_else(|| unreadable(RATING, &rating))?,
        games_played: games_played
            .parse()
            .map_err(|_| unreadable(GAMES_PLAYED, &games_played))?,
        games_won: games_won
            .parse()
            .map_err(|_| unreadable(GAMES_WON, &games_won))?,
    })
}

/// Sorts a Redis failure into "cannot serve now" and "something is wrong".
fn store_error(error: RedisError) -> StoreError {
    let unavailable = error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            ) | ErrorKind::ClusterConnectionNotFound
        );
    if unavailable {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Internal(error.to_string())
    }
}
