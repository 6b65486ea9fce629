//! What the soak's Redis says was made: every game session, with its players, read straight from
//! the sessions store, so the checks can hold what players were told against what exists.

use anyhow::Context;
use std::collections::BTreeMap;

/// Session id → its players, for every session the sessions store holds under `namespace` (on a
/// Redis Cluster, from each master).
pub async fn sessions(
    redis_url: &str,
    namespace: &str,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut redis = warren_runtime::redis_client::open(redis_url)
        .await
        .context("connecting to the soak's Redis")?;
    let prefix = format!("{namespace}{}session:", warren_sessions::REDIS_PREFIX);
    let keys = warren_testkit::redis::keys_under(&redis, &prefix).await;
    let mut sessions = BTreeMap::new();
    for key in keys {
        let record: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg("record")
            .query_async(&mut redis)
            .await?;
        let Some(record) = record else { continue };
        let record: serde_json::Value =
            serde_json::from_str(&record).with_context(|| format!("the session at {key}"))?;
        let session = &record["session"];
        let id = session["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let players = session["players"]
            .as_array()
            .map(|players| {
                players
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        sessions.insert(id, players);
    }
    Ok(sessions)
}

/// Deletes every key under `namespace`: the soak's state in a Redis it shares (the cluster's).
pub async fn forget(redis_url: &str, namespace: &str) -> anyhow::Result<()> {
    let redis = warren_runtime::redis_client::open(redis_url)
        .await
        .context("connecting to the soak's Redis")?;
    let keys = warren_testkit::redis::keys_under(&redis, namespace).await;
    warren_testkit::redis::delete_keys(&redis, &keys).await;
    Ok(())
}
