//! Tickets and matches read back from the fields of their hashes, as reads and scripts return
//! them.

use super::corrupt;
use crate::store::{MatchRecord, StoreError, TicketRecord, TicketStatus};

/// What a script returns of a ticket: record, status, match, session, leaving.
const TICKET_PARTS: usize = 5;

/// A ticket from its stored parts: record, status, match, session, leaving.
pub(super) fn record(parts: &[String]) -> Result<TicketRecord, StoreError> {
    let [json, status, match_id, session, leaving] = parts else {
        return Err(corrupt("a ticket came back in pieces"));
    };
    let mut record: TicketRecord = serde_json::from_str(json).map_err(corrupt)?;
    record.status =
        TicketStatus::parse(status).ok_or_else(|| corrupt(format!("status {status:?}")))?;
    record.match_id = present(match_id);
    record.session_id = present(session);
    record.leaving = match leaving.as_str() {
        "" => None,
        reason => Some(
            serde_json::from_value(serde_json::Value::String(reason.to_owned()))
                .map_err(corrupt)?,
        ),
    };
    Ok(record)
}

/// The tickets a script returned.
pub(super) fn records(flat: &[String]) -> Result<Vec<TicketRecord>, StoreError> {
    flat.chunks(TICKET_PARTS).map(record).collect()
}

/// A match from its stored parts: record, session, handed, announced, due, done.
pub(super) fn match_record(parts: &[String]) -> Result<MatchRecord, StoreError> {
    let [json, session, handed, announced, due, done] = parts else {
        return Err(corrupt("a match came back in pieces"));
    };
    let mut record: MatchRecord = serde_json::from_str(json).map_err(corrupt)?;
    record.session_id = present(session);
    record.handed_over = handed == "1";
    record.announced = announced == "1";
    record.due = if due.is_empty() {
        0
    } else {
        due.parse().map_err(corrupt)?
    };
    record.done = done == "1";
    Ok(record)
}

fn present(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}
