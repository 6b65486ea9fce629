//! `events.resume {after_seq}`: the one method the gateway answers itself. The socket holds its
//! live events while the journal is read, answers with every kept event after `after_seq` that
//! it has not delivered, then lets the held live events follow, so the client sees no gap and no
//! duplicate. Events no longer kept give `resume_gap`: the client re-reads its state instead.

use super::jsonrpc;
use crate::hub::{CatchUpError, Conn};
use serde::Deserialize;
use serde_json::{Value, json};
use warren_bus::journal::JournalStore;
use warren_contracts::{ErrorCode, WireError};

pub const METHOD: &str = "events.resume";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    after_seq: u64,
}

/// Answers one `events.resume` request on `conn`.
pub async fn answer(
    journal: &dyn JournalStore,
    user_id: &str,
    conn: &Conn,
    id: Value,
    params: Value,
) {
    let after = match serde_json::from_value::<Params>(params) {
        Ok(params) => params.after_seq,
        Err(error) => {
            let error = WireError::new(
                ErrorCode::InvalidParams,
                format!("events.resume takes {{\"after_seq\": <a number ≥ 0>}}: {error}"),
            );
            conn.send(jsonrpc::application_error(&id, &error).into());
            return;
        }
    };
    conn.catch_up(journal, user_id, after, |found| {
        Some(match found {
            Ok(released) => {
                let last_seq = released.last.unwrap_or(after).max(after);
                jsonrpc::result_response(
                    &id,
                    &json!({ "events": released.fresh, "last_seq": last_seq }),
                )
            }
            Err(CatchUpError::Gap) => jsonrpc::application_error(
                &id,
                &WireError::new(
                    ErrorCode::ResumeGap,
                    format!(
                        "events after {after} are no longer kept: re-read your state \
                         (sessions.join, matchmaker.status, your room)"
                    ),
                ),
            ),
            Err(CatchUpError::Unavailable) => jsonrpc::application_error(
                &id,
                &WireError::new(ErrorCode::Unavailable, "the event journal is unavailable"),
            ),
        })
    })
    .await;
}
