//! Tickets: a start (taking the user's pointer first), reads through the ticket's or the user's
//! pointer, the move from pending to waiting, and removal.

use super::decode::record;
use super::keys::{parse_reference, reference};
use super::{BACKSTOP_MS, MATCH_POINTER_MS, RedisStore, TOMBSTONE_MS, corrupt, tidy, together};
use crate::store::{Removal, StoreError, TicketRecord, TicketStatus};
use warren_contracts::event::now_millis;
use warren_contracts::matchmaker::CancelReason;

/// How often a start tries to take its user's pointer over from other starts of the user's at the
/// same moment before it answers with the ticket of the one that has it.
const ADD_ATTEMPTS: usize = 16;

impl RedisStore {
    pub(super) async fn add_ticket(
        &self,
        ticket: &TicketRecord,
    ) -> Result<Option<String>, StoreError> {
        let pool = ticket.pool();
        let id = &ticket.ticket_id;
        let mine = reference(&pool, id);
        let pointer_ms = pointer_lifetime_ms(ticket.expires_at);
        if let Some(existing) = self.point_user_at(ticket, &mine, pointer_ms).await? {
            return Ok(Some(existing));
        }
        // The user's pointer names the ticket: its own pointer and its expiry entry, then the
        // ticket.
        let mut place = redis::cmd("SET");
        place
            .arg(self.keys.ticket_place(id))
            .arg(&pool)
            .arg("PX")
            .arg(pointer_ms);
        let mut expiry = redis::cmd("ZADD");
        expiry
            .arg(self.keys.expiry())
            .arg(ticket.expires_at)
            .arg(&mine);
        together(vec![self.write(place), self.write(expiry)]).await?;
        let json = serde_json::to_string(ticket).map_err(corrupt)?;
        let mut invocation = self.add.prepare_invoke();
        invocation
            .key(self.keys.ticket(&pool, id))
            .arg(json)
            .arg(&ticket.user_id)
            .arg(&pool)
            .arg(ticket.entry())
            .arg(ticket.expires_at)
            .arg(lifetime_ms(ticket.expires_at));
        let outcome: Vec<String> = self.run(&invocation).await?;
        match outcome.split_first() {
            Some((what, _)) if what == "stored" => Ok(None),
            Some((what, _)) if what == "taken" => {
                tidy(vec![self.forget(self.keys.user(&ticket.user_id), mine)]).await;
                Err(corrupt(format!("ticket id {id} is another user's")))
            }
            Some((what, by)) if what == "gone" => {
                // Marked gone meanwhile: by another start of this user's that found our pointer
                // before our ticket and takes the pointer over (that start is the answer), or by
                // a sweep (the ticket was due before it was stored).
                let rival = by
                    .first()
                    .and_then(|by| parse_reference(by))
                    .map(|(_, rival)| rival)
                    .filter(|rival| rival != id);
                let mut expiry = redis::cmd("ZREM");
                expiry.arg(self.keys.expiry()).arg(&mine);
                let mut place = redis::cmd("DEL");
                place.arg(self.keys.ticket_place(id));
                tidy(vec![
                    self.write(expiry),
                    self.write(place),
                    self.forget(self.keys.user(&ticket.user_id), mine),
                ])
                .await;
                rival.map(Some).ok_or_else(|| {
                    StoreError::Unavailable("the ticket was due before it was stored".into())
                })
            }
            _ => Err(corrupt("an unreadable answer to an add")),
        }
    }

    pub(super) async fn get_ticket(
        &self,
        ticket_id: &str,
    ) -> Result<Option<TicketRecord>, StoreError> {
        match self.ticket_pool(ticket_id).await? {
            Some(pool) => self.read_ticket(&pool, ticket_id).await,
            None => Ok(None),
        }
    }

    pub(super) async fn user_ticket(
        &self,
        user_id: &str,
    ) -> Result<Option<TicketRecord>, StoreError> {
        let pointer: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys.user(user_id)))
            .await?;
        let Some((pool, ticket_id)) = pointer.as_deref().and_then(parse_reference) else {
            return Ok(None);
        };
        // A pointer left by a ticket that is gone, or by a start that never stored one, finds
        // nothing (or nothing of this user's).
        let ticket = self.read_ticket(&pool, &ticket_id).await?;
        Ok(ticket.filter(|ticket| ticket.user_id == user_id))
    }

    pub(super) async fn activate_ticket(&self, ticket_id: &str) -> Result<bool, StoreError> {
        let Some(pool) = self.ticket_pool(ticket_id).await? else {
            return Ok(false);
        };
        self.joining(&pool).await?;
        let mut invocation = self.activate.prepare_invoke();
        invocation
            .key(self.keys.ticket(&pool, ticket_id))
            .key(self.keys.pool(&pool))
            .arg(ticket_id);
        let activated: i64 = self.run(&invocation).await?;
        Ok(activated == 1)
    }

    pub(super) async fn remove_ticket(
        &self,
        ticket_id: &str,
        allowed: &[TicketStatus],
        leaving: Option<CancelReason>,
    ) -> Result<Removal, StoreError> {
        let Some(pool) = self.ticket_pool(ticket_id).await? else {
            return Ok(Removal::Missing);
        };
        let mut invocation = self.remove.prepare_invoke();
        invocation
            .key(self.keys.ticket(&pool, ticket_id))
            .key(self.keys.pool(&pool))
            .arg(ticket_id)
            .arg(leaving.map_or("", reason_name));
        for status in allowed {
            invocation.arg(status.as_str());
        }
        let answer: Vec<String> = self.run(&invocation).await?;
        match answer.split_first() {
            None => Ok(Removal::Missing),
            Some((what, rest)) if what == "removed" => {
                let removed = record(rest)?;
                tidy(self.forget_ticket(&pool, ticket_id, &removed.user_id)).await;
                Ok(Removal::Removed(removed))
            }
            Some((what, rest)) if what == "kept" => Ok(Removal::Kept(record(rest)?)),
            Some(_) => Err(corrupt("an unreadable answer to a removal")),
        }
    }

    /// Takes the user's pointer for `mine` (`["<pool>","<id>"]`), unless it names a ticket that
    /// holds them: then that ticket's id. A ticket it names that is missing is marked gone (by
    /// `mine`), and then the pointer is taken over if it still names that ticket, so that a start
    /// in flight cannot store it afterwards. The start that took the pointer last is never marked
    /// gone: whoever marks a ticket tries to take the pointer next, and would be later. If other
    /// starts at the same moment outlast the attempts, the ticket the pointer names is the answer.
    async fn point_user_at(
        &self,
        ticket: &TicketRecord,
        mine: &str,
        lifetime_ms: u64,
    ) -> Result<Option<String>, StoreError> {
        let user_key = self.keys.user(&ticket.user_id);
        let mut expected = String::new();
        let mut other = None;
        for attempt in 1..=ADD_ATTEMPTS {
            let mut swap = self.swap_pointer.prepare_invoke();
            swap.key(&user_key)
                .arg(&expected)
                .arg(mine)
                .arg(lifetime_ms);
            let current: Option<String> = self.run(&swap).await?;
            let Some(current) = current else {
                return Ok(None);
            };
            if current == mine {
                // An earlier try of this add took it.
                return Ok(None);
            }
            if let Some((pool, ticket_id)) = parse_reference(&current) {
                if attempt == ADD_ATTEMPTS {
                    // No swap would follow a mark.
                    return Ok(Some(ticket_id));
                }
                let mut check = self.check_holder.prepare_invoke();
                check
                    .key(self.keys.ticket(&pool, &ticket_id))
                    .arg(&ticket.user_id)
                    .arg(TOMBSTONE_MS)
                    .arg(mine);
                let holder: String = self.run(&check).await?;
                if holder == "live" {
                    return Ok(Some(ticket_id));
                }
                other = Some(ticket_id);
            }
            expected = current;
        }
        other
            .map(Some)
            .ok_or_else(|| StoreError::Unavailable("too many starts for one user at once".into()))
    }

    /// The pool the ticket is in, from its pointer.
    async fn ticket_pool(&self, ticket_id: &str) -> Result<Option<String>, StoreError> {
        self.query(redis::cmd("GET").arg(self.keys.ticket_place(ticket_id)))
            .await
    }

    async fn read_ticket(
        &self,
        pool: &str,
        ticket_id: &str,
    ) -> Result<Option<TicketRecord>, StoreError> {
        let parts: Vec<Option<String>> = self
            .query(
                redis::cmd("HMGET")
                    .arg(self.keys.ticket(pool, ticket_id))
                    .arg(&["record", "status", "match", "session", "leaving"][..]),
            )
            .await?;
        let mut parts = parts.into_iter();
        // The record and the status are always there; the rest only while being matched.
        let (Some(Some(json)), Some(Some(status))) = (parts.next(), parts.next()) else {
            return Ok(None);
        };
        let mut all = vec![json, status];
        all.extend(parts.map(Option::unwrap_or_default));
        record(&all).map(Some)
    }
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

/// How long from now a ticket's pointers should live: past its keys' lifetime, and the hour a
/// take may lengthen them by (a take comes no later than the keys' lifetime; a take that comes
/// later, of a ticket put back, lengthens the pointers itself).
fn pointer_lifetime_ms(due: u64) -> u64 {
    lifetime_ms(due).saturating_add(MATCH_POINTER_MS)
}
