//! The `accounts` service's methods.
//!
//! Client-facing: `accounts.me`, `accounts.get` (WebSocket and HTTP), `accounts.update` and
//! `accounts.delete` (HTTP `PATCH`/`DELETE /v1/accounts/me`). Service-to-service only:
//! `accounts.create` (auth calls it at registration), `accounts.record_result` (sessions calls it
//! when a game ends).

use crate::rpc::{Empty, declare_methods};
use serde::{Deserialize, Serialize};

pub const SERVICE: &str = "accounts";

/// The event each player of a finished game gets, on `accounts.events`.
pub const RATING_CHANGED: &str = "rating.changed";

/// A new account's rating.
pub const INITIAL_RATING: f64 = 1000.0;

/// `rating.changed`'s data: a player's rating after a finished game (a draw too).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingChanged {
    pub session_id: String,
    /// The rating after the game.
    pub rating: f64,
    /// What the game changed it by (Elo, K = 32).
    pub delta: f64,
}

/// An account. Nothing in it is private, so the public view is the same shape.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub rating: f64,
    pub games_played: u64,
    pub games_won: u64,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    pub user_id: String,
    pub username: String,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserId {
    pub user_id: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountUpdate {
    /// 1–32 characters.
    pub display_name: String,
}

declare_methods! {
/// `accounts.create` (service-to-service): the account of a newly registered user, rating 1000,
/// display name = username. `already_exists` if there is one.
pub struct Create;
impl Method for Create {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "accounts.create";
    type Params = NewAccount;
    type Result = Account;
}

/// `accounts.me`: the caller's account (`unauthorized` without a caller).
pub struct Me;
impl Method for Me {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "accounts.me";
    const CLIENT: bool = true;
    const REMEMBER_REPLY: bool = false;
    type Params = Empty;
    type Result = Account;
}

/// `accounts.get`: anyone's public view by id; `not_found` if there is none.
pub struct Get;
impl Method for Get {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "accounts.get";
    const CLIENT: bool = true;
    const REMEMBER_REPLY: bool = false;
    type Params = UserId;
    type Result = Account;
}

/// `accounts.update`: renames the caller; `invalid_params` for a display name out of bounds.
pub struct Update;
impl Method for Update {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "accounts.update";
    type Params = AccountUpdate;
    type Result = Account;
}

/// `accounts.delete`: deletes the caller's account and makes their credentials unusable.
pub struct Delete;
impl Method for Delete {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "accounts.delete";
    type Params = Empty;
    type Result = Empty;
}

/// `accounts.record_result` (service-to-service): applies a finished game to its players'
/// ratings now, so that `rating.changed` reaches them before the move or leave that ended the
/// game is answered. Idempotent by session id; the `accounts.results` queue applies every result
/// anyway, so a caller that gets no answer need not retry.
pub struct RecordResult;
impl Method for RecordResult {
    const SERVICE: &'static str = SERVICE;
    const NAME: &'static str = "accounts.record_result";
    type Params = crate::sessions::Finished;
    type Result = Empty;
}
}
