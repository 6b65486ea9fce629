//! Logins (token families): starting one, and rotating its refresh token, where a reused token
//! ends the login.

use super::scripts::{CREATE_FAMILY, EXTEND_INDEXED, INDEX_FAMILY, ROTATE, SET_POINTER};
use super::{RedisStore, millis};
use crate::store::{Rotation, StoreError};
use std::time::Duration;
use warren_contracts::event::now_millis;

/// A login a token names: its pointer's content.
pub(super) struct Named {
    pub(super) family: String,
    pub(super) user_id: String,
}

impl RedisStore {
    pub(super) async fn open_family(
        &self,
        family: &str,
        user_id: &str,
        digest: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let create = async {
            let mut invocation = CREATE_FAMILY.prepare_invoke();
            invocation
                .key(self.family_key(family))
                .key(self.state_key(family, digest))
                .arg(user_id)
                .arg(millis(ttl));
            let _: i64 = invocation.invoke_async(&mut self.conn()).await?;
            Ok::<_, StoreError>(())
        };
        tokio::try_join!(self.set_pointer(digest, family, user_id, ttl), create)?;
        // The login counts from here: indexed under its user, who still exists. Until now nobody
        // holds its token, and a login that is not indexed does not rotate.
        let mut invocation = INDEX_FAMILY.prepare_invoke();
        invocation
            .key(self.user_id_key(user_id))
            .key(self.user_families_key(user_id))
            .arg(family)
            .arg(millis(ttl))
            .arg(now_millis());
        let indexed: i64 = invocation.invoke_async(&mut self.conn()).await?;
        if indexed == 1 {
            return Ok(true);
        }
        self.tidy(vec![
            self.family_key(family),
            self.state_key(family, digest),
            self.pointer_key(digest),
        ])
        .await;
        Ok(false)
    }

    pub(super) async fn rotate(
        &self,
        spent: &str,
        next: &str,
        ttl: Duration,
    ) -> Result<Rotation, StoreError> {
        let Some(Named { family, user_id }) = self.follow(spent).await? else {
            return Ok(Rotation::Unknown);
        };
        // Before the login may live longer, its index entry does (a login not indexed is not
        // going: it answers unknown); and the next token's pointer exists before the token.
        let extend = async {
            let mut invocation = EXTEND_INDEXED.prepare_invoke();
            invocation
                .key(self.user_families_key(&user_id))
                .arg(&family)
                .arg(millis(ttl))
                .arg(now_millis());
            let indexed: i64 = invocation.invoke_async(&mut self.conn()).await?;
            Ok::<_, StoreError>(indexed == 1)
        };
        let (indexed, ()) =
            tokio::try_join!(extend, self.set_pointer(next, &family, &user_id, ttl))?;
        let next_pointer = self.pointer_key(next);
        if !indexed {
            self.tidy(vec![next_pointer]).await;
            return Ok(Rotation::Unknown);
        }
        let mut end_on_reuse = false;
        let outcome = loop {
            let mut invocation = ROTATE.prepare_invoke();
            invocation
                .key(self.family_key(&family))
                .key(self.state_key(&family, spent))
                .key(self.state_key(&family, next))
                .arg(&user_id)
                .arg(millis(ttl))
                .arg(if end_on_reuse { "1" } else { "0" });
            let (word, left): (String, i64) = invocation.invoke_async(&mut self.conn()).await?;
            let (user_id, family) = (user_id.clone(), family.clone());
            match word.as_str() {
                "rotated" => return Ok(Rotation::Rotated { user_id, family }),
                "reused" => break Rotation::Reused { user_id, family },
                "unknown" => break Rotation::Unknown,
                "spent" if !end_on_reuse => {
                    // A reuse: list the login as being ended, then end it (if still going).
                    let left = u64::try_from(left).unwrap_or_default();
                    self.mark_ending(&[(family, left)]).await?;
                    end_on_reuse = true;
                }
                other => {
                    return Err(StoreError::Corrupt(format!("rotation answered {other:?}")));
                }
            }
        };
        if matches!(outcome, Rotation::Reused { .. }) {
            self.unindex(&user_id, std::slice::from_ref(&family)).await;
        }
        self.tidy(vec![next_pointer]).await;
        Ok(outcome)
    }

    /// The login a token's pointer names, if it has one.
    pub(super) async fn follow(&self, digest: &str) -> Result<Option<Named>, StoreError> {
        let (family, user_id): (Option<String>, Option<String>) = ::redis::cmd("HMGET")
            .arg(self.pointer_key(digest))
            .arg("family")
            .arg("user")
            .query_async(&mut self.conn())
            .await?;
        Ok(family
            .zip(user_id)
            .map(|(family, user_id)| Named { family, user_id }))
    }

    async fn set_pointer(
        &self,
        digest: &str,
        family: &str,
        user_id: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut invocation = SET_POINTER.prepare_invoke();
        invocation
            .key(self.pointer_key(digest))
            .arg(family)
            .arg(user_id)
            .arg(millis(ttl));
        let _: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(())
    }
}
