//! Pools: the pool index (which pools have waiting tickets), a pool's waiting tickets, and the
//! lease of the instance working a pool.

use super::{POOL_IDLE_MS, RedisStore, tidy};
use crate::pool::Waiting;
use crate::store::{StoreError, parse_entry};
use futures_util::FutureExt;
use futures_util::future::try_join_all;
use std::collections::HashMap;
use std::time::Duration;
use warren_contracts::event::now_millis;

impl RedisStore {
    /// The pool in the pool index, now: before a ticket joins it.
    pub(super) async fn joining(&self, pool: &str) -> Result<(), StoreError> {
        self.query::<redis::Value>(
            redis::cmd("ZADD")
                .arg(self.keys.pool_index())
                .arg(now_millis())
                .arg(pool),
        )
        .await
        .map(|_| ())
    }

    /// The pools in the index with how many tickets wait in each; empty ones idle for long are
    /// dropped from it (only if no ticket joined meanwhile: a join raises the score first).
    pub(super) async fn pool_lengths(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let index: Vec<(String, f64)> = self
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.keys.pool_index())
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES"),
            )
            .await?;
        let lengths: Vec<u64> = try_join_all(index.iter().map(|(pool, _)| async move {
            self.query(redis::cmd("HLEN").arg(self.keys.pool(pool)))
                .await
        }))
        .await?;
        #[allow(clippy::cast_precision_loss)]
        let idle_since = now_millis().saturating_sub(POOL_IDLE_MS) as f64;
        let mut lengths_by_pool = Vec::new();
        let mut idle = Vec::new();
        for ((pool, joined), length) in index.into_iter().zip(lengths) {
            if length > 0 {
                lengths_by_pool.push((pool, length));
            } else if joined < idle_since {
                idle.push(
                    async move {
                        let mut drop = self.drop_idle_pool.prepare_invoke();
                        drop.key(self.keys.pool_index()).arg(&pool).arg(joined);
                        self.run::<redis::Value>(&drop).await.map(|_| ())
                    }
                    .boxed(),
                );
            }
        }
        tidy(idle).await;
        Ok(lengths_by_pool)
    }

    pub(super) async fn waiting_in(&self, pool: &str) -> Result<Vec<Waiting>, StoreError> {
        let entries: HashMap<String, String> = self
            .query(redis::cmd("HGETALL").arg(self.keys.pool(pool)))
            .await?;
        entries
            .iter()
            .map(|(id, entry)| parse_entry(id, entry))
            .collect()
    }

    pub(super) async fn take_lease(
        &self,
        pool: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.keys.lease(pool))
                    .arg(holder)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await?;
        Ok(set.is_some())
    }

    pub(super) async fn give_up_lease(&self, pool: &str, holder: &str) -> Result<(), StoreError> {
        let mut invocation = self.release_lease.prepare_invoke();
        invocation.key(self.keys.lease(pool)).arg(holder);
        let _: i64 = self.run(&invocation).await?;
        Ok(())
    }
}
