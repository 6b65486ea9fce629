//! Where a user is: in a public room, a private room, a matchmaking queue or a game session, and
//! never in two of them at once.
//!
//! The `accounts` service keeps each user's current [`Activity`] and changes it atomically, so the
//! rule holds across services and instances. A service claims the user before it seats them
//! (`accounts.claim`), hands the claim over when the user moves on (a room's players to the
//! session it started: `accounts.hand_over`), and releases it when the user leaves
//! (`accounts.release`).
//!
//! A claim can outlive what it names: an instance may die between seating a user and recording it,
//! or a release may be lost. So a claim is never trusted blindly: when it stands in the way, its
//! owner is asked whether it still holds the user (`<owner>.holds`), and a stale claim is replaced.

use crate::error::{ErrorCode, WireError};
use crate::rpc::{Empty, declare_methods};
use serde::{Deserialize, Serialize};

/// What kind of place holds a user.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Room,
    PrivateRoom,
    Ticket,
    Session,
}

impl ActivityKind {
    /// The service that owns activities of this kind and answers `<service>.holds` for them.
    pub fn owner(self) -> &'static str {
        match self {
            ActivityKind::Room => crate::rooms::SERVICE,
            ActivityKind::PrivateRoom => crate::private_rooms::SERVICE,
            ActivityKind::Ticket => crate::matchmaker::SERVICE,
            ActivityKind::Session => crate::sessions::SERVICE,
        }
    }

    /// The owner's `holds` method name.
    pub fn holds_method(self) -> &'static str {
        match self {
            ActivityKind::Room => crate::rooms::HOLDS,
            ActivityKind::PrivateRoom => crate::private_rooms::HOLDS,
            ActivityKind::Ticket => crate::matchmaker::HOLDS,
            ActivityKind::Session => crate::sessions::HOLDS,
        }
    }
}

/// One place a user is in: its kind and its id (room, ticket or session id).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Activity {
    pub kind: ActivityKind,
    pub id: String,
}

impl Activity {
    pub fn new(kind: ActivityKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }

    /// The error a user gets when this activity keeps them from another one.
    pub fn conflict(&self) -> WireError {
        match self.kind {
            ActivityKind::Room | ActivityKind::PrivateRoom => WireError::new(
                ErrorCode::AlreadyInRoom,
                format!("you are in room {}; leave it first", self.id),
            ),
            ActivityKind::Ticket => WireError::new(
                ErrorCode::AlreadySearching,
                "you are searching for a match; cancel it first",
            ),
            ActivityKind::Session => WireError::new(
                ErrorCode::InSession,
                format!("you are playing in session {}; leave it first", self.id),
            ),
        }
    }
}

/// `accounts.claim`'s parameters.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub user_id: String,
    pub activity: Activity,
    /// A claim the caller found stale and may replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Activity>,
}

/// `accounts.claim`'s result.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimed {
    /// Whether the user now belongs to the claimed activity.
    pub claimed: bool,
    /// When not claimed: the activity that holds the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Activity>,
}

/// `accounts.hand_over`'s parameters: each of `user_ids` still claimed by `from` (or by nothing)
/// now belongs to `to`.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOver {
    pub user_ids: Vec<String>,
    pub from: Activity,
    pub to: Activity,
}

/// `accounts.release`'s parameters: each of `user_ids` still claimed by `activity` is free.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub user_ids: Vec<String>,
    pub activity: Activity,
}

/// `<owner>.holds`'s parameters: does activity `id` still hold `user_id`?
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldsQuery {
    pub id: String,
    pub user_id: String,
}

/// `<owner>.holds`'s result.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holds {
    pub held: bool,
}

declare_methods! {
/// `accounts.claim` (service-to-service): the user now belongs to `activity` if nothing else
/// holds them (or only `replaces`, or an activity whose owner says it no longer holds them).
/// Claiming the activity the user is already in succeeds.
pub struct ClaimMethod;
impl Method for ClaimMethod {
    const SERVICE: &'static str = crate::accounts::SERVICE;
    const NAME: &'static str = "accounts.claim";
    type Params = Claim;
    type Result = Claimed;
}

/// `accounts.hand_over` (service-to-service).
pub struct HandOverMethod;
impl Method for HandOverMethod {
    const SERVICE: &'static str = crate::accounts::SERVICE;
    const NAME: &'static str = "accounts.hand_over";
    type Params = HandOver;
    type Result = Empty;
}

/// `accounts.release` (service-to-service).
pub struct ReleaseMethod;
impl Method for ReleaseMethod {
    const SERVICE: &'static str = crate::accounts::SERVICE;
    const NAME: &'static str = "accounts.release";
    type Params = Release;
    type Result = Empty;
}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_activity_is_a_kind_and_an_id_on_the_wire() {
        let activity = Activity::new(ActivityKind::PrivateRoom, "r1");
        assert_eq!(
            serde_json::to_value(&activity).unwrap(),
            json!({"kind": "private_room", "id": "r1"})
        );
    }

    #[test]
    fn each_kind_has_its_own_conflict_code() {
        let code = |kind| Activity::new(kind, "x").conflict().code;
        assert_eq!(code(ActivityKind::Room), ErrorCode::AlreadyInRoom);
        assert_eq!(code(ActivityKind::PrivateRoom), ErrorCode::AlreadyInRoom);
        assert_eq!(code(ActivityKind::Ticket), ErrorCode::AlreadySearching);
        assert_eq!(code(ActivityKind::Session), ErrorCode::InSession);
    }
}
