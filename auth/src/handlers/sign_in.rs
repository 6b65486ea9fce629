//! Register and log in: the calls that hash a password, each in a bounded slot.

use super::{
    Failure, Service, TOO_MANY_FAILURES, WRONG_CREDENTIALS, client_of, refuse,
    refused_unless_allowed, slot_wait,
};
use crate::config::LOGIN_LIMITS;
use crate::hashing::Slot;
use crate::store::{Settle, UserRecord};
use crate::validate;
use std::sync::Arc;
use warren_bus::RequestContext;
use warren_contracts::ErrorCode;
use warren_contracts::accounts::{self, NewAccount};
use warren_contracts::auth::{Credentials, Registered, Tokens};

/// `auth.register`: credentials, then the account; no credentials stay behind if the account
/// cannot be created.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn register(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Credentials,
) -> Result<Registered, Failure> {
    service.count_request(client_of(&ctx)).await?;
    validate::username(&params.username)
        .and_then(|()| validate::password(&params.password))
        .map_err(|invalid| refuse(ErrorCode::InvalidParams, invalid.to_string()))?;
    let taken = || refuse(ErrorCode::AlreadyExists, "username is taken");
    // Spare the hashing when the answer is known already; create_user checks again atomically.
    if service.store.find_user(&params.username).await?.is_some() {
        return Err(taken());
    }
    let user = UserRecord {
        user_id: uuid::Uuid::new_v4().to_string(),
        username: params.username,
        password_hash: service
            .hashing
            .hash(&params.password, slot_wait(&ctx))
            .await?,
    };
    tracing::Span::current().record("user_id", user.user_id.as_str());
    if !service.store.create_user(&user).await? {
        return Err(taken());
    }
    let account = NewAccount {
        user_id: user.user_id.clone(),
        username: user.username.clone(),
    };
    if let Err(error) = service
        .bus
        .call::<accounts::Create>(&account, ctx.call_options())
        .await
    {
        tracing::warn!(%error, "accounts.create failed; removing the new credentials");
        if let Err(rollback) = service.store.delete_user(&user.user_id).await {
            tracing::error!(error = %rollback, "could not remove the credentials of a failed registration");
        }
        return Err(Failure::Refused(error.to_wire()));
    }
    Ok(Registered {
        user_id: user.user_id,
    })
}

/// `auth.login`: a token pair for the right password; throttled per (username, address) and per
/// address. The attempt takes a hashing slot first and is then counted as a failure before its
/// password is checked: concurrent guesses cannot outrun the count, and logins still waiting for
/// a slot do not count against honest neighbours behind one address.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn login(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Credentials,
) -> Result<Tokens, Failure> {
    let client = client_of(&ctx);
    service.count_request(client).await?;
    // No user can have credentials outside the rules, so such a pair is simply wrong.
    if validate::username(&params.username).is_err()
        || validate::password(&params.password).is_err()
    {
        return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS));
    }
    let slot = service.hashing.slot(slot_wait(&ctx)).await?;
    let store = &service.store;
    let admission = store
        .admit_login(&params.username, client, &LOGIN_LIMITS)
        .await?;
    refused_unless_allowed(admission, TOO_MANY_FAILURES)?;
    // Counted as a failure already: only a right password or an attempt never checked settles.
    let checked = check_password(&service, slot, &params).await;
    let outcome = match &checked {
        Ok(Some(_)) => Some(Settle::Succeeded),
        Ok(None) => None,
        Err(_) => Some(Settle::NotChecked),
    };
    if let Some(outcome) = outcome
        && let Err(error) = store.settle_login(&params.username, client, outcome).await
    {
        tracing::warn!(%error, ?outcome, "could not settle a login attempt");
    }
    let Some(user) = checked? else {
        return Err(refuse(ErrorCode::Unauthorized, WRONG_CREDENTIALS));
    };
    tracing::Span::current().record("user_id", user.user_id.as_str());
    service.start_login(&user.user_id).await
}

/// The user whose password `params` has, or `None` for a wrong password or an unknown name.
async fn check_password(
    service: &Service,
    slot: Slot<'_>,
    params: &Credentials,
) -> Result<Option<UserRecord>, Failure> {
    let Some(user) = service.store.find_user(&params.username).await? else {
        // As long as a real check, so the answer's timing does not tell which names exist.
        slot.verify_dummy(&params.password).await?;
        return Ok(None);
    };
    let right = slot.verify(&params.password, &user.password_hash).await?;
    Ok(right.then_some(user))
}
