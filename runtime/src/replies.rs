//! Remembered replies in Redis, shared by every instance of a service: `<prefix><key>` holds a
//! reply for `warren_bus::replies::REMEMBER_FOR`.

use crate::Redis;
use redis::AsyncCommands;
use warren_bus::replies::{REMEMBER_FOR, ReplyStore, ReplyStoreError};

pub struct RedisReplies {
    redis: Redis,
    prefix: String,
}

impl RedisReplies {
    pub fn new(redis: Redis, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
        }
    }
}

fn unavailable(error: redis::RedisError) -> ReplyStoreError {
    ReplyStoreError(error.to_string())
}

#[async_trait::async_trait]
impl ReplyStore for RedisReplies {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ReplyStoreError> {
        let mut redis = self.redis.clone();
        redis
            .get(format!("{}{key}", self.prefix))
            .await
            .map_err(unavailable)
    }

    async fn put(&self, key: &str, reply: &[u8]) -> Result<(), ReplyStoreError> {
        let mut redis = self.redis.clone();
        let ms = u64::try_from(REMEMBER_FOR.as_millis()).unwrap_or(u64::MAX);
        redis
            .pset_ex::<_, _, ()>(format!("{}{key}", self.prefix), reply, ms)
            .await
            .map_err(unavailable)
    }
}
