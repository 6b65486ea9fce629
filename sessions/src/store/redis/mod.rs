//! Sessions in Redis.
//!
//! One hash per session, `<prefix>session:<id>`: `version`, `record` (the JSON of the record),
//! `owner` (the instance that holds it live) and `outbox` (the last change's events, which a new
//! owner publishes again in case the old one died before it could). The latest commands' request
//! ids are the list `<prefix>applied:<id>`. `<prefix>alive:<instance>` is an instance's
//! heartbeat: a session whose owner has none can be claimed by anyone.
//!
//! A commit is one script: it checks the owner, writes the record, the outbox and the request
//! id, and, when the store was given the deployment's journal, numbers the events in it, so an
//! accepted command is durable, numbered and deduplicated in one round trip.
//!
//! Sessions expire a day after their last change. `<prefix>running` is a sorted set of the
//! sessions not finished, scored by their last change (ms), written by the same scripts: a
//! session whose score is more than a day old has expired, and is pruned when counted.
//!
//! Presence ([`presence`]): `<prefix>presence:<user>` is a hash, gateway id → `<ms>:<0|1>` (the
//! newest statement of each gateway wins); `<prefix>user_sessions:<user>` a set of session ids;
//! `<prefix>away` a sorted set of `<session>|<user>` scored by the deadline, from which a script
//! takes what is due, so each deadline goes to one sweeping instance.

mod presence;
mod scripts;

use super::{
    APPLIED_KEPT, Change, Claim, Committed, Owned, SessionRecord, SessionStore, StoreError,
};
use serde::{Deserialize, Serialize};
use warren_contracts::Event;
use warren_contracts::event::now_millis;
use warren_contracts::sessions::Status;
use warren_runtime::Redis;
use warren_runtime::journal::{APPEND_FUNCTION, RedisJournal, read_answers};

const TTL_SECONDS: u64 = 86_400;

/// A new owner publishes the last change's events again only if they are this recent: the
/// journal then gives them the numbers they got (its dedup window is a minute); an older change's
/// events were published, or the players have resumed since.
const OUTBOX_REPLAY_MS: u64 = 30_000;

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
            create: redis::Script::new(scripts::CREATE),
            claim: redis::Script::new(scripts::CLAIM),
            commit: redis::Script::new(&format!("{APPEND_FUNCTION}{}", scripts::COMMIT)),
            release: redis::Script::new(scripts::RELEASE),
            set_presence: redis::Script::new(warren_runtime::presence::SET_PRESENCE),
            take_due: redis::Script::new(scripts::TAKE_DUE),
            count_running: redis::Script::new(scripts::COUNT_RUNNING),
        }
    }

    /// The same store numbering each commit's events in `journal`, in the commit's own step. It
    /// must be the journal the bus of the deployment uses (same Redis, same prefix).
    pub fn numbering_in(mut self, journal: RedisJournal) -> Self {
        self.journal = Some(journal);
        self
    }

    fn key(&self, session_id: &str) -> String {
        format!("{}session:{session_id}", self.prefix)
    }

    fn applied_key(&self, session_id: &str) -> String {
        format!("{}applied:{session_id}", self.prefix)
    }

    fn running_key(&self) -> String {
        format!("{}running", self.prefix)
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
        let created: i64 = self
            .create
            .key(self.key(&record.session.session_id))
            .key(self.running_key())
            .arg(record.version())
            .arg(encode(record)?)
            .arg(TTL_SECONDS)
            .arg(now_millis())
            .arg(&record.session.session_id)
            .arg(running(record))
            .arg(owner)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if created == 1 {
            Ok(())
        } else {
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
        let answer: Vec<String> = self
            .claim
            .key(self.key(session_id))
            .key(self.applied_key(session_id))
            .arg(me)
            .arg(format!("{}alive:", self.prefix))
            .arg(dead.unwrap_or(""))
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        match answer.as_slice() {
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
        }
    }

    async fn commit(&self, change: Change<'_>, me: &str) -> Result<Committed, StoreError> {
        let record = change.record;
        let session_id = &record.session.session_id;
        let now = now_millis();
        let outbox = OutboxRef {
            at: now,
            events: change.events,
        };
        let mut invocation = self.commit.prepare_invoke();
        invocation
            .key(self.key(session_id))
            .key(self.running_key())
            .key(self.applied_key(session_id))
            .arg(me)
            .arg(record.version())
            .arg(encode(record)?)
            .arg(encode(&outbox)?)
            .arg(TTL_SECONDS)
            .arg(now)
            .arg(session_id)
            .arg(running(record))
            .arg(change.request_id.unwrap_or(""))
            .arg(APPLIED_KEPT);
        if let Some(journal) = &self.journal {
            journal
                .append_args(&mut invocation, change.events, now)
                .map_err(corrupt)?;
        }
        let answer: Vec<String> = invocation
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        match answer.split_first() {
            Some((lost, [])) if lost == "lost" => Ok(Committed::Lost),
            Some((done, numbers)) if done == "done" => match self.journal {
                Some(_) => Ok(Committed::Done(Some(
                    read_answers(numbers, change.events).map_err(corrupt)?,
                ))),
                None => Ok(Committed::Done(None)),
            },
            _ => Err(corrupt(format!("a commit answered {answer:?}"))),
        }
    }

    async fn release(&self, session_ids: &[String], me: &str) -> Result<(), StoreError> {
        if session_ids.is_empty() {
            return Ok(());
        }
        let mut invocation = self.release.prepare_invoke();
        for session_id in session_ids {
            invocation.key(self.key(session_id));
        }
        let _: i64 = invocation
            .arg(me)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn heartbeat(&self, me: &str, ttl_ms: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("SET")
            .arg(format!("{}alive:{me}", self.prefix))
            .arg(1)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn count_running(&self) -> Result<u64, StoreError> {
        let oldest = now_millis().saturating_sub(TTL_SECONDS * 1000);
        self.count_running
            .key(self.running_key())
            .arg(oldest)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }
}
