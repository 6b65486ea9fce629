//! Presence in Redis: who is online on which gateway, which sessions a user plays, and the grace
//! deadlines.

use super::super::{Away, PresenceStore, StoreError};
use super::{RedisStore, TTL_SECONDS, unavailable};
use warren_runtime::presence;

fn away_member(away: &Away) -> String {
    format!("{}|{}", away.session_id, away.user_id)
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
        let key = format!("{}presence:{user_id}", self.prefix);
        presence::set_in_redis(&self.set_presence, &self.redis, key, gateway_id, online, at)
            .await
            .map_err(unavailable)
    }

    async fn is_online(&self, user_id: &str) -> Result<bool, StoreError> {
        let key = format!("{}presence:{user_id}", self.prefix);
        presence::online_in_redis(&self.redis, key)
            .await
            .map_err(unavailable)
    }

    async fn add_user_session(&self, user_id: &str, session_id: &str) -> Result<(), StoreError> {
        let key = format!("{}user_sessions:{user_id}", self.prefix);
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
            .arg(format!("{}user_sessions:{user_id}", self.prefix))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn schedule_away(&self, away: &Away, deadline: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("ZADD")
            .arg(format!("{}away", self.prefix))
            .arg(deadline)
            .arg(away_member(away))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn cancel_away(&self, away: &Away) -> Result<(), StoreError> {
        let _: () = redis::cmd("ZREM")
            .arg(format!("{}away", self.prefix))
            .arg(away_member(away))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_due(&self, now: u64) -> Result<Vec<Away>, StoreError> {
        let due: Vec<String> = self
            .take_due
            .key(format!("{}away", self.prefix))
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
