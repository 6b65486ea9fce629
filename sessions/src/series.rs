//! The sessions service's metrics, named once here and declared when an instance starts: every
//! series exists from the first scrape on, at 0, so a dashboard panel has data before the first
//! game and `rate()` and `increase()` count the first session too.

use crate::game::Games;
use warren_contracts::sessions::RESULTS;

/// Sessions started by this instance, by game.
pub const STARTED: &str = "warren_sessions_started_total";
/// Sessions finished by this instance, by game.
pub const FINISHED: &str = "warren_sessions_finished_total";
/// Game commands applied.
pub const COMMANDS: &str = "warren_session_commands_total";
/// Sessions not finished, read from the store at each scrape (see [`crate::report_running`]).
pub const RUNNING: &str = "warren_sessions_running";

/// Declares what an instance running `games` records: its sessions by game (a session's game is
/// one of these: `sessions.create` refuses any other), its commands, and its events on the
/// results exchange. Those on `sessions.events` the bus declares when it serves the service.
pub(crate) fn declare(games: &Games) {
    metrics::counter!(COMMANDS).increment(0);
    for game in games.modes() {
        metrics::counter!(STARTED, "game" => game).increment(0);
        metrics::counter!(FINISHED, "game" => game).increment(0);
    }
    warren_bus::series::declare_published(RESULTS);
}
