//! Presence in Redis: who is online on which gateway, which sessions a user plays (a user's keys
//! share the tag `{user:<id>}`), and the grace deadlines (`away`, a schedule in a slot of its
//! own). Every command here touches one key.

use super::super::{Away, PresenceStore, StoreError};
use super::{RedisStore, TTL_SECONDS, unavailable};
use warren_runtime::presence;
use warren_runtime::redis_client::tag;

fn away_member(away: &Away) -> String {
    format!("{}|{}", away.session_id, away.user_id)
}

impl RedisStore {
    fn presence_key(&self, user_id: &str) -> String {
        format!("{}presence:{}", self.prefix, tag("user", user_id))
    }

    fn user_sessions_key(&self, user_id: &str) -> String {
        format!("{}user_sessions:{}", self.prefix, tag("user", user_id))
    }

    fn away_key(&self) -> String {
        format!("{}away", self.prefix)
    }
}

#[async_trait::async_trait]
impl PresenceStore for RedisStore {
    async fn set_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        let key = self.presence_key(user_id);
        presence::set_in_redis(&self.set_presence, &self.redis, key, gateway_id, online, at)
            .await
            .map_err(unavailable)
    }

    async fn is_online(&self, user_id: &str) -> Result<bool, StoreError> {
        presence::online_in_redis(&self.redis, self.presence_key(user_id))
            .await
            .map_err(unavailable)
    }

    async fn add_user_session(&self, user_id: &str, session_id: &str) -> Result<(), StoreError> {
        let key = self.user_sessions_key(user_id);
        // One key: a transaction a cluster takes.
        let _: () = redis::pipe()
            .atomic()
            .cmd("SADD")
            .arg(&key)
            .arg(session_id)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(TTL_SECONDS)
            .ignore()
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        redis::cmd("SMEMBERS")
            .arg(self.user_sessions_key(user_id))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn schedule_away(&self, away: &Away, deadline: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("ZADD")
            .arg(self.away_key())
            .arg(deadline)
            .arg(away_member(away))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn cancel_away(&self, away: &Away) -> Result<(), StoreError> {
        let _: () = redis::cmd("ZREM")
            .arg(self.away_key())
            .arg(away_member(away))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_due(&self, now: u64) -> Result<Vec<Away>, StoreError> {
        let due: Vec<String> = self
            .take_due
            .key(self.away_key())
            .arg(now)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(due
            .into_iter()
            .filter_map(|member| {
                let (session_id, user_id) = member.split_once('|')?;
                Some(Away {
                    session_id: session_id.to_owned(),
                    user_id: user_id.to_owned(),
                })
            })
            .collect())
    }
}
