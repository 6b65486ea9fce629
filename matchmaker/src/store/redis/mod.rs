//! Tickets and matches in Redis, under the store's prefix, laid out for a Redis Cluster: every
//! script touches the keys of one hash slot only.
//!
//! A pool is the entity: a matching pass takes several of its waiting tickets into a match in one
//! atomic step, so a pool's waiting tickets, its tickets and the matches made from it share the
//! pool's hash tag `{pool:<pool>}` (one pool is served by one Redis node; pools spread):
//!
//! - `pool:{pool:<pool>}`: a hash, ticket id → `rating|created_at`, of the pool's waiting tickets:
//!   all a matching pass needs, in one `HGETALL`;
//! - `ticket:{pool:<pool>}:<id>`: a hash: `record` (the search, as JSON), `user`, `pool`, `entry`
//!   (the pool entry), `expires_at`, and what changes as it is matched: `status`, `match`,
//!   `session`, `leaving`;
//! - `match:{pool:<pool>}:<id>`: a hash: `record` (the group, as JSON), `tickets` (their ids,
//!   space-separated), and what changes as it is advanced: `session`, `handed`, `announced`,
//!   `due`, `done`;
//! - `lease:{pool:<pool>}`: the instance working the pool now, for a few seconds.
//!
//! Pointers, each in its own slot, written before what they point at and removed after it (or
//! left to expire); whoever follows one checks that what it finds agrees:
//!
//! - `where:{ticket:<id>}`: the ticket's pool;
//! - `where:{match:<id>}`: the match's pool and tickets, as JSON (neither ever changes);
//! - `user:{user:<user>}`: the user's ticket, as `["<pool>","<id>"]`.
//!
//! Also per user, `presence:{user:<user>}`: a hash, gateway id → `<ms>:<0|1>`, each gateway's
//! newest statement. And three indexes, each one key in a slot of its own, kept a superset of the
//! truth (an entry is added before the change that needs it and removed after the change that ends
//! it); their readers check the entity and drop or skip stale entries:
//!
//! - `pool-index`: pools, scored by when a ticket last joined one (empty pools are dropped once
//!   idle for [`POOL_IDLE_MS`]);
//! - `expiry`: pending, waiting and matching tickets (`["<pool>","<id>"]`) scored by when they run
//!   out;
//! - `due`: matches not done (`["<pool>","<id>"]`), scored by when a sweeper should advance them
//!   (the match's own `due` decides; moved at the same moment, the entry may lag it by a retry).
//!
//! One ticket per user: a start takes the user's pointer (unless it names a ticket that holds the
//! user), then writes the ticket. A reader that finds the ticket (or match) an entry or a pointer
//! names missing marks its key gone for [`TOMBSTONE_MS`] before it drops the entry or takes the
//! pointer over, so a write still in flight can no longer make it: what was dropped stays dropped,
//! and of starts at once for one user only one ticket is ever stored. (The user's claim in
//! `accounts`, taken after the ticket is stored and before it waits, already keeps a second one
//! from ever waiting; the store keeps the rule by itself as it did.)
//!
//! Every change within a pool is one Lua script (see [`scripts`]). Ticket keys also expire a while
//! after the ticket should have, and a match's keys an hour after it was last advanced: a backstop
//! if no sweeper runs; pointers live longer than what they point at. The Rust here is one
//! implementation of `TicketStore`, step for step beside the memory one; the key names and the
//! scripts are apart.

mod decode;
mod keys;
mod matches;
mod pools;
mod presence;
mod scripts;
mod sweeps;
mod tickets;

use super::{
    Abandoned, MatchRecord, Removal, Step, StoreError, TicketRecord, TicketStatus, TicketStore,
};
use crate::pool::Waiting;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, try_join_all};
use keys::{Keys, reference};
use scripts::*;
use std::time::Duration;
use warren_contracts::matchmaker::CancelReason;
use warren_runtime::Redis;
use warren_runtime::redis_client::script;

/// How long after its last due moment a ticket's keys stay in Redis unless removed first.
const BACKSTOP_MS: u64 = 60_000;
/// How long a match's keys, and its tickets', outlive the last time it was advanced.
const MATCH_BACKSTOP_MS: u64 = 3_600_000;
/// How long a match's pointer lives from the last time it was advanced: longer than its keys.
const MATCH_POINTER_MS: u64 = MATCH_BACKSTOP_MS + BACKSTOP_MS;
/// How long the mark of a ticket or match found missing lasts: far longer than any write in
/// flight takes.
const TOMBSTONE_MS: u64 = 600_000;
/// How long an empty pool stays in the pool index after a ticket last joined it: far longer than
/// a join takes from raising the pool's score to the ticket's script (a join stalled longer than
/// this, while a reader drops the pool, leaves its ticket unlisted until the next join there).
const POOL_IDLE_MS: u64 = 60_000;

pub struct RedisStore {
    redis: Redis,
    keys: Keys,
    add: redis::Script,
    check_holder: redis::Script,
    activate: redis::Script,
    remove: redis::Script,
    take: redis::Script,
    record_session: redis::Script,
    note: redis::Script,
    complete: redis::Script,
    abandon: redis::Script,
    defer: redis::Script,
    take_due: redis::Script,
    expire: redis::Script,
    swap_pointer: redis::Script,
    forget_pointer: redis::Script,
    drop_idle_pool: redis::Script,
    release_lease: redis::Script,
    set_presence: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix())
            .finish()
    }
}

fn pool_script(body: &str) -> redis::Script {
    script(&format!("{PRELUDE}{body}"))
}

/// A write beside a change (an index entry, a pointer), run with others at once.
type Write<'a> = BoxFuture<'a, Result<(), StoreError>>;

impl RedisStore {
    pub fn new(redis: Redis, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            keys: Keys::new(prefix.into()),
            add: pool_script(ADD),
            check_holder: pool_script(CHECK_HOLDER),
            activate: pool_script(ACTIVATE),
            remove: pool_script(REMOVE),
            take: pool_script(TAKE),
            record_session: pool_script(RECORD_SESSION),
            note: pool_script(NOTE),
            complete: pool_script(COMPLETE),
            abandon: pool_script(ABANDON),
            defer: pool_script(DEFER),
            take_due: pool_script(TAKE_DUE),
            expire: pool_script(EXPIRE),
            swap_pointer: script(SWAP_POINTER),
            forget_pointer: script(FORGET_POINTER),
            drop_idle_pool: script(DROP_IDLE_POOL),
            release_lease: script(RELEASE_LEASE),
            set_presence: script(warren_runtime::presence::SET_PRESENCE),
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        cmd.query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        invocation
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    fn write(&self, cmd: redis::Cmd) -> Write<'_> {
        async move { self.query::<redis::Value>(&cmd).await.map(|_| ()) }.boxed()
    }

    /// Deletes `key` if it still holds `value` (a user's pointer to a ticket that is gone).
    fn forget(&self, key: String, value: String) -> Write<'_> {
        async move {
            let mut invocation = self.forget_pointer.prepare_invoke();
            invocation.key(key).arg(value);
            self.run::<redis::Value>(&invocation).await.map(|_| ())
        }
        .boxed()
    }

    /// Lengthens `key`'s life to `ms` from now, never shortening it.
    fn outlive(&self, key: String, ms: u64) -> Write<'_> {
        let mut cmd = redis::cmd("PEXPIRE");
        cmd.arg(key).arg(ms).arg("GT");
        self.write(cmd)
    }

    /// The writes beside a ticket just removed: its pointers and its expiry entry go.
    fn forget_ticket(&self, pool: &str, ticket_id: &str, user_id: &str) -> Vec<Write<'_>> {
        let entry = reference(pool, ticket_id);
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(self.keys.expiry()).arg(&entry);
        let mut del = redis::cmd("DEL");
        del.arg(self.keys.ticket_place(ticket_id));
        vec![
            self.write(zrem),
            self.write(del),
            self.forget(self.keys.user(user_id), entry),
        ]
    }
}

/// Runs `writes` at once; the first failure, if any.
async fn together(writes: Vec<Write<'_>>) -> Result<(), StoreError> {
    try_join_all(writes).await.map(|_| ())
}

/// Runs `writes` that follow a change made already (removing index entries and pointers it
/// ended, moving an entry): if one fails, a stale entry or pointer stays behind, which its reader
/// skips or drops, so the change stands and the failure is only logged.
async fn tidy(writes: Vec<Write<'_>>) {
    if let Err(error) = together(writes).await {
        tracing::warn!(%error, "an index or pointer is left to be tidied by its readers");
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Each operation is written in the module of what it concerns (`tickets`, `pools`, `matches`,
/// `sweeps`, `presence`), beside its helpers; a trait impl is one block, so this only hands on.
#[async_trait::async_trait]
impl TicketStore for RedisStore {
    async fn add(&self, ticket: &TicketRecord) -> Result<Option<String>, StoreError> {
        self.add_ticket(ticket).await
    }

    async fn get(&self, ticket_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        self.get_ticket(ticket_id).await
    }

    async fn find_user(&self, user_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        self.user_ticket(user_id).await
    }

    async fn activate(&self, ticket_id: &str) -> Result<bool, StoreError> {
        self.activate_ticket(ticket_id).await
    }

    async fn remove(
        &self,
        ticket_id: &str,
        allowed: &[TicketStatus],
        leaving: Option<CancelReason>,
    ) -> Result<Removal, StoreError> {
        self.remove_ticket(ticket_id, allowed, leaving).await
    }

    async fn pools(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .pool_lengths()
            .await?
            .into_iter()
            .map(|(pool, _)| pool)
            .collect())
    }

    async fn queue_lengths(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.pool_lengths().await
    }

    async fn waiting(&self, pool: &str) -> Result<Vec<Waiting>, StoreError> {
        self.waiting_in(pool).await
    }

    async fn lease(&self, pool: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.take_lease(pool, holder, ttl).await
    }

    async fn release_lease(&self, pool: &str, holder: &str) -> Result<(), StoreError> {
        self.give_up_lease(pool, holder).await
    }

    async fn take(&self, new: &MatchRecord) -> Result<Option<Vec<TicketRecord>>, StoreError> {
        self.take_match(new).await
    }

    async fn get_match(&self, match_id: &str) -> Result<Option<MatchRecord>, StoreError> {
        self.read_match(match_id).await
    }

    async fn record_session(
        &self,
        match_id: &str,
        session_id: &str,
    ) -> Result<Option<(MatchRecord, bool)>, StoreError> {
        self.record_match_session(match_id, session_id).await
    }

    async fn note(&self, match_id: &str, step: Step) -> Result<(), StoreError> {
        self.note_step(match_id, step).await
    }

    async fn complete(&self, match_id: &str) -> Result<(), StoreError> {
        self.complete_match(match_id).await
    }

    async fn abandon(&self, match_id: &str) -> Result<Abandoned, StoreError> {
        self.abandon_match(match_id).await
    }

    async fn defer(&self, match_id: &str, due: u64) -> Result<(), StoreError> {
        self.defer_match(match_id, due).await
    }

    async fn take_due(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<MatchRecord>, StoreError> {
        self.take_due_matches(now, limit, retry_at).await
    }

    async fn take_expired(&self, now: u64, limit: usize) -> Result<Vec<TicketRecord>, StoreError> {
        self.take_expired_tickets(now, limit).await
    }

    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        self.record_presence(user_id, gateway_id, online, at).await
    }
}
