//! Sessions in Redis.
//!
//! Each session's keys share its hash tag, `{session:<id>}`, so one script can touch them all:
//! the hash `<prefix>session:{session:<id>}` holds `version`, `record` (the JSON of the record),
//! `running` (1 until it finishes), `indexed` (when its score in the running index was last
//! set), `owner` (the instance that holds it live) and `outbox` (the last change's events, which
//! a new owner publishes again in case the old one died before it could); the list
//! `<prefix>applied:{session:<id>}` holds the latest commands' request ids.
//! `<prefix>alive:<instance>` is an instance's heartbeat: a session whose owner has none can be
//! claimed by anyone.
//!
//! A commit is one script on the session's keys: it checks the owner and writes the record, the
//! outbox and the request id, so an accepted command is durable and deduplicated in one step.
//! Then, when the store was given the deployment's journal, it numbers the events there, one
//! script per recipient, each idempotent by event id (see `warren_runtime::journal`), and only
//! then answers. A process that dies between the two leaves the events in the outbox: the next
//! owner publishes them again, and the bus numbers them through the same journal, so each
//! recipient gets each event once. A journal that fails after the commit leaves the numbering to
//! the caller, which publishes through the bus (same journal, same marks).
//!
//! A claim reads the owner and, if it is another instance, its heartbeat (another slot), then
//! runs its script with what it read: the script takes the session only if the owner is still
//! the one read, and otherwise the claim reads again.
//!
//! Sessions expire a day after their last change. `<prefix>running`, in a slot of its own, is an
//! index of the sessions not finished: a session is added before it is created, and removed after
//! the commit that finishes it, so the index holds every running session and, after a crash
//! between the two writes, a few that are not. Its score says how recently the session changed:
//! set when it is added, and moved forward after a commit at most once an hour (the session's
//! `indexed` field says when), so that a command does not write to one key shared by every
//! session. Counting drops the entries whose score is older than a session can live (a day and
//! two hours: one missed refresh to spare), and checks a sample of the others against their
//! session, dropping those that finished or are gone.
//!
//! Presence ([`presence`]): a user's keys share `{user:<id>}`: `<prefix>presence:{user:<id>}` is
//! a hash, gateway id → `<ms>:<0|1>` (the newest statement of each gateway wins);
//! `<prefix>user_sessions:{user:<id>}` a set of session ids. `<prefix>away`, in a slot of its
//! own, is the schedule of grace deadlines, a sorted set of `<session>|<user>` scored by the
//! deadline, from which a script takes what is due, so each deadline goes to one sweeping
//! instance; the sweeper checks the player's presence and the session before acting on one.

mod presence;
mod scripts;

use super::{
    APPLIED_KEPT, Change, Claim, Committed, Owned, SessionRecord, SessionStore, StoreError,
};
use serde::{Deserialize, Serialize};
use warren_bus::journal::JournalStore;
use warren_contracts::Event;
use warren_contracts::event::now_millis;
use warren_contracts::sessions::Status;
use warren_runtime::Redis;
use warren_runtime::journal::RedisJournal;
use warren_runtime::redis_client::{script, tag};

const TTL_SECONDS: u64 = 86_400;

/// A new owner publishes the last change's events again only if they are this recent: the
/// journal then gives them the numbers they got (its dedup window is a minute); an older change's
/// events were published, or the players have resumed since.
const OUTBOX_REPLAY_MS: u64 = 30_000;

/// How many times a claim reads the owner again when it changed under it.
const CLAIM_ATTEMPTS: usize = 8;

/// How often at most a commit moves a running session's score in `running` forward.
const INDEX_REFRESH_MS: u64 = 3_600_000;

/// How old a score of `running` can be while its session lives: the session's time to live, and
/// two refresh periods (the last refresh may have been missed).
const INDEX_KEEP_MS: u64 = TTL_SECONDS * 1000 + 2 * INDEX_REFRESH_MS;

/// Entries of `running` checked against their session at each count.
const RUNNING_SAMPLE: usize = 20;

/// An entry of `running` this recent is not checked: its session may be being created (the entry
/// is added just before).
const RUNNING_SETTLED_MS: u64 = 60_000;

pub struct RedisStore {
    redis: Redis,
    prefix: String,
    /// The deployment's journal, when commits number their events.
    journal: Option<RedisJournal>,
    create: redis::Script,
    claim: redis::Script,
    commit: redis::Script,
    release: redis::Script,
    set_presence: redis::Script,
    take_due: redis::Script,
    count_running: redis::Script,
    drop_stale: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("numbers_events", &self.journal.is_some())
            .finish()
    }
}

/// The `outbox` field: when the change was made, and its events.
#[derive(Serialize, Deserialize)]
struct Outbox {
    at: u64,
    events: Vec<Event>,
}

#[derive(Serialize)]
struct OutboxRef<'a> {
    at: u64,
    events: &'a [Event],
}

impl RedisStore {
    /// A store whose commits leave numbering events to the bus.
    pub fn new(redis: Redis, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            journal: None,
            create: script(scripts::CREATE),
            claim: script(scripts::CLAIM),
            commit: script(scripts::COMMIT),
            release: script(scripts::RELEASE),
            set_presence: script(warren_runtime::presence::SET_PRESENCE),
            take_due: script(scripts::TAKE_DUE),
            count_running: script(scripts::COUNT_RUNNING),
            drop_stale: script(scripts::DROP_STALE),
        }
    }

    /// The same store numbering each commit's events in `journal` once the commit is written,
    /// before it answers. It must be the journal the bus of the deployment uses (same Redis, same
    /// prefix), so that a new owner's publishing the outbox again numbers each event once.
    pub fn numbering_in(mut self, journal: RedisJournal) -> Self {
        self.journal = Some(journal);
        self
    }

    fn key(&self, session_id: &str) -> String {
        format!("{}session:{}", self.prefix, tag("session", session_id))
    }

    fn applied_key(&self, session_id: &str) -> String {
        format!("{}applied:{}", self.prefix, tag("session", session_id))
    }

    fn running_key(&self) -> String {
        format!("{}running", self.prefix)
    }

    fn alive_key(&self, instance: &str) -> String {
        format!("{}alive:{instance}", self.prefix)
    }

    /// Adds the session to `running`, or moves its score forward.
    async fn index_running(&self, session_id: &str, now: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("ZADD")
            .arg(self.running_key())
            .arg(now)
            .arg(session_id)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Whether a sampled entry of `running` is stale: its session is gone or finished.
    async fn is_stale(&self, session_id: &str) -> Result<bool, StoreError> {
        let running: Option<String> = redis::cmd("HGET")
            .arg(self.key(session_id))
            .arg("running")
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(running.as_deref() != Some("1"))
    }

    /// Checks one sampled entry of `running` and drops it if stale; 1 if dropped.
    async fn check_running(&self, session_id: &str, score: &str) -> Result<u64, StoreError> {
        if !self.is_stale(session_id).await? {
            return Ok(0);
        }
        self.drop_stale
            .key(self.running_key())
            .arg(session_id)
            .arg(score)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }
}

fn running(record: &SessionRecord) -> &'static str {
    if record.session.status == Status::Running {
        "1"
    } else {
        "0"
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(corrupt)
}

fn decode(record: &str) -> Result<SessionRecord, StoreError> {
    serde_json::from_str(record).map_err(corrupt)
}

/// The events a new owner publishes again: those of a recent last change.
fn replayed(outbox: &str) -> Vec<Event> {
    match serde_json::from_str::<Outbox>(outbox) {
        Ok(outbox) if now_millis().saturating_sub(outbox.at) <= OUTBOX_REPLAY_MS => outbox.events,
        _ => Vec::new(),
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, record: &SessionRecord, owner: &str) -> Result<(), StoreError> {
        let session_id = &record.session.session_id;
        let now = now_millis();
        if record.session.status == Status::Running {
            // Before the session exists: the index holds every running session.
            self.index_running(session_id, now).await?;
        }
        let created: i64 = self
            .create
            .key(self.key(session_id))
            .arg(record.version())
            .arg(encode(record)?)
            .arg(owner)
            .arg(running(record))
            .arg(TTL_SECONDS)
            .arg(now)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if created == 1 {
            Ok(())
        } else {
            // The session that exists is indexed as it is; if it has finished, the entry just
            // refreshed is stale and a count drops it.
            Err(StoreError::AlreadyExists)
        }
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let record: Option<String> = redis::cmd("HGET")
            .arg(self.key(session_id))
            .arg("record")
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        record.as_deref().map(decode).transpose()
    }

    async fn claim(
        &self,
        session_id: &str,
        me: &str,
        dead: Option<&str>,
    ) -> Result<Claim, StoreError> {
        for _ in 0..CLAIM_ATTEMPTS {
            // The owner's heartbeat is in another slot: read it first, and have the script take
            // the session only if the owner is still the one read. A heartbeat that comes back
            // between the two lets the claim take a session from an instance that just said it
            // is alive, as if the claim had run a moment earlier: its next commit is fenced.
            let owner: Option<String> = redis::cmd("HGET")
                .arg(self.key(session_id))
                .arg("owner")
                .query_async(&mut self.redis.clone())
                .await
                .map_err(unavailable)?;
            let owner = owner.unwrap_or_default();
            let alive = if owner.is_empty() || owner == me || Some(owner.as_str()) == dead {
                false
            } else {
                redis::cmd("EXISTS")
                    .arg(self.alive_key(&owner))
                    .query_async::<i64>(&mut self.redis.clone())
                    .await
                    .map_err(unavailable)?
                    == 1
            };
            let answer: Vec<String> = self
                .claim
                .key(self.key(session_id))
                .key(self.applied_key(session_id))
                .arg(me)
                .arg(&owner)
                .arg(if alive { "1" } else { "0" })
                .invoke_async(&mut self.redis.clone())
                .await
                .map_err(unavailable)?;
            return match answer.as_slice() {
                [changed] if changed == "changed" => continue,
                [missing] if missing == "missing" => Ok(Claim::Missing),
                [owned, owner] if owned == "owned" => Ok(Claim::OwnedBy(owner.clone())),
                [mine, record, outbox, previous, applied @ ..] if mine == "mine" => {
                    Ok(Claim::Owned(Box::new(Owned {
                        record: decode(record)?,
                        applied: applied.to_vec(),
                        last_events: replayed(outbox),
                        previous_owner: Some(previous.clone()).filter(|p| !p.is_empty()),
                    })))
                }
                other => Err(corrupt(format!("a claim answered {other:?}"))),
            };
        }
        Err(StoreError::Unavailable(
            "the session's owner kept changing during the claim".into(),
        ))
    }

    async fn commit(&self, change: Change<'_>, me: &str) -> Result<Committed, StoreError> {
        let record = change.record;
        let session_id = &record.session.session_id;
        let now = now_millis();
        let outbox = OutboxRef {
            at: now,
            events: change.events,
        };
        let written: i64 = self
            .commit
            .key(self.key(session_id))
            .key(self.applied_key(session_id))
            .arg(me)
            .arg(record.version())
            .arg(encode(record)?)
            .arg(encode(&outbox)?)
            .arg(running(record))
            .arg(TTL_SECONDS)
            .arg(change.request_id.unwrap_or(""))
            .arg(APPLIED_KEPT)
            .arg(now)
            .arg(INDEX_REFRESH_MS)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        // The running index is written after the commit: a session that runs is in it since
        // before it was created, with a score at most an hour old, which a failed refresh here
        // leaves at most two hours old (see `INDEX_KEEP_MS`); a finished one is taken out, and a
        // crash before that leaves a stale entry, which a count drops.
        let indexed = match written {
            0 => return Ok(Committed::Lost),
            2 => self.index_running(session_id, now).await,
            _ if record.session.status == Status::Running => Ok(()),
            _ => redis::cmd("ZREM")
                .arg(self.running_key())
                .arg(session_id)
                .query_async::<()>(&mut self.redis.clone())
                .await
                .map_err(unavailable),
        };
        if let Err(error) = indexed {
            // The change is stored: the index is mended later, or read past.
            tracing::warn!(%error, %session_id, "the running index not updated after a commit");
        }
        let Some(journal) = &self.journal else {
            return Ok(Committed::Done(None));
        };
        // The change is stored, with its events in the outbox: numbering them is idempotent per
        // recipient and event, so whoever numbers them next (the caller publishing them, or a new
        // owner publishing the outbox again) gives each recipient each event once.
        match journal.append(change.events, now).await {
            Ok(numbers) => Ok(Committed::Done(Some(numbers))),
            Err(error) => {
                tracing::warn!(%error, %session_id, "events of a stored change not numbered yet");
                Ok(Committed::Done(None))
            }
        }
    }

    async fn release(&self, session_ids: &[String], me: &str) -> Result<(), StoreError> {
        // One call per session: each is in a slot of its own.
        futures_util::future::try_join_all(session_ids.iter().map(|session_id| async move {
            self.release
                .key(self.key(session_id))
                .arg(me)
                .invoke_async::<i64>(&mut self.redis.clone())
                .await
                .map_err(unavailable)
        }))
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, me: &str, ttl_ms: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("SET")
            .arg(self.alive_key(me))
            .arg(1)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn count_running(&self) -> Result<u64, StoreError> {
        let now = now_millis();
        let oldest = now.saturating_sub(INDEX_KEEP_MS);
        let answer: Vec<String> = self
            .count_running
            .key(self.running_key())
            .arg(oldest)
            .arg(RUNNING_SAMPLE)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let Some((count, sample)) = answer.split_first() else {
            return Err(corrupt("no count of running sessions"));
        };
        let count: u64 = count.parse().map_err(corrupt)?;
        // The index may hold sessions that finished or are gone (a crash after the write that
        // ended them, a create that failed): a sample of the entries old enough to be settled is
        // checked against the sessions at each count, so such entries go in time.
        let settled = now.saturating_sub(RUNNING_SETTLED_MS);
        let checks = sample.chunks(2).filter_map(|entry| match entry {
            [session_id, score] if score.parse::<f64>().is_ok_and(|s| s < settled as f64) => {
                Some(self.check_running(session_id, score))
            }
            _ => None,
        });
        let dropped: u64 = futures_util::future::try_join_all(checks)
            .await?
            .into_iter()
            .sum();
        Ok(count.saturating_sub(dropped))
    }
}
