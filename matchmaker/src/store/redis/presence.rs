//! Presence: each gateway's newest statement of whether a user is online.

use super::{RedisStore, unavailable};
use crate::store::StoreError;

impl RedisStore {
    pub(super) async fn record_presence(
        &self,
        user_id: &str,
        gateway_id: &str,
        online: bool,
        at: u64,
    ) -> Result<bool, StoreError> {
        warren_runtime::presence::set_in_redis(
            &self.set_presence,
            &self.redis,
            self.keys.presence(user_id),
            gateway_id,
            online,
            at,
        )
        .await
        .map_err(unavailable)
    }
}
