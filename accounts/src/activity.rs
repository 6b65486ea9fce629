//! `accounts.claim`, `accounts.hand_over` and `accounts.release`: the service keeps each user's
//! current activity (see [`warren_contracts::activity`]) so that nobody is in two places at once.
//! Other services call these; a request made for a signed-in user is `forbidden`.
//!
//! A claim the store finds in the way may be stale (its owner lost track of the user, or a release
//! was lost). For another kind of activity, its owner is asked (`<owner>.holds`) and a claim it no
//! longer holds is replaced; an owner that cannot answer keeps its claim, since freeing a user who
//! is still playing would let them be in two places. For the caller's own kind nobody is asked: the
//! caller is the owner, checks its own records, and claims again with `replaces`.
//!
//! A claim needs no account: activities are keyed by user id, and the services that seat users
//! check who they are. So a user is kept in one place even if their account is not (or no longer)
//! there.

use crate::handlers::{Service, store_failure};
use crate::validate;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use warren_bus::{CallError, CallOptions, RequestContext};
use warren_contracts::activity::{Activity, Claim, Claimed, HandOver, Holds, Release};
use warren_contracts::{Empty, ErrorCode, WireError};

/// The longest an owner is given to say whether it still holds a user: a claim should not wait
/// long on a slow owner. A claim's caller with less time left gives the owner half of it, keeping
/// the other half to compare-and-set and answer before the caller gives up.
pub(crate) const HOLDS_TIMEOUT: Duration = Duration::from_secs(2);

/// `accounts.claim`: puts the user in the activity unless another holds them.
#[tracing::instrument(
    name = "accounts.claim",
    skip_all,
    fields(user_id = %params.user_id, kind = ?params.activity.kind, id = %params.activity.id)
)]
pub(crate) async fn claim(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Claim,
) -> Result<Claimed, WireError> {
    ctx.service_only()?;
    let user_id = validate::user_id(&params.user_id)?;
    let activity = validate::activity("activity", &params.activity)?;
    let replaceable: Vec<Activity> = match &params.replaces {
        Some(replaces) => vec![validate::activity("replaces", replaces)?.clone()],
        None => Vec::new(),
    };
    let store = &service.store;
    let Some(current) = store
        .claim(user_id, activity, &replaceable)
        .await
        .map_err(store_failure)?
    else {
        tracing::debug!("claimed");
        return Ok(claimed());
    };
    if current.kind == activity.kind {
        tracing::debug!(current = ?current, "held by the caller's own kind; not asked");
        return Ok(blocked(current));
    }
    if owner_holds(&service, &ctx, user_id, &current).await {
        return Ok(blocked(current));
    }
    // Replaced only if the stale claim is still the one stored: another claim may have won
    // meanwhile, and that one stands.
    let mut replaceable = replaceable;
    replaceable.push(current.clone());
    match store
        .claim(user_id, activity, &replaceable)
        .await
        .map_err(store_failure)?
    {
        None => {
            tracing::info!(stale = ?current, "stale claim replaced");
            Ok(claimed())
        }
        Some(now) => {
            tracing::debug!(current = ?now, "another claim came first");
            Ok(blocked(now))
        }
    }
}

/// `accounts.hand_over`: the users still in `from` (or in nothing) move to `to`.
#[tracing::instrument(
    name = "accounts.hand_over",
    skip_all,
    fields(from = %params.from.id, to = %params.to.id, users = params.user_ids.len())
)]
pub(crate) async fn hand_over(
    service: Arc<Service>,
    ctx: RequestContext,
    params: HandOver,
) -> Result<Empty, WireError> {
    ctx.service_only()?;
    let user_ids = validate::user_ids(&params.user_ids)?;
    let from = validate::activity("from", &params.from)?;
    let to = validate::activity("to", &params.to)?;
    let kept = service
        .store
        .hand_over(user_ids, from, to)
        .await
        .map_err(store_failure)?;
    if !kept.is_empty() {
        // Normal when a player left the room and went elsewhere just before it started.
        tracing::debug!(?kept, "held elsewhere; not handed over");
    }
    Ok(Empty {})
}

/// `accounts.release`: the users still in `activity` are free.
#[tracing::instrument(
    name = "accounts.release",
    skip_all,
    fields(kind = ?params.activity.kind, id = %params.activity.id, users = params.user_ids.len())
)]
pub(crate) async fn release(
    service: Arc<Service>,
    ctx: RequestContext,
    params: Release,
) -> Result<Empty, WireError> {
    ctx.service_only()?;
    let user_ids = validate::user_ids(&params.user_ids)?;
    let activity = validate::activity("activity", &params.activity)?;
    let released = service
        .store
        .release(user_ids, activity)
        .await
        .map_err(store_failure)?;
    tracing::debug!(released, "released");
    Ok(Empty {})
}

fn claimed() -> Claimed {
    Claimed {
        claimed: true,
        current: None,
    }
}

fn blocked(current: Activity) -> Claimed {
    Claimed {
        claimed: false,
        current: Some(current),
    }
}

/// Whether `current`'s owner says it still holds `user_id`. Anything but a clear "no" (`held:
/// false`, or `not_found` for an activity it does not know) counts as "yes".
async fn owner_holds(
    service: &Service,
    ctx: &RequestContext,
    user_id: &str,
    current: &Activity,
) -> bool {
    let owner = current.kind.owner();
    let method = current.kind.holds_method();
    // Asked as a service, without the user: `holds` is not for clients.
    let options = CallOptions {
        timeout: HOLDS_TIMEOUT.min(ctx.remaining() / 2),
        request_id: ctx.request_id.clone(),
        ..CallOptions::default()
    };
    let query = json!({"id": current.id, "user_id": user_id});
    let answer = service.bus.call_json(owner, method, &query, options).await;
    match answer.map(serde_json::from_value::<Holds>) {
        Ok(Ok(Holds { held })) => {
            tracing::debug!(owner, current = ?current, held, "owner asked");
            held
        }
        Ok(Err(error)) => {
            tracing::warn!(owner, %error, "unreadable holds answer; the claim stands");
            true
        }
        Err(CallError::Service(error)) if error.code == ErrorCode::NotFound => {
            tracing::debug!(owner, current = ?current, "owner knows no such activity");
            false
        }
        Err(error) => {
            tracing::warn!(owner, %error, "owner cannot say whether it holds the user; the claim stands");
            true
        }
    }
}
