//! Sweeps: what the sweepers take from the `due` and `expiry` indexes. The indexes are kept a
//! superset of the truth, so each entry read is checked against what it names, and a stale one
//! is dropped or moved later.

use super::decode::{match_record, record};
use super::keys::{MatchPlace, parse_reference};
use super::{MATCH_BACKSTOP_MS, MATCH_POINTER_MS, RedisStore, TOMBSTONE_MS, tidy};
use crate::store::{MatchRecord, StoreError, TicketRecord};
use futures_util::future::try_join_all;
use std::collections::BTreeMap;

/// How much later the expiry of a ticket being matched is looked at again: its match decides
/// first, and an undone match puts the ticket's own moment back.
const BUSY_AGAIN_MS: u64 = 5_000;
/// How much later a due match whose pointer could not be read is looked at again.
const UNSURE_AGAIN_MS: u64 = 1_000;
/// How many reads of the expiry index one `take_expired` makes at most.
const EXPIRY_ROUNDS: usize = 10;

impl RedisStore {
    pub(super) async fn take_due_matches(
        &self,
        now: u64,
        limit: usize,
        retry_at: u64,
    ) -> Result<Vec<MatchRecord>, StoreError> {
        let entries: Vec<String> = self
            .query(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.keys.due())
                    .arg("-inf")
                    .arg(now)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit.max(1)),
            )
            .await?;
        let taken = try_join_all(
            entries
                .iter()
                .map(|entry| self.take_due_one(entry, now, retry_at)),
        )
        .await?;
        Ok(taken.into_iter().flatten().collect())
    }

    /// One entry of the due index: the match, if it was due and is now this caller's until
    /// `retry_at`.
    async fn take_due_one(
        &self,
        entry: &str,
        now: u64,
        retry_at: u64,
    ) -> Result<Option<MatchRecord>, StoreError> {
        let drop_entry = || {
            let mut zrem = redis::cmd("ZREM");
            zrem.arg(self.keys.due()).arg(entry);
            self.write(zrem)
        };
        let rescore = |at: u64| {
            let mut zadd = redis::cmd("ZADD");
            zadd.arg(self.keys.due()).arg("XX").arg(at).arg(entry);
            self.write(zadd)
        };
        let Some((pool, match_id)) = parse_reference(entry) else {
            tidy(vec![drop_entry()]).await;
            return Ok(None);
        };
        // The pointer is lengthened first: the script lengthens the match's keys.
        let place: Option<String> = self
            .query(
                redis::cmd("GETEX")
                    .arg(self.keys.match_place(&match_id))
                    .arg("PX")
                    .arg(MATCH_POINTER_MS),
            )
            .await?;
        let place = place
            .and_then(|place| serde_json::from_str::<MatchPlace>(&place).ok())
            .filter(|place| place.pool == pool)
            .unwrap_or(MatchPlace {
                pool,
                tickets: Vec::new(),
            });
        let mut invocation = self.on_match(&self.take_due, &match_id, &place, false);
        invocation
            .arg(now)
            .arg(retry_at)
            .arg(MATCH_BACKSTOP_MS)
            .arg(TOMBSTONE_MS);
        let answer: Vec<String> = self.run(&invocation).await?;
        match answer.split_first() {
            Some((what, rest)) if what == "taken" => {
                let taken = match_record(rest)?;
                let mut writes = vec![rescore(retry_at)];
                for (ticket_id, user_id) in taken.tickets.iter().zip(&taken.players) {
                    writes.push(self.outlive(self.keys.ticket_place(ticket_id), MATCH_POINTER_MS));
                    writes.push(self.outlive(self.keys.user(user_id), MATCH_POINTER_MS));
                }
                tidy(writes).await;
                Ok(Some(taken))
            }
            // Another caller has it, or it was deferred: the entry moves to the match's own due
            // (a defer at the same moment may leave it up to a retry later than that).
            Some((what, rest)) if what == "later" => {
                let at = rest
                    .first()
                    .and_then(|at| at.parse().ok())
                    .unwrap_or(retry_at);
                tidy(vec![rescore(at)]).await;
                Ok(None)
            }
            Some((what, _)) if what == "unsure" => {
                tidy(vec![rescore(now.saturating_add(UNSURE_AGAIN_MS))]).await;
                Ok(None)
            }
            // Done, or missing (and marked so: a take in flight can no longer make it).
            _ => {
                tidy(vec![drop_entry()]).await;
                Ok(None)
            }
        }
    }

    pub(super) async fn take_expired_tickets(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        let limit = limit.max(1);
        let mut expired = Vec::new();
        // Entries of tickets another sweeper took, or being matched, are moved out of the way:
        // read on until `limit` are taken or none is due.
        for _ in 0..EXPIRY_ROUNDS {
            let wanted = limit.saturating_sub(expired.len());
            if wanted == 0 {
                break;
            }
            let entries: Vec<String> = self
                .query(
                    redis::cmd("ZRANGEBYSCORE")
                        .arg(self.keys.expiry())
                        .arg("-inf")
                        .arg(now)
                        .arg("LIMIT")
                        .arg(0)
                        .arg(wanted),
                )
                .await?;
            if entries.is_empty() {
                break;
            }
            let mut by_pool: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
            let mut unreadable = Vec::new();
            for entry in entries {
                match parse_reference(&entry) {
                    Some((pool, ticket_id)) => {
                        by_pool.entry(pool).or_default().push((ticket_id, entry));
                    }
                    None => {
                        let mut zrem = redis::cmd("ZREM");
                        zrem.arg(self.keys.expiry()).arg(entry);
                        unreadable.push(self.write(zrem));
                    }
                }
            }
            tidy(unreadable).await;
            let taken = try_join_all(
                by_pool
                    .iter()
                    .map(|(pool, tickets)| self.expire_in(pool, tickets, now)),
            )
            .await?;
            expired.extend(taken.into_iter().flatten());
        }
        Ok(expired)
    }

    /// Expires what is due of `tickets` (id, expiry entry) in `pool`; the tickets removed.
    async fn expire_in(
        &self,
        pool: &str,
        tickets: &[(String, String)],
        now: u64,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        let mut invocation = self.expire.prepare_invoke();
        invocation.key(self.keys.pool(pool));
        for (ticket_id, _) in tickets {
            invocation.key(self.keys.ticket(pool, ticket_id));
        }
        invocation.arg(now).arg(TOMBSTONE_MS);
        for (ticket_id, _) in tickets {
            invocation.arg(ticket_id);
        }
        let answers: Vec<Vec<String>> = self.run(&invocation).await?;
        let mut expired = Vec::new();
        let mut writes = Vec::new();
        for ((ticket_id, entry), answer) in tickets.iter().zip(answers) {
            let rescore = |at: u64| {
                let mut cmd = redis::cmd("ZADD");
                cmd.arg(self.keys.expiry()).arg("XX").arg(at).arg(entry);
                cmd
            };
            match answer.split_first() {
                Some((what, rest)) if what == "expired" => {
                    let ticket = record(rest)?;
                    writes.extend(self.forget_ticket(pool, ticket_id, &ticket.user_id));
                    expired.push(ticket);
                }
                Some((what, rest)) if what == "later" => {
                    let at = rest.first().and_then(|at| at.parse().ok()).unwrap_or(now);
                    writes.push(self.write(rescore(at)));
                }
                // Being matched: its match decides; looked at again later (an undone match puts
                // the ticket's own moment back).
                Some((what, _)) if what == "busy" => {
                    writes.push(self.write(rescore(now.saturating_add(BUSY_AGAIN_MS))));
                }
                // Missing, and marked so: nobody can store it any more.
                _ => {
                    let mut zrem = redis::cmd("ZREM");
                    zrem.arg(self.keys.expiry()).arg(entry);
                    writes.push(self.write(zrem));
                }
            }
        }
        tidy(writes).await;
        Ok(expired)
    }
}
