//! What the `sessions` handlers and the session owners share about the service: reading a session,
//! telling its players, and the one place where a store failure is logged and turned into the
//! error a caller sees. The instance itself, with its session tasks, is [`crate::owner::Instance`];
//! the RPC handlers are in [`crate::handlers`].

use crate::game::{Game, GameError};
use crate::owner::Instance;
use crate::store::{SessionRecord, StoreError};
use std::sync::Arc;
use warren_contracts::sessions::SERVICE;
use warren_contracts::{ErrorCode, Event, WireError};

impl Instance {
    pub(crate) fn game(&self, mode: &str) -> Result<Arc<dyn Game>, WireError> {
        self.games().get(mode).ok_or_else(|| {
            WireError::new(ErrorCode::InvalidParams, format!("no game mode {mode:?}"))
        })
    }

    pub(crate) async fn load(&self, session_id: &str) -> Result<SessionRecord, WireError> {
        self.store()
            .get(session_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| WireError::new(ErrorCode::NotFound, "no such session"))
    }

    /// Tells the session's players; a failed publish is logged, the change stands.
    pub(crate) async fn announce(&self, kind: &str, players: &[String], data: serde_json::Value) {
        let event = Event::new(kind, players.to_vec(), data);
        if let Err(error) = self.bus().publish(SERVICE, &event).await {
            tracing::error!(%error, kind, "could not publish a session event");
        }
    }
}

pub(crate) fn store_failure(error: StoreError) -> WireError {
    tracing::error!(%error, "session store failed");
    match error {
        StoreError::Unavailable(_) => WireError::new(
            ErrorCode::Unavailable,
            "sessions are unavailable; try again",
        ),
        StoreError::AlreadyExists | StoreError::Corrupt(_) => {
            WireError::new(ErrorCode::Internal, "internal error")
        }
    }
}

pub(crate) fn refused(error: GameError) -> WireError {
    WireError::new(error.code(), error.to_string())
}

/// A player who may act in the session: seated and not gone.
pub(crate) fn seated(record: &SessionRecord, user: &str) -> Result<(), WireError> {
    if !record.session.players.iter().any(|p| p == user) {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "you are not a player of this session",
        ));
    }
    if record.left.iter().any(|p| p == user) {
        return Err(WireError::new(
            ErrorCode::Forbidden,
            "you have left this session",
        ));
    }
    Ok(())
}
