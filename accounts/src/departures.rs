//! The end of a game frees its players: the results consumer ([`crate::results`]) hands this
//! module every `session.finished` (all its players) and `session.player_left` (that one player),
//! and the session's claim on them is released, so that they can join a room or a queue again.
//!
//! A release frees only users still in that very session, so a redelivered or late event cannot
//! free a player who has moved on since. Errors follow the consumer's rule: a store that cannot
//! serve now is `Err` (the event comes again), anything else is logged and the event passed over.

use crate::store::{AccountStore, StoreError};
use warren_contracts::Event;
use warren_contracts::activity::{Activity, ActivityKind};
use warren_contracts::sessions::{Finished, PlayerLeft};

/// Frees the players of a finished game.
pub(crate) async fn finished(
    store: &dyn AccountStore,
    finished: &Finished,
) -> Result<(), StoreError> {
    release(store, &finished.session_id, &finished.players).await
}

/// Frees the player a `session.player_left` names.
pub(crate) async fn player_left(store: &dyn AccountStore, event: &Event) -> Result<(), StoreError> {
    match serde_json::from_value::<PlayerLeft>(event.data.clone()) {
        Ok(left) => release(store, &left.session_id, &[left.user_id]).await,
        Err(error) => {
            tracing::error!(event_id = %event.id, %error, "unreadable session.player_left dropped");
            Ok(())
        }
    }
}

#[tracing::instrument(name = "accounts.release_session", skip_all, fields(session_id = %session_id))]
async fn release(
    store: &dyn AccountStore,
    session_id: &str,
    players: &[String],
) -> Result<(), StoreError> {
    let session = Activity::new(ActivityKind::Session, session_id);
    match store.release(players, &session).await {
        Ok(released) => {
            tracing::debug!(released, players = players.len(), "session claims released");
            Ok(())
        }
        Err(StoreError::Unavailable(error)) => {
            tracing::warn!(%error, "account store unavailable; the release comes again");
            Err(StoreError::Unavailable(error))
        }
        Err(error) => {
            tracing::error!(%error, "session claims cannot be released; left to go stale");
            Ok(())
        }
    }
}
