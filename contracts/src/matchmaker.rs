//! The `matchmaker` service's methods and events: players search with parameters and are matched
//! into game sessions with players of similar rating.
//!
//! Client-facing: `matchmaker.start`, `matchmaker.cancel`, `matchmaker.status`.
//! Service-to-service only: `matchmaker.holds`.

use crate::activity::{Holds as Held, HoldsQuery};
use crate::rpc::{Empty, declare_methods};
use serde::{Deserialize, Serialize};

pub const SERVICE: &str = "matchmaker";
pub const HOLDS: &str = "matchmaker.holds";

/// Event types published on `matchmaker.events`.
pub const MATCH_FOUND: &str = "match.found";
pub const EXPIRED: &str = "matchmaker.expired";
pub const CANCELLED: &str = "matchmaker.cancelled";

/// Longest region name; regions are 1–32 characters of `[a-z0-9-]`.
pub const MAX_REGION_CHARS: usize = 32;

/// `matchmaker.start`'s parameters.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    /// The game mode, e.g. `tic-tac-toe`.
    pub mode: String,
    /// Where the player wants to play: 1–32 characters of `[a-z0-9-]`.
    pub region: String,
    /// Players in a match, where the mode allows several counts; the mode's smallest otherwise.
    #[serde(default)]
    pub players_per_match: Option<u32>,
}

/// `matchmaker.start`'s result.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub ticket_id: String,
    /// When the ticket runs out unless matched first (Unix epoch milliseconds).
    pub expires_at: u64,
}

/// Where a search is.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SearchState {
    /// Waiting for players close enough in rating.
    #[default]
    Searching,
    /// Taken into a match whose game session is being made. If no session can be made, the
    /// search goes on as it was, its waiting time kept.
    Matching,
    /// The game session exists (`session_id`); `match.found` is on its way.
    Matched,
}

/// A ticket, as `matchmaker.status` shows it.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub ticket_id: String,
    pub user_id: String,
    pub mode: String,
    pub region: String,
    pub players_per_match: u32,
    /// The player's rating when they started searching (from their account).
    pub rating: f64,
    /// When the search started (Unix epoch milliseconds); waiting time counts from here.
    pub created_at: u64,
    pub expires_at: u64,
    /// The rating window now: how far from this rating a match may be.
    pub window: f64,
    /// Where the search is.
    #[serde(default)]
    pub state: SearchState,
    /// Once `matched`: the game session the match made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// `match.found`'s data.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchFound {
    pub session_id: String,
    /// Every matched player's user id, in seat order.
    pub players: Vec<String>,
    pub mode: String,
    pub region: String,
}

/// Why a search ended without a match, in `matchmaker.cancelled`.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The player asked (`matchmaker.cancel`).
    Cancelled,
    /// The player's last connection closed.
    Disconnected,
}

/// `matchmaker.cancelled`'s and `matchmaker.expired`'s data.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub ticket_id: String,
    /// For `matchmaker.cancelled`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<CancelReason>,
}

declare_methods! {
/// `matchmaker.start`: a ticket for the caller; `already_searching` if they have one.
pub struct Start;
impl Method for Start {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "matchmaker.start";
    const CLIENT: bool = true;
    type Params = Search;
    type Result = Started;
}

/// `matchmaker.cancel`: ends the caller's search (`matchmaker.cancelled`); `not_found` without
/// one, `in_session` (naming the session) once a match has made one, `unavailable` while a match
/// is still being made (the search then ends if that match fails).
pub struct Cancel;
impl Method for Cancel {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "matchmaker.cancel";
    const CLIENT: bool = true;
    type Params = Empty;
    type Result = Empty;
}

/// `matchmaker.status`: the caller's ticket, or `null`.
pub struct Status;
impl Method for Status {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "matchmaker.status";
    const CLIENT: bool = true;
    const REMEMBER_REPLY: bool = false;
    type Params = Empty;
    type Result = Option<Ticket>;
}

/// `matchmaker.holds` (service-to-service): is this ticket the user's, still waiting or being
/// matched?
pub struct HoldsMethod;
impl Method for HoldsMethod {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = HOLDS;
    const REMEMBER_REPLY: bool = false;
    type Params = HoldsQuery;
    type Result = Held;
}
}
