//! The `rooms` service's methods and events: public rooms anyone can find.
//!
//! Client-facing: `rooms.create`, `rooms.list` (also `GET /v1/rooms`), `rooms.join`,
//! `rooms.leave`, `rooms.ready`. Service-to-service only: `rooms.holds`.

use crate::activity::{Holds as Held, HoldsQuery};
use crate::rpc::{Empty, declare_methods};
use serde::{Deserialize, Serialize};

pub const SERVICE: &str = "rooms";
pub const HOLDS: &str = "rooms.holds";

/// Event types published on `rooms.events` (and, for private rooms, `private_rooms.events`).
pub const UPDATED: &str = "room.updated";
pub const CLOSED: &str = "room.closed";

/// Fewest seats a room (public or private) may have: a room for one would be full, and
/// pointless, the moment it is made.
pub const MIN_PLAYERS: u32 = 2;
/// Most seats a room (public or private) may have, whatever its game allows.
pub const MAX_PLAYERS: u32 = 16;

/// Most rooms `rooms.list` returns.
pub const MAX_LIST: usize = 100;
/// Longest room name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// One seat taken.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPlayer {
    pub user_id: String,
    pub ready: bool,
}

/// Where a room is in its life. A room that started its game or closed is gone: it is no longer
/// listed and cannot be joined; `room.closed` says which.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    /// Taking players.
    Open,
    /// Full, everyone ready: its game session is being created.
    Starting,
}

/// A public room, as `rooms.create` returns it and `room.updated` carries it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub room_id: String,
    /// The game mode its session will run.
    pub mode: String,
    pub max_players: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The owner's user id: the creator, then the longest-seated player.
    pub owner: String,
    /// In the order they joined.
    pub players: Vec<RoomPlayer>,
    /// `max_players` less the seats taken.
    pub free_seats: u32,
    pub status: RoomStatus,
    /// Grows by one with every change: of two `room.updated`, keep the higher.
    pub version: u64,
    /// Unix epoch milliseconds.
    pub created_at: u64,
}

impl Room {
    pub fn has_player(&self, user_id: &str) -> bool {
        self.players.iter().any(|p| p.user_id == user_id)
    }

    pub fn player_ids(&self) -> Vec<String> {
        self.players.iter().map(|p| p.user_id.clone()).collect()
    }
}

/// Why a room ended, in `room.closed`.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Its game session started (`session_id` says which).
    Started,
    /// Its owner closed it.
    Closed,
    /// Nobody joined it for its time to live.
    Expired,
}

/// `room.closed`'s data.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomClosed {
    pub room_id: String,
    pub reason: CloseReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRoom {
    pub mode: String,
    pub max_players: u32,
    #[serde(default)]
    pub name: Option<String>,
}

#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[derive(schemars::JsonSchema, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRooms {
    /// Only rooms of this game mode.
    #[serde(default)]
    pub mode: Option<String>,
    /// At most this many (default and most: 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomId {
    pub room_id: String,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetReady {
    pub room_id: String,
    pub ready: bool,
}

declare_methods! {
/// `rooms.create`: a new room, the caller its owner and first player.
pub struct Create;
impl Method for Create {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "rooms.create";
    const CLIENT: bool = true;
    type Params = NewRoom;
    type Result = Room;
}

/// `rooms.list`: open rooms with a free seat, newest first.
pub struct List;
impl Method for List {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "rooms.list";
    const CLIENT: bool = true;
    const REMEMBER_REPLY: bool = false;
    type Params = ListRooms;
    type Result = Vec<Room>;
}

/// `rooms.join`: a seat in the room.
pub struct Join;
impl Method for Join {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "rooms.join";
    const CLIENT: bool = true;
    type Params = RoomId;
    type Result = Room;
}

/// `rooms.leave`: gives the seat up.
pub struct Leave;
impl Method for Leave {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "rooms.leave";
    const CLIENT: bool = true;
    type Params = RoomId;
    type Result = Empty;
}

/// `rooms.ready`: says whether the caller is ready; a full room whose players are all ready
/// starts its session.
pub struct Ready;
impl Method for Ready {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "rooms.ready";
    const CLIENT: bool = true;
    type Params = SetReady;
    type Result = Room;
}

/// `rooms.holds` (service-to-service): is the user seated in this room?
pub struct HoldsMethod;
impl Method for HoldsMethod {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = HOLDS;
    const REMEMBER_REPLY: bool = false;
    type Params = HoldsQuery;
    type Result = Held;
}
}
