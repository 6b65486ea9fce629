//! Throttles: failed logins counted per name and address and per address, and requests per
//! address.

use super::scripts::{ADMIT_LOGIN, COUNT_REQUEST, SETTLE_LOGIN};
use super::{RedisStore, millis};
use crate::store::{Admission, LoginLimits, Settle, StoreError};
use std::time::Duration;
use warren_runtime::redis_client::tag;

impl RedisStore {
    pub(super) async fn admit_login_attempt(
        &self,
        username: &str,
        client: &str,
        limits: &LoginLimits,
    ) -> Result<Admission, StoreError> {
        let [pair, address] = self.login_keys(username, client);
        let mut invocation = ADMIT_LOGIN.prepare_invoke();
        invocation
            .key(pair)
            .key(address)
            .arg(limits.per_name_and_address)
            .arg(limits.per_address)
            .arg(millis(limits.window));
        let wait: u64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(admission(wait))
    }

    pub(super) async fn settle_login_attempt(
        &self,
        username: &str,
        client: &str,
        settle: Settle,
    ) -> Result<(), StoreError> {
        let [pair, address] = self.login_keys(username, client);
        let outcome = match settle {
            Settle::Succeeded => "succeeded",
            Settle::NotChecked => "not_checked",
        };
        let mut invocation = SETTLE_LOGIN.prepare_invoke();
        invocation.key(pair).key(address).arg(outcome);
        let _: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(())
    }

    pub(super) async fn count_client_request(
        &self,
        client: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Admission, StoreError> {
        let mut invocation = COUNT_REQUEST.prepare_invoke();
        invocation
            .key(format!(
                "{}requests_from:{}",
                self.prefix,
                tag("address", client)
            ))
            .arg(limit)
            .arg(millis(window));
        let wait: u64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(admission(wait))
    }
}

/// A script's answer: 0 to go on, otherwise the milliseconds to wait.
fn admission(wait_ms: u64) -> Admission {
    if wait_ms == 0 {
        Admission::Allowed
    } else {
        Admission::Refused {
            retry_after: Duration::from_millis(wait_ms),
        }
    }
}
