//! The `private_rooms` service's methods and events: rooms reached only by invite or code.
//!
//! Client-facing: `private_rooms.create`, `.invite`, `.join`, `.leave`, `.close`.
//! Service-to-service only: `private_rooms.holds`. A private room sends `room.updated` and
//! `room.closed` like a public one (on `private_rooms.events`), and `private_room.invited` to
//! whoever its owner invites.

use crate::activity::{Holds as Held, HoldsQuery};
use crate::rooms::{RoomId, RoomPlayer};
use crate::rpc::{Empty, declare_methods};
use serde::{Deserialize, Serialize};

pub const SERVICE: &str = "private_rooms";
pub const HOLDS: &str = "private_rooms.holds";

pub const INVITED: &str = "private_room.invited";

/// A private room. Everyone in it counts as ready: it starts its session once full.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateRoom {
    pub room_id: String,
    pub mode: String,
    pub max_players: u32,
    pub owner: String,
    /// In the order they joined; `ready` is always true.
    pub players: Vec<RoomPlayer>,
    pub free_seats: u32,
    /// The invite code, upper case, e.g. `K7PMR-4XQ2H`.
    pub code: String,
    /// Grows by one with every change: of two `room.updated`, keep the higher.
    pub version: u64,
    pub created_at: u64,
    /// When the room closes unless someone joins first (Unix epoch milliseconds).
    pub expires_at: u64,
}

impl PrivateRoom {
    pub fn has_player(&self, user_id: &str) -> bool {
        self.players.iter().any(|p| p.user_id == user_id)
    }

    pub fn player_ids(&self) -> Vec<String> {
        self.players.iter().map(|p| p.user_id.clone()).collect()
    }
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPrivateRoom {
    pub mode: String,
    pub max_players: u32,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub room_id: String,
    pub user_id: String,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    pub code: String,
}

/// `private_room.invited`'s data.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    pub room_id: String,
    pub code: String,
    /// Who invited: the owner's user id.
    pub from: String,
    pub mode: String,
    pub max_players: u32,
}

declare_methods! {
/// `private_rooms.create`: a new private room with its invite code; the caller owns it.
pub struct Create;
impl Method for Create {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "private_rooms.create";
    const CLIENT: bool = true;
    type Params = NewPrivateRoom;
    type Result = PrivateRoom;
}

/// `private_rooms.invite`: the owner sends a user `private_room.invited`.
pub struct SendInvite;
impl Method for SendInvite {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "private_rooms.invite";
    const CLIENT: bool = true;
    type Params = Invite;
    type Result = Empty;
}

/// `private_rooms.join`: a seat in the room with this code.
pub struct Join;
impl Method for Join {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "private_rooms.join";
    const CLIENT: bool = true;
    type Params = Code;
    type Result = PrivateRoom;
}

/// `private_rooms.leave`: gives the seat up.
pub struct Leave;
impl Method for Leave {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "private_rooms.leave";
    const CLIENT: bool = true;
    type Params = RoomId;
    type Result = Empty;
}

/// `private_rooms.close`: the owner ends the room; its code stops working.
pub struct Close;
impl Method for Close {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "private_rooms.close";
    const CLIENT: bool = true;
    type Params = RoomId;
    type Result = Empty;
}

/// `private_rooms.holds` (service-to-service): is the user seated in this room?
pub struct HoldsMethod;
impl Method for HoldsMethod {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = HOLDS;
    const REMEMBER_REPLY: bool = false;
    type Params = HoldsQuery;
    type Result = Held;
}
}
