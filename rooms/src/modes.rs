//! The game modes a room may be created for, as the `sessions` service says (`sessions.modes`).
//!
//! Asked once a minute at most: modes change only when sessions is redeployed, and a room that
//! names a mode sessions cannot run would only fail later, when its players are ready.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use warren_bus::{Bus, CallOptions};
use warren_contracts::sessions::{GameMode, Modes};
use warren_contracts::{Empty, ErrorCode, WireError};

const FRESH_FOR: Duration = Duration::from_secs(60);
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Most players a room may seat, whatever its game allows.
pub const MAX_ROOM_SIZE: u32 = 16;

#[derive(Debug, Default)]
pub(crate) struct ModeCache {
    known: Mutex<Option<(Instant, Vec<GameMode>)>>,
}

impl ModeCache {
    /// Checks that `mode` exists and takes `players` players; the message says what would do.
    pub(crate) async fn check(&self, bus: &Bus, mode: &str, players: u32) -> Result<(), WireError> {
        let modes = self.modes(bus).await?;
        let Some(game) = modes.iter().find(|m| m.mode == mode) else {
            let names: Vec<&str> = modes.iter().map(|m| m.mode.as_str()).collect();
            return Err(WireError::new(
                ErrorCode::InvalidParams,
                format!("no game mode {mode:?}; there are {}", names.join(", ")),
            ));
        };
        let most = game.max_players.min(MAX_ROOM_SIZE);
        if players < game.min_players || players > most {
            return Err(WireError::new(
                ErrorCode::InvalidParams,
                format!(
                    "a {mode} room takes {} to {most} players, not {players}",
                    game.min_players
                ),
            ));
        }
        Ok(())
    }

    async fn modes(&self, bus: &Bus) -> Result<Vec<GameMode>, WireError> {
        let cached = self.cached();
        if let Some((at, modes)) = &cached
            && at.elapsed() < FRESH_FOR
        {
            return Ok(modes.clone());
        }
        let options = CallOptions::default().timeout(ASK_TIMEOUT);
        match bus.call::<Modes>(&Empty {}, options).await {
            Ok(modes) => {
                *self.lock() = Some((Instant::now(), modes.clone()));
                Ok(modes)
            }
            // Sessions away: what it said last is still the best guess.
            Err(error) => match cached {
                Some((_, modes)) => Ok(modes),
                None => {
                    tracing::warn!(%error, "cannot learn the game modes from sessions");
                    Err(WireError::new(
                        ErrorCode::Unavailable,
                        "game sessions are unavailable; try again",
                    ))
                }
            },
        }
    }

    fn cached(&self) -> Option<(Instant, Vec<GameMode>)> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Vec<GameMode>)>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
