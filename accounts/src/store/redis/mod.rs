//! [`RedisStore`]: accounts in Redis, shared by every instance of the service.
//!
//! Layout (every key starts with the store's prefix, e.g. `warren:accounts:`; `{user:<user_id>}`
//! is the user's hash tag, `warren_runtime::redis_client::tag`):
//!
//! ```text
//! <prefix>account:{user:<user_id>}   hash   user_id, username, display_name,
//!                                           rating        (decimal f64, e.g. "1000" or "1016.5")
//!                                           games_played  (decimal u64)
//!                                           games_won     (decimal u64)
//! <prefix>applied:{user:<user_id>}:<session_id>
//!                                    string "1": that session's result was applied to this user
//!                                           (whether or not they had an account); expires after
//!                                           30 days (RESULT_TTL)
//! <prefix>activity:{user:<user_id>}  hash   kind  (the ActivityKind's wire name, e.g. "room")
//!                                           id    (the room, ticket or session id)
//!                                           no expiry; absent when the user is in nothing
//! ```
//!
//! Every key belongs to one user and carries that user's hash tag, so all of a user's keys share a
//! Redis Cluster slot and every script touches one user's keys only (an id with a `}` in it ends
//! the tag early, but at the same place in each of that user's keys). Nothing joins two users in
//! one command: what concerns several users (a game's result, a hand-over, a release) is done user
//! by user, each user's step atomic on its own, the steps sent concurrently.
//!
//! A hash rather than a JSON string, so that single fields can be changed in place and atomically
//! by Redis itself: a rename is one `HSET`, and applying a game result is `HINCRBYFLOAT` /
//! `HINCRBY` in the same script that marks the session applied for that user, without reading and
//! rewriting the whole record. New fields are new hash fields; a record written before a field
//! existed simply lacks it, so readers of a new field should give it a default.
//!
//! Atomicity: `create` and `set_display_name` are Lua scripts (check existence and write in one
//! step, so a create never overwrites and a rename never resurrects a deleted account); `get` is
//! `HGETALL` and `delete` is `DEL`. `apply_result` runs one script per player: it sets that
//! player's marker for the session and, only if the marker was not there, increments the player's
//! fields, so each player's part is applied once however often and however concurrently the result
//! comes, and a result applied to some players only (an instance stopped half-way) is completed by
//! the next attempt. Before any part is written, every player's record is checked by a script that
//! writes nothing, so a damaged record fails the whole result unapplied (unless the record is
//! damaged between the check and the write: only tampering does that).
//!
//! An activity is a hash too, so that the scripts that change it (`claim`, `hand_over`, `release`)
//! compare kind and id field by field, never an encoding's exact bytes. Each script reads what is
//! stored and writes only if it is what the caller expects, in one step: a compare-and-set that
//! holds however many instances share the Redis. A hand-over or release of several users is one
//! such script per user; one that fails half-way has moved some users and not others, and is
//! completed by a retry (a user already in `to` counts as handed over, a user already free is left
//! free). A hash with one of its two fields missing (only tampering makes one) holds nobody, for
//! the scripts and for `activity` alike.
//!
//! Errors: failures to reach or use the server (I/O, dropped connection, timeouts, a server that is
//! loading, read-only or down) are [`StoreError::Unavailable`]; anything else Redis says, and a
//! record that does not read back, is [`StoreError::Internal`].

mod scripts;

use super::{AccountStore, RESULT_TTL, RatingChange, StoreError, check_deltas};
use ::redis::{ErrorKind, RedisError, Script, ServerErrorKind};
use scripts::{APPLY_PART, CHECK_PART, CLAIM, CREATE, HAND_OVER, RELEASE, SET_DISPLAY_NAME};
use std::collections::HashMap;
use warren_contracts::accounts::Account;
use warren_contracts::activity::{Activity, ActivityKind};
use warren_runtime::Redis;
use warren_runtime::redis_client::{script, tag};

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
    check_part: Script,
    apply_part: Script,
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
            create: script(CREATE),
            set_display_name: script(SET_DISPLAY_NAME),
            check_part: script(CHECK_PART),
            apply_part: script(APPLY_PART),
            claim: script(CLAIM),
            hand_over: script(HAND_OVER),
            release: script(RELEASE),
        }
    }

    /// The key of `user_id`'s account.
    pub fn account_key(&self, user_id: &str) -> String {
        format!("{}account:{}", self.prefix, tag("user", user_id))
    }

    /// The key that records `session_id`'s result as applied to `user_id`, in that user's slot.
    pub fn applied_key(&self, user_id: &str, session_id: &str) -> String {
        format!(
            "{}applied:{}:{session_id}",
            self.prefix,
            tag("user", user_id)
        )
    }

    /// The key of `user_id`'s current activity.
    pub fn activity_key(&self, user_id: &str) -> String {
        format!("{}activity:{}", self.prefix, tag("user", user_id))
    }

    /// Fails, writing nothing, if `change`'s part of `session_id`'s result is not applied yet and
    /// the player's record could not take it.
    async fn check_part(&self, session_id: &str, change: &RatingChange) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .check_part
            .key(self.account_key(&change.user_id))
            .key(self.applied_key(&change.user_id, session_id))
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Applies `change`'s part of `session_id`'s result unless it was applied before (`None`).
    /// `Some(None)`: applied now, to nobody, since there is no account.
    async fn apply_part(
        &self,
        session_id: &str,
        change: &RatingChange,
    ) -> Result<Option<Option<Account>>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.account_key(&change.user_id);
        let fields: Option<HashMap<String, String>> = self
            .apply_part
            .key(&key)
            .key(self.applied_key(&change.user_id, session_id))
            .arg(RESULT_TTL.as_secs())
            // `Display` for f64 never uses an exponent, which HINCRBYFLOAT would refuse.
            .arg(change.delta.to_string())
            .arg(if change.won { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        match fields {
            None => Ok(None),
            Some(fields) if fields.is_empty() => Ok(Some(None)),
            Some(fields) => decode(&key, fields).map(|account| Some(Some(account))),
        }
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
        // Every record is checked before the first part is written, so that a damaged one fails
        // the result with nothing applied, as one script for all players did.
        futures_util::future::try_join_all(
            changes
                .iter()
                .map(|change| self.check_part(session_id, change)),
        )
        .await?;
        let parts = futures_util::future::try_join_all(
            changes
                .iter()
                .map(|change| self.apply_part(session_id, change)),
        )
        .await?;
        // Applied by this call: the parts whose marker was not there. None of them: every part was
        // applied before (by an earlier attempt, or by another instance meanwhile).
        let mut applied = false;
        let mut updated = Vec::new();
        for part in parts.into_iter().flatten() {
            applied = true;
            updated.extend(part);
        }
        Ok(applied.then_some(updated))
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
        let (from_kind, to_kind) = (kind_name(from.kind)?, kind_name(to.kind)?);
        // One compare-and-set per user, each in that user's slot; see the module's comment.
        let moved = futures_util::future::try_join_all(user_ids.iter().map(|user_id| {
            let mut conn = self.conn.clone();
            let mut invocation = self.hand_over.key(self.activity_key(user_id));
            invocation
                .arg(&from_kind)
                .arg(&from.id)
                .arg(&to_kind)
                .arg(&to.id);
            async move {
                invocation
                    .invoke_async::<u8>(&mut conn)
                    .await
                    .map_err(store_error)
            }
        }))
        .await?;
        Ok(user_ids
            .iter()
            .zip(moved)
            .filter(|(_, moved)| *moved == 0)
            .map(|(user_id, _)| user_id.clone())
            .collect())
    }

    async fn release(&self, user_ids: &[String], activity: &Activity) -> Result<usize, StoreError> {
        let kind = kind_name(activity.kind)?;
        // One compare-and-set per user, each in that user's slot; see the module's comment.
        let released = futures_util::future::try_join_all(user_ids.iter().map(|user_id| {
            let mut conn = self.conn.clone();
            let mut invocation = self.release.key(self.activity_key(user_id));
            invocation.arg(&kind).arg(&activity.id);
            async move {
                invocation
                    .invoke_async::<u8>(&mut conn)
                    .await
                    .map_err(store_error)
            }
        }))
        .await?;
        Ok(released
            .into_iter()
            .filter(|released| *released == 1)
            .count())
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
