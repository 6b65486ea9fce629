//! Matches: taking tickets into one, and each step that advances it until it is done or
//! abandoned.

use super::decode::{match_record, records};
use super::keys::{MatchPlace, reference};
use super::{
    BACKSTOP_MS, MATCH_BACKSTOP_MS, MATCH_POINTER_MS, RedisStore, corrupt, tidy, together,
};
use crate::store::{Abandoned, DONE_KEPT_MS, MatchRecord, Step, StoreError, TicketRecord};
use warren_contracts::event::now_millis;

/// What a match script answers when the match lists other tickets than its pointer.
const MISMATCH: &str = "mismatch";

fn mismatch(match_id: &str) -> StoreError {
    corrupt(format!(
        "match {match_id} has other tickets than its pointer says"
    ))
}

impl RedisStore {
    pub(super) async fn take_match(
        &self,
        new: &MatchRecord,
    ) -> Result<Option<Vec<TicketRecord>>, StoreError> {
        if new.tickets.is_empty() {
            return Ok(None);
        }
        let place = MatchPlace {
            pool: new.pool.clone(),
            tickets: new.tickets.clone(),
        };
        let entry = reference(&new.pool, &new.match_id);
        // The match's pointer and its entry in the schedule first. A sweeper that reads the entry
        // before the match exists marks the match gone, and then this take is refused.
        let mut pointer = redis::cmd("SET");
        pointer
            .arg(self.keys.match_place(&new.match_id))
            .arg(serde_json::to_string(&place).map_err(corrupt)?)
            .arg("PX")
            .arg(MATCH_POINTER_MS);
        let mut due = redis::cmd("ZADD");
        due.arg(self.keys.due()).arg(new.due).arg(&entry);
        together(vec![self.write(pointer), self.write(due)]).await?;
        let json = serde_json::to_string(new).map_err(corrupt)?;
        let mut invocation = self.take.prepare_invoke();
        invocation
            .key(self.keys.pool(&new.pool))
            .key(self.keys.match_key(&new.pool, &new.match_id));
        for ticket_id in &new.tickets {
            invocation.key(self.keys.ticket(&new.pool, ticket_id));
        }
        invocation
            .arg(&new.pool)
            .arg(&new.match_id)
            .arg(new.due)
            .arg(json)
            .arg(place.list())
            .arg(MATCH_BACKSTOP_MS)
            .arg(&new.tickets);
        let answer: Vec<String> = self.run(&invocation).await?;
        match answer.split_first() {
            Some((what, rest)) if what == "taken" => {
                let taken = records(rest)?;
                // A ticket put back long after it was due may now outlive its pointers.
                let now = now_millis();
                let mut writes = Vec::new();
                for ticket in &taken {
                    if now > ticket.expires_at.saturating_add(BACKSTOP_MS) {
                        writes.push(
                            self.outlive(
                                self.keys.ticket_place(&ticket.ticket_id),
                                MATCH_POINTER_MS,
                            ),
                        );
                        writes
                            .push(self.outlive(self.keys.user(&ticket.user_id), MATCH_POINTER_MS));
                    }
                }
                tidy(writes).await;
                Ok(Some(taken))
            }
            Some((what, _)) if what == "stale" => {
                // No match was made, and none will be under this id.
                let mut pointer = redis::cmd("DEL");
                pointer.arg(self.keys.match_place(&new.match_id));
                let mut due = redis::cmd("ZREM");
                due.arg(self.keys.due()).arg(&entry);
                tidy(vec![self.write(pointer), self.write(due)]).await;
                Ok(None)
            }
            // A match (or the mark of one found missing) has that id already: leave its keys be.
            _ => Ok(None),
        }
    }

    pub(super) async fn read_match(
        &self,
        match_id: &str,
    ) -> Result<Option<MatchRecord>, StoreError> {
        let Some(place) = self.match_place(match_id).await? else {
            return Ok(None);
        };
        let parts: Vec<Option<String>> = self
            .query(
                redis::cmd("HMGET")
                    .arg(self.keys.match_key(&place.pool, match_id))
                    .arg(&["record", "session", "handed", "announced", "due", "done"][..]),
            )
            .await?;
        if parts.first().is_none_or(Option::is_none) {
            return Ok(None);
        }
        let parts: Vec<String> = parts.into_iter().map(Option::unwrap_or_default).collect();
        match_record(&parts).map(Some)
    }

    pub(super) async fn record_match_session(
        &self,
        match_id: &str,
        session_id: &str,
    ) -> Result<Option<(MatchRecord, bool)>, StoreError> {
        let Some(place) = self.match_place(match_id).await? else {
            return Ok(None);
        };
        let mut invocation = self.on_match(&self.record_session, match_id, &place, false);
        invocation.arg(session_id);
        let answer: Vec<String> = self.run(&invocation).await?;
        match answer.split_first() {
            None => Ok(None),
            Some((first, _)) if first == MISMATCH => Err(mismatch(match_id)),
            Some((first, parts)) => Ok(Some((match_record(parts)?, first == "1"))),
        }
    }

    pub(super) async fn note_step(&self, match_id: &str, step: Step) -> Result<(), StoreError> {
        let field = match step {
            Step::HandedOver => "handed",
            Step::Announced => "announced",
        };
        let Some(place) = self.match_place(match_id).await? else {
            return Ok(());
        };
        let mut invocation = self.note.prepare_invoke();
        invocation
            .key(self.keys.match_key(&place.pool, match_id))
            .arg(field);
        let _: i64 = self.run(&invocation).await?;
        Ok(())
    }

    pub(super) async fn complete_match(&self, match_id: &str) -> Result<(), StoreError> {
        let Some(place) = self.match_place(match_id).await? else {
            return Ok(());
        };
        let mut invocation = self.on_match(&self.complete, match_id, &place, true);
        invocation.arg(DONE_KEPT_MS);
        let answer: Vec<String> = self.run(&invocation).await?;
        let Some((what, removed)) = answer.split_first() else {
            return Ok(());
        };
        if what == MISMATCH {
            return Err(mismatch(match_id));
        }
        let mut due = redis::cmd("ZREM");
        due.arg(self.keys.due())
            .arg(reference(&place.pool, match_id));
        let mut pointer = redis::cmd("PEXPIRE");
        pointer
            .arg(self.keys.match_place(match_id))
            .arg(DONE_KEPT_MS.saturating_add(BACKSTOP_MS));
        let mut writes = vec![self.write(due), self.write(pointer)];
        for pair in removed.chunks(2) {
            if let [ticket_id, user_id] = pair {
                writes.extend(self.forget_ticket(&place.pool, ticket_id, user_id));
            }
        }
        tidy(writes).await;
        Ok(())
    }

    pub(super) async fn abandon_match(&self, match_id: &str) -> Result<Abandoned, StoreError> {
        let Some(place) = self.match_place(match_id).await? else {
            return Ok(Abandoned::Missing);
        };
        // Its tickets may wait in the pool again.
        self.joining(&place.pool).await?;
        let invocation = self.on_match(&self.abandon, match_id, &place, true);
        let answer: Vec<String> = self.run(&invocation).await?;
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
                let mut writes = Vec::new();
                for ticket in &ended {
                    writes.extend(self.forget_ticket(
                        &place.pool,
                        &ticket.ticket_id,
                        &ticket.user_id,
                    ));
                }
                // Their expiry entries stayed while they were matched; a sweep may have put them
                // later meanwhile.
                for ticket in &back {
                    let mut expiry = redis::cmd("ZADD");
                    expiry
                        .arg(self.keys.expiry())
                        .arg(ticket.expires_at)
                        .arg(reference(&place.pool, &ticket.ticket_id));
                    writes.push(self.write(expiry));
                }
                let mut pointer = redis::cmd("DEL");
                pointer.arg(self.keys.match_place(match_id));
                let mut due = redis::cmd("ZREM");
                due.arg(self.keys.due())
                    .arg(reference(&place.pool, match_id));
                writes.push(self.write(pointer));
                writes.push(self.write(due));
                tidy(writes).await;
                Ok(Abandoned::Undone { back, ended })
            }
            Some((what, _)) if what == MISMATCH => Err(mismatch(match_id)),
            _ => Err(corrupt("an unreadable answer to an abandon")),
        }
    }

    pub(super) async fn defer_match(&self, match_id: &str, due: u64) -> Result<(), StoreError> {
        let Some(place) = self.match_place(match_id).await? else {
            return Ok(());
        };
        let mut invocation = self.defer.prepare_invoke();
        invocation
            .key(self.keys.match_key(&place.pool, match_id))
            .arg(due);
        let deferred: i64 = self.run(&invocation).await?;
        if deferred == 1 {
            // Until this lands the sweeper finds it at its earlier moment, where the match's own
            // `due` tells it to wait.
            self.query::<redis::Value>(
                redis::cmd("ZADD")
                    .arg(self.keys.due())
                    .arg(due)
                    .arg(reference(&place.pool, match_id)),
            )
            .await?;
        }
        Ok(())
    }

    /// Where the match is, from its pointer.
    pub(super) async fn match_place(
        &self,
        match_id: &str,
    ) -> Result<Option<MatchPlace>, StoreError> {
        let place: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys.match_place(match_id)))
            .await?;
        place
            .map(|place| serde_json::from_str(&place).map_err(corrupt))
            .transpose()
    }

    /// An invocation of a match script: the match's key, its pool's (if `with_pool`), its tickets';
    /// then its id and its tickets as its hash lists them.
    pub(super) fn on_match<'a>(
        &self,
        script: &'a redis::Script,
        match_id: &str,
        place: &MatchPlace,
        with_pool: bool,
    ) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation.key(self.keys.match_key(&place.pool, match_id));
        if with_pool {
            invocation.key(self.keys.pool(&place.pool));
        }
        for ticket_id in &place.tickets {
            invocation.key(self.keys.ticket(&place.pool, ticket_id));
        }
        invocation.arg(match_id).arg(place.list());
        invocation
    }
}
