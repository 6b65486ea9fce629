//! What the soak's Redis says was made: every game session, with its players, read straight from
//! the sessions store, so the checks can hold what players were told against what exists.

use anyhow::Context;
use std::collections::BTreeMap;

/// Session id → its players, for every session the sessions store holds under `namespace`.
pub async fn sessions(
    redis_url: &str,
    namespace: &str,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let client = redis::Client::open(redis_url).context("the soak's Redis URL")?;
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .context("connecting to the soak's Redis")?;
    let prefix = format!("{namespace}{}session:", warren_sessions::REDIS_PREFIX);
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
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
