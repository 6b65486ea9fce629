//! One async fn per account method (`accounts.create`, `me`, `get`, `update`, `delete`): check the
//! caller and the parameters, ask the store, and turn what went wrong into a wire error. The
//! activity methods live in [`crate::activity`] and share [`Service`] and [`store_failure`], the
//! one place store errors become wire errors, and the one place their internal detail is logged.

use crate::store::{AccountStore, StoreError};
use crate::validate;
use std::sync::Arc;
use warren_bus::{Bus, RequestContext};
use warren_contracts::accounts::{Account, AccountUpdate, INITIAL_RATING, NewAccount, UserId};
use warren_contracts::auth::{RevokeUser, RevokeUserMethod};
use warren_contracts::{Empty, ErrorCode, WireError};

/// What every handler shares: the bus for calls to other services, and the store.
pub(crate) struct Service {
    pub(crate) bus: Bus,
    pub(crate) store: Arc<dyn AccountStore>,
}

impl Service {
    pub(crate) fn new(bus: Bus, store: Arc<dyn AccountStore>) -> Self {
        Self { bus, store }
    }
}

/// `accounts.create`: a new account with the initial rating, named after the username.
#[tracing::instrument(name = "accounts.create", skip_all, fields(user_id = %params.user_id))]
pub(crate) async fn create(
    service: Arc<Service>,
    ctx: RequestContext,
    params: NewAccount,
) -> Result<Account, WireError> {
    // A request the gateway forwarded for a signed-in user must not be able to create accounts
    // for arbitrary ids.
    ctx.service_only()?;
    let user_id = validate::user_id(&params.user_id)?;
    let username = validate::username(&params.username)?;
    let account = Account {
        user_id: user_id.to_owned(),
        username: username.to_owned(),
        display_name: username.to_owned(),
        rating: INITIAL_RATING,
        games_played: 0,
        games_won: 0,
    };
    service
        .store
        .create(&account)
        .await
        .map_err(store_failure)?;
    tracing::info!("account created");
    Ok(account)
}

/// `accounts.me`: the caller's account.
#[tracing::instrument(name = "accounts.me", skip_all, fields(user_id = ctx.user_id.as_deref()))]
pub(crate) async fn me(
    service: Arc<Service>,
    ctx: RequestContext,
    _params: Empty,
) -> Result<Account, WireError> {
    let user_id = caller(&ctx)?;
    find(&service, user_id).await
}

/// `accounts.get`: anyone's account by id.
#[tracing::instrument(name = "accounts.get", skip_all, fields(user_id = %params.user_id))]
pub(crate) async fn get(
    service: Arc<Service>,
    _ctx: RequestContext,
    params: UserId,
) -> Result<Account, WireError> {
    let user_id = validate::user_id(&params.user_id)?;
    find(&service, user_id).await
}

/// `accounts.update`: renames the caller.
#[tracing::instrument(name = "accounts.update", skip_all, fields(user_id = ctx.user_id.as_deref()))]
pub(crate) async fn update(
    service: Arc<Service>,
    ctx: RequestContext,
    params: AccountUpdate,
) -> Result<Account, WireError> {
    let user_id = caller(&ctx)?;
    let display_name = validate::display_name(&params.display_name)?;
    service
        .store
        .set_display_name(user_id, &display_name)
        .await
        .map_err(store_failure)
}

/// `accounts.delete`: revokes the caller's credentials with `auth`, then deletes the account. If
/// `auth` cannot revoke them, nothing is deleted and its error is the answer, so a user is never
/// left with credentials but no account.
#[tracing::instrument(name = "accounts.delete", skip_all, fields(user_id = ctx.user_id.as_deref()))]
pub(crate) async fn delete(
    service: Arc<Service>,
    ctx: RequestContext,
    _params: Empty,
) -> Result<Empty, WireError> {
    let user_id = caller(&ctx)?;
    find(&service, user_id).await?;
    let revoke = RevokeUser {
        user_id: user_id.to_owned(),
    };
    service
        .bus
        .call::<RevokeUserMethod>(&revoke, ctx.service_call_options())
        .await
        .map_err(|error| {
            tracing::warn!(%error, "auth.revoke_user failed; the account is kept");
            error.to_wire()
        })?;
    service.store.delete(user_id).await.map_err(store_failure)?;
    tracing::info!("account deleted");
    Ok(Empty {})
}

/// The authenticated caller, or `unauthorized` in the words accounts has always used: its
/// methods are the ones a game client reads its own account with.
fn caller(ctx: &RequestContext) -> Result<&str, WireError> {
    ctx.caller().map_err(|error| WireError {
        message: "this method needs a signed-in user".into(),
        ..error
    })
}

/// The account of `user_id`, or `not_found`.
async fn find(service: &Service, user_id: &str) -> Result<Account, WireError> {
    match service.store.get(user_id).await {
        Ok(Some(account)) => Ok(account),
        Ok(None) => Err(store_failure(StoreError::NotFound)),
        Err(error) => Err(store_failure(error)),
    }
}

/// The wire error for a store error. Internal detail is logged here and never sent.
pub(crate) fn store_failure(error: StoreError) -> WireError {
    match error {
        StoreError::NotFound => WireError::new(ErrorCode::NotFound, "no such account"),
        StoreError::AlreadyExists => WireError::new(
            ErrorCode::AlreadyExists,
            "an account exists for this user already",
        ),
        StoreError::Unavailable(detail) => {
            tracing::error!(error = %detail, "account store unavailable");
            WireError::new(
                ErrorCode::Unavailable,
                "accounts are unavailable right now; try again later",
            )
        }
        StoreError::Internal(detail) => {
            tracing::error!(error = %detail, "account store failure");
            WireError::new(ErrorCode::Internal, "internal error")
        }
    }
}
