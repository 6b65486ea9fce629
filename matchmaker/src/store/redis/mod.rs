//! Tickets and matches in Redis, under the store's prefix:
//!
//! - `ticket:<id>`: a hash: `record` (the search, as JSON), `user`, `pool`, `entry` (the pool
//!   entry), `expires_at`, and what changes as it is matched: `status`, `match`, `session`,
//!   `leaving`;
//! - `user:<user>`: the id of the user's ticket;
//! - `pool:<pool>`: a hash, ticket id → `rating|created_at`, of the pool's waiting tickets: all a
//!   matching pass needs, in one `HGETALL`;
//! - `pools`: the set of pools with waiting tickets;
//! - `expiry`: pending and waiting tickets scored by when they run out;
//! - `match:<id>`: a hash: `record` (the group, as JSON), `tickets` (their ids, space-separated),
//!   and what changes as it is advanced: `session`, `handed`, `announced`, `due`, `done`;
//! - `due`: matches not done, scored by when a sweeper should advance them;
//! - `lease:<pool>`: the instance working the pool now, for a few seconds;
//! - `presence:<user>`: a hash, gateway id → `<ms>:<0|1>`, each gateway's newest statement.
//!
//! Every change that touches more than one key is one Lua script (see [`scripts`]). Ticket and
//! user keys also expire a while after the ticket should have, and a match's keys an hour after
//! it was last advanced: a backstop if no sweeper runs. The Rust here is one file because it is one
//! implementation of `TicketStore`, step for step beside the memory one; the scripts are apart.

mod scripts;

use super::{
    Abandoned, DONE_KEPT_MS, MatchRecord, Removal, Step, StoreError, TicketRecord, TicketStatus,
    TicketStore, parse_entry,
};
use crate::pool::Waiting;
use scripts::*;
use std::collections::HashMap;
use std::time::Duration;
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::CancelReason;
use warren_runtime::Redis;

/// How long after its last due moment a ticket's keys stay in Redis unless removed first.
const BACKSTOP_MS: u64 = 60_000;
/// How long a match's keys, and its tickets', outlive the last time it was advanced.
const MATCH_BACKSTOP_MS: u64 = 3_600_000;
/// What a script returns of a ticket: record, status, match, session, leaving.
const TICKET_PARTS: usize = 5;
/// What a script returns of a match: record, session, handed, announced, due, done.
const MATCH_PARTS: usize = 6;

pub struct RedisStore {
    redis: Redis,
    prefix: String,
    add: redis::Script,
    activate: redis::Script,
    remove: redis::Script,
    take: redis::Script,
    record_session: redis::Script,
    note: redis::Script,
    complete: redis::Script,
    abandon: redis::Script,
    defer: redis::Script,
    take_due: redis::Script,
    take_expired: redis::Script,
    release_lease: redis::Script,
    set_presence: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn ticket_script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}{body}"))
}

impl RedisStore {
    pub fn new(redis: Redis, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            add: ticket_script(ADD),
            activate: ticket_script(ACTIVATE),
            remove: ticket_script(REMOVE),
            take: ticket_script(TAKE),
            record_session: ticket_script(RECORD_SESSION),
            note: ticket_script(NOTE),
            complete: ticket_script(COMPLETE),
            abandon: ticket_script(ABANDON),
            defer: ticket_script(DEFER),
            take_due: ticket_script(TAKE_DUE),
            take_expired: ticket_script(TAKE_EXPIRED),
            release_lease: redis::Script::new(RELEASE_LEASE),
            set_presence: redis::Script::new(warren_runtime::presence::SET_PRESENCE),
        }
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// An invocation of a ticket script, with the prefix as its first argument.
    fn invocation<'a>(&self, script: &'a redis::Script) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(&self.prefix);
        invocation
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        invocation
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A ticket from its stored parts: record, status, match, session, leaving.
fn record(parts: &[String]) -> Result<TicketRecord, StoreError> {
    let [json, status, match_id, session, leaving] = parts else {
        return Err(corrupt("a ticket came back in pieces"));
    };
    let mut record: TicketRecord = serde_json::from_str(json).map_err(corrupt)?;
    record.status =
        TicketStatus::parse(status).ok_or_else(|| corrupt(format!("status {status:?}")))?;
    record.match_id = present(match_id);
    record.session_id = present(session);
    record.leaving = match leaving.as_str() {
        "" => None,
        reason => Some(
            serde_json::from_value(serde_json::Value::String(reason.to_owned()))
                .map_err(corrupt)?,
        ),
    };
    Ok(record)
}

/// The tickets a script returned.
fn records(flat: &[String]) -> Result<Vec<TicketRecord>, StoreError> {
    flat.chunks(TICKET_PARTS).map(record).collect()
}

/// A match from its stored parts: record, session, handed, announced, due, done.
fn match_record(parts: &[String]) -> Result<MatchRecord, StoreError> {
    let [json, session, handed, announced, due, done] = parts else {
        return Err(corrupt("a match came back in pieces"));
    };
    let mut record: MatchRecord = serde_json::from_str(json).map_err(corrupt)?;
    record.session_id = present(session);
    record.handed_over = handed == "1";
    record.announced = announced == "1";
    record.due = if due.is_empty() {
        0
    } else {
        due.parse().map_err(corrupt)?
    };
    record.done = done == "1";
    Ok(record)
}

fn present(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// A leaving reason as stored: its name on the wire.
fn reason_name(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::Cancelled => "cancelled",
        CancelReason::Disconnected => "disconnected",
    }
}

/// How long from now a ticket's keys should live if its last due moment is `due` (Unix ms).
fn lifetime_ms(due: u64) -> u64 {
    due.saturating_sub(now_millis()).saturating_add(BACKSTOP_MS)
}

#[async_trait::async_trait]
impl TicketStore for RedisStore {
    async fn add(&self, ticket: &TicketRecord) -> Result<Option<String>, StoreError> {
        let json = serde_json::to_string(ticket).map_err(corrupt)?;
        let mut invocation = self.invocation(&self.add);
        invocation
            .arg(&ticket.ticket_id)
            .arg(&ticket.user_id)
            .arg(ticket.pool())
            .arg(ticket.entry())
            .arg(ticket.expires_at)
            .arg(json)
            .arg(lifetime_ms(ticket.expires_at));
        self.run(invocation).await
    }

    async fn get(&self, ticket_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        let parts: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("ticket", ticket_id))
            .arg(&["record", "status", "match", "session", "leaving"][..])
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let mut parts = parts.into_iter();
        // The record and the status are always there; the rest only while being matched.
        let (Some(Some(json)), Some(Some(status))) = (parts.next(), parts.next()) else {
            return Ok(None);
        };
        let mut all = vec![json, status];
        all.extend(parts.map(Option::unwrap_or_default));
        record(&all).map(Some)
    }

    async fn find_user(&self, user_id: &str) -> Result<Option<TicketRecord>, StoreError> {
        let ticket_id: Option<String> = redis::cmd("GET")
            .arg(self.key("user", user_id))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        match ticket_id {
            Some(id) => self.get(&id).await,
            None => Ok(None),
        }
    }

    async fn activate(&self, ticket_id: &str) -> Result<bool, StoreError> {
        let mut invocation = self.invocation(&self.activate);
        invocation.arg(ticket_id);
        let activated: i64 = self.run(invocation).await?;
        Ok(activated == 1)
    }

    async fn remove(
        &self,
        ticket_id: &str,
        allowed: &[TicketStatus],
        leaving: Option<CancelReason>,
    ) -> Result<Removal, StoreError> {
        let mut invocation = self.invocation(&self.remove);
        invocation
            .arg(ticket_id)
            .arg(leaving.map_or("", reason_name));
        for status in allowed {
            invocation.arg(status.as_str());
        }
        let answer: Vec<String> = self.run(invocation).await?;
        match answer.split_first() {
            None => Ok(Removal::Missing),
            Some((what, rest)) if what == "removed" => Ok(Removal::Removed(record(rest)?)),
            Some((what, rest)) if what == "kept" => Ok(Removal::Kept(record(rest)?)),
            Some(_) => Err(corrupt("an unreadable answer to a removal")),
        }
    }

    async fn pools(&self) -> Result<Vec<String>, StoreError> {
        redis::cmd("SMEMBERS")
            .arg(format!("{}pools", self.prefix))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn queue_lengths(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let pools = self.pools().await?;
        if pools.is_empty() {
            return Ok(Vec::new());
        }
        let mut lengths = redis::pipe();
        for pool in &pools {
            lengths.cmd("HLEN").arg(self.key("pool", pool));
        }
        let lengths: Vec<u64> = lengths
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(pools.into_iter().zip(lengths).collect())
    }

    async fn waiting(&self, pool: &str) -> Result<Vec<Waiting>, StoreError> {
        let entries: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.key("pool", pool))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        entries
            .iter()
            .map(|(id, entry)| parse_entry(id, entry))
            .collect()
    }

    async fn lease(&self, pool: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key("lease", pool))
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }

    async fn release_lease(&self, pool: &str, holder: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .release_lease
            .key(self.key("lease", pool))
            .arg(holder)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take(&self, new: &MatchRecord) -> Result<Option<Vec<TicketRecord>>, StoreError> {
        if new.tickets.is_empty() {
            return Ok(None);
        }
        let json = serde_json::to_string(new).map_err(corrupt)?;
        let mut invocation = self.invocation(&self.take);
        invocation
            .arg(&new.pool)
            .arg(&new.match_id)
            .arg(new.due)
            .arg(json)
            .arg(new.tickets.join(" "))
            .arg(MATCH_BACKSTOP_MS)
            .arg(&new.tickets);
        let flat: Vec<String> = self.run(invocation).await?;
        if flat.is_empty() {
            return Ok(None);
        }
        records(&flat).map(Some)
    }

    async fn get_match(&self, match_id: &str) -> Result<Option<MatchRecord>, StoreError> {
        let parts: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("match", match_id))
            .arg(&["record", "session", "handed", "announced", "due", "done"][..])
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        if parts.first().is_none_or(Option::is_none) {
            return Ok(None);
        }
        let parts: Vec<String> = parts.into_iter().map(Option::unwrap_or_default).collect();
        match_record(&parts).map(Some)
    }

    async fn record_session(
        &self,
        match_id: &str,
        session_id: &str,
    ) -> Result<Option<(MatchRecord, bool)>, StoreError> {
        let mut invocation = self.invocation(&self.record_session);
        invocation.arg(match_id).arg(session_id);
        let answer: Vec<String> = self.run(invocation).await?;
        match answer.split_first() {
            None => Ok(None),
            Some((first, parts)) => Ok(Some((match_record(parts)?, first == "1"))),
        }
    }

    async fn note(&self, match_id: &str, step: Step) -> Result<(), StoreError> {
        let field = match step {
            Step::HandedOver => "handed",
            Step::Announced => "announced",
        };
        let mut invocation = self.invocation(&self.note);
        invocation.arg(match_id).arg(field);
        let _: i64 = self.run(invocation).await?;
        Ok(())
    }

    async fn complete(&self, match_id: &str) -> Result<(), StoreError> {
        let mut invocation = self.invocation(&self.complete);
        invocation.arg(match_id).arg(DONE_KEPT_MS);
        let _: i64 = self.run(invocation).await?;
        Ok(())
    }

    async fn abandon(&self, match_id: &str) -> Result<Abandoned, StoreError> {
        let mut invocation = self.invocation(&self.abandon);
        invocation.arg(match_id);
        let answer: Vec<String> = self.run(invocation).await?;
        match answer.split_first() {
            Some((what, _)) if what == "missing" => Ok(Abandoned::Missing),
            Some((what, _)) if what == "session" => Ok(Abandoned::HasSession),
            Some((what, rest)) if what == "undone" => {
                let (count, tickets) = rest
                    .split_first()
                    .ok_or_else(|| corrupt("an unreadable answer to an abandon"))?;
                let count: usize = count.parse().map_err(corrupt)?;
                let mut back = records(tickets)?;
                let ended = back.split_off(count.min(back.len()));
                Ok(Abandoned::Undone { back, ended })
            }
            _ => Err(corrupt("an unreadable answer to an abandon")),
        }
    }

    async fn defer(&self, match_id: &str, due: u64) -> Result<(), StoreError> {
        let mut invocation = self.invocation(&self.defer);
        invocation.arg(match_id).arg(due);
        let _: i64 = self.run(invocation).await?;
        Ok(())
    }

    async fn take_due(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<MatchRecord>, StoreError> {
        let mut invocation = self.invocation(&self.take_due);
        invocation
            .arg(now)
            .arg(limit.max(1))
            .arg(retry_at)
            .arg(MATCH_BACKSTOP_MS);
        let flat: Vec<String> = self.run(invocation).await?;
        flat.chunks(MATCH_PARTS).map(match_record).collect()
    }

    async fn take_expired(&self, now: u64, limit: usize) -> Result<Vec<TicketRecord>, StoreError> {
        let mut invocation = self.invocation(&self.take_expired);
        invocation.arg(now).arg(limit.max(1));
        let flat: Vec<String> = self.run(invocation).await?;
        records(&flat)
    }

    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        let key = self.key("presence", user_id);
        warren_runtime::presence::set_in_redis(
            &self.set_presence,
            &self.redis,
            key,
            gateway_id,
            online,
            at,
        )
        .await
        .map_err(unavailable)
    }
}
