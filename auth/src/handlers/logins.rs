//! Refresh, logout and the ends of logins: a refresh token rotates within its login, a spent one
//! used again ends the login, logout ends one login or all of a user's, and deleting a user ends
//! them all. Every end is announced to the gateways (see `Service::announce_ended`).

use super::{BAD_REFRESH_TOKEN, Failure, Service, client_of, refuse};
use crate::store::Rotation;
use crate::tokens::{self, RefreshToken};
use std::sync::Arc;
use warren_bus::RequestContext;
use warren_contracts::auth::{
    LogoutParams, RefreshToken as RefreshParams, RevokeUser, RevokedSession, RevokedSessions,
    Tokens,
};
use warren_contracts::event::now_millis;
use warren_contracts::{Empty, ErrorCode};

/// `auth.refresh`: the token is spent and the next pair of its login issued. A token spent
/// before ends its login: whoever holds a copy, thief or owner, the login is over.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn refresh(
    service: Arc<Service>,
    ctx: RequestContext,
    params: RefreshParams,
) -> Result<Tokens, Failure> {
    service.count_request(client_of(&ctx)).await?;
    let bad_token = || refuse(ErrorCode::Unauthorized, BAD_REFRESH_TOKEN);
    if !tokens::is_well_formed(&params.refresh_token) {
        return Err(bad_token());
    }
    let next = RefreshToken::generate()?;
    let rotation = service
        .store
        .rotate_refresh_token(
            &tokens::digest(&params.refresh_token),
            &next.digest,
            service.refresh_ttl,
        )
        .await?;
    match rotation {
        Rotation::Rotated { user_id, family } => {
            tracing::Span::current().record("user_id", user_id.as_str());
            service.tokens(&user_id, &family, next)
        }
        Rotation::Reused { user_id, family } => {
            tracing::Span::current().record("user_id", user_id.as_str());
            tracing::warn!("a spent refresh token was used again; its login is ended");
            service.announce_ended(&user_id, vec![family]).await?;
            Err(bad_token())
        }
        Rotation::Unknown => Err(bad_token()),
    }
}

/// `auth.logout`: ends the login of the refresh token, or with `all` every login of its user or
/// of the caller. Nothing to end is not an error.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn logout(
    service: Arc<Service>,
    ctx: RequestContext,
    params: LogoutParams,
) -> Result<Empty, Failure> {
    let token = params
        .refresh_token
        .as_deref()
        .filter(|token| tokens::is_well_formed(token));
    if token.is_none() && !(params.all && ctx.user_id.is_some()) {
        if params.refresh_token.is_some() {
            // Not a token this service issued: there is nothing it could end.
            return Ok(Empty {});
        }
        return Err(refuse(
            ErrorCode::InvalidParams,
            "refresh_token is required, or all with the caller's access token",
        ));
    }
    let store = &service.store;
    let mut user = ctx.user_id.clone();
    let mut ended = Vec::new();
    if let Some(token) = token {
        match store.end_family_of(&tokens::digest(token)).await? {
            Some(login) if user.as_ref().is_some_and(|caller| *caller != login.user_id) => {
                // Someone else's token: ended, since whoever holds it may end it, but it names
                // nobody whose other logins this caller may end.
                service
                    .announce_ended(&login.user_id, vec![login.family])
                    .await?;
                return Err(refuse(
                    ErrorCode::Forbidden,
                    "the refresh token is not the caller's",
                ));
            }
            Some(login) => {
                user = Some(login.user_id);
                ended.push(login.family);
            }
            None => {}
        }
    }
    let Some(user) = user else {
        return Ok(Empty {});
    };
    tracing::Span::current().record("user_id", user.as_str());
    if params.all {
        ended.extend(store.end_families(&user).await?);
    }
    service.announce_ended(&user, ended).await?;
    Ok(Empty {})
}

/// `auth.revoke_user`: for services (accounts, when an account is deleted). A call made on a
/// user's behalf may revoke that user only.
#[tracing::instrument(skip_all, fields(user_id = %params.user_id))]
pub(crate) async fn revoke_user(
    service: Arc<Service>,
    ctx: RequestContext,
    params: RevokeUser,
) -> Result<Empty, Failure> {
    if uuid::Uuid::parse_str(&params.user_id).is_err() {
        return Err(refuse(ErrorCode::InvalidParams, "user_id must be a UUID"));
    }
    if ctx
        .user_id
        .as_ref()
        .is_some_and(|caller| *caller != params.user_id)
    {
        return Err(refuse(
            ErrorCode::Forbidden,
            "a user may revoke only their own credentials",
        ));
    }
    let deleted = service.store.delete_user(&params.user_id).await?;
    tracing::info!(
        existed = deleted.existed,
        "revoked the user's credentials and logins"
    );
    service
        .announce_ended(&params.user_id, deleted.families)
        .await?;
    Ok(Empty {})
}

/// `auth.revocations`: for gateways. The logins whose access tokens may still be unexpired.
#[tracing::instrument(skip_all)]
pub(crate) async fn revocations(
    service: Arc<Service>,
    ctx: RequestContext,
    _params: Empty,
) -> Result<RevokedSessions, Failure> {
    if ctx.user_id.is_some() {
        return Err(refuse(ErrorCode::Forbidden, "not a client method"));
    }
    let sessions = service
        .store
        .revoked(now_millis())
        .await?
        .into_iter()
        .map(|(sid, until)| RevokedSession { sid, until })
        .collect();
    Ok(RevokedSessions { sessions })
}
