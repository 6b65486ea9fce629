//! Revocation: ending logins (one, all of a user's), listing each as being ended first, and the
//! `revoked` list the gateways read.

use super::RedisStore;
use super::logins::Named;
use super::scripts::{END_FAMILY, MARK_ENDING, PEEK_FAMILY, READ_REVOKED, RECORD_REVOKED};
use crate::store::{Ended, StoreError};
use ::redis::{AsyncCommands, RedisError};
use warren_contracts::event::now_millis;

/// Added to a login's remaining life when it is listed as being ended: covers the gateways'
/// tolerance of clock differences, as the service's own margin does.
const CLOCK_MARGIN_MS: u64 = 60_000;

impl RedisStore {
    pub(super) async fn end_token_family(&self, digest: &str) -> Result<Option<Ended>, StoreError> {
        let Some(Named { family, user_id }) = self.follow(digest).await? else {
            return Ok(None);
        };
        let Some(left) = self.peek(&family, &user_id, Some(digest)).await? else {
            return Ok(None);
        };
        self.mark_ending(&[(family.clone(), left)]).await?;
        if !self.end(&family, &user_id, Some(digest)).await? {
            // Ended meanwhile by another call, which answers for it.
            return Ok(None);
        }
        self.unindex(&user_id, std::slice::from_ref(&family)).await;
        Ok(Some(Ended { user_id, family }))
    }

    pub(super) async fn end_user_families(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let indexed: Vec<String> = self
            .conn()
            .zrange(self.user_families_key(user_id), 0, -1)
            .await?;
        let ended = self.end_all(user_id, &indexed).await?;
        // Every listed login is gone now, ended here or before.
        self.unindex(user_id, &indexed).await;
        Ok(ended)
    }

    /// Ends the going logins among `families` of `user_id`, each listed as being ended first;
    /// returns those it ended. One login's steps are one script each, the logins concurrently.
    pub(super) async fn end_all(
        &self,
        user_id: &str,
        families: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let left = futures_util::future::try_join_all(
            families
                .iter()
                .map(|family| self.peek(family, user_id, None)),
        )
        .await?;
        let going: Vec<(String, u64)> = families
            .iter()
            .zip(left)
            .filter_map(|(family, left)| left.map(|left| (family.clone(), left)))
            .collect();
        self.mark_ending(&going).await?;
        let ended = futures_util::future::try_join_all(
            going
                .iter()
                .map(|(family, _)| self.end(family, user_id, None)),
        )
        .await?;
        let mut ended: Vec<String> = going
            .into_iter()
            .zip(ended)
            .filter_map(|((family, _), ended)| ended.then_some(family))
            .collect();
        ended.sort();
        Ok(ended)
    }

    /// Lists logins as being ended, each until its remaining life (ms) plus the margin, before
    /// they are ended: if they are ended and the service never records it, `revoked` still
    /// answers them.
    pub(super) async fn mark_ending(&self, logins: &[(String, u64)]) -> Result<(), StoreError> {
        if logins.is_empty() {
            return Ok(());
        }
        let now = now_millis();
        let [revoked, revoking] = self.revoked_keys();
        let mut invocation = MARK_ENDING.prepare_invoke();
        invocation.key(revoked).key(revoking).arg(now);
        for (family, left) in logins {
            let until = now.saturating_add(*left).saturating_add(CLOCK_MARGIN_MS);
            invocation.arg(family).arg(until);
        }
        let _: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Whether the login is going (see `PEEK_FAMILY`): the ms it has left.
    async fn peek(
        &self,
        family: &str,
        user_id: &str,
        token: Option<&str>,
    ) -> Result<Option<u64>, StoreError> {
        let mut invocation = PEEK_FAMILY.prepare_invoke();
        invocation.key(self.family_key(family));
        if let Some(digest) = token {
            invocation.key(self.state_key(family, digest));
        }
        invocation.arg(user_id);
        let left: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(u64::try_from(left).ok())
    }

    /// Ends the login if it is going; whether it did.
    async fn end(
        &self,
        family: &str,
        user_id: &str,
        token: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut invocation = END_FAMILY.prepare_invoke();
        invocation.key(self.family_key(family));
        if let Some(digest) = token {
            invocation.key(self.state_key(family, digest));
        }
        invocation.arg(user_id);
        let ended: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(ended == 1)
    }

    /// Takes ended logins out of their user's index, after they ended. Tidying only: an index
    /// entry of a login that is gone is skipped by whoever reads it, and goes with the index.
    pub(super) async fn unindex(&self, user_id: &str, families: &[String]) {
        if families.is_empty() {
            return;
        }
        let removed: Result<i64, RedisError> = self
            .conn()
            .zrem(self.user_families_key(user_id), families)
            .await;
        if let Err(error) = removed {
            tracing::warn!(%error, "could not take ended logins out of their user's index");
        }
    }

    pub(super) async fn add_revoked(
        &self,
        families: &[String],
        until: u64,
    ) -> Result<(), StoreError> {
        if families.is_empty() {
            return Ok(());
        }
        let [revoked, revoking] = self.revoked_keys();
        let mut invocation = RECORD_REVOKED.prepare_invoke();
        invocation
            .key(revoked)
            .key(revoking)
            .arg(until)
            .arg(now_millis());
        for family in families {
            invocation.arg(family);
        }
        let _: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(())
    }

    pub(super) async fn read_revoked(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let [revoked, revoking] = self.revoked_keys();
        let mut invocation = READ_REVOKED.prepare_invoke();
        invocation.key(revoked).key(revoking).arg(now);
        let (recorded, ending): (Vec<String>, Vec<String>) =
            invocation.invoke_async(&mut self.conn()).await?;
        let mut answer = scored(&recorded)?;
        let ending = scored(&ending)?;
        // A login being ended counts once its record is gone: then it ended (or expired), and the
        // instance ending it may have stopped before recording it. One still there is skipped:
        // its end is under way, or failed.
        let gone =
            futures_util::future::try_join_all(ending.iter().map(|(family, _)| async move {
                let exists: bool = self.conn().exists(self.family_key(family)).await?;
                Ok::<bool, StoreError>(!exists)
            }))
            .await?;
        answer.extend(
            ending
                .into_iter()
                .zip(gone)
                .filter_map(|(entry, gone)| gone.then_some(entry)),
        );
        Ok(answer)
    }
}

/// A sorted set's score as Redis writes it (`1700000000000`, or in exponent form).
fn score(text: &str) -> Result<u64, StoreError> {
    text.parse::<u64>()
        .ok()
        .or_else(|| {
            text.parse::<f64>()
                .ok()
                .filter(|score| score.is_finite() && *score >= 0.0)
                .map(|score| format!("{score:.0}").parse().unwrap_or(u64::MAX))
        })
        .ok_or_else(|| StoreError::Corrupt(format!("a revocation time reads {text:?}")))
}

/// Pairs of a flat `[member, score, …]` list.
fn scored(flat: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
    flat.chunks(2)
        .map(|pair| match pair {
            [member, until] => Ok((member.clone(), score(until)?)),
            _ => Err(StoreError::Corrupt("a revocation lacks its time".into())),
        })
        .collect()
}
