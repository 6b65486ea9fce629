//! The seating services' side of "one place at a time" (see [`warren_contracts::activity`]): how
//! rooms, private rooms and the matchmaker claim a user in `accounts` before seating them, hand
//! the claim over to the session they start, and release it when the user leaves.
//!
//! Every call here is made as a service, without the user's id: the methods refuse clients. The
//! other way round, [`answer_holds`] is the `<service>.holds` method `accounts` calls back.

use std::future::Future;
use warren_bus::{Bus, CallError, CallOptions, RequestContext};
use warren_contracts::activity::{
    Activity, ActivityKind, Claim, ClaimMethod, Claimed, HandOver, HandOverMethod, Release,
    ReleaseMethod,
};
use warren_contracts::activity::{Holds, HoldsQuery};
use warren_contracts::error::bounded;
use warren_contracts::{ErrorCode, WireError};

/// `<service>.holds`: whether activity `query.id` still holds user `query.user_id`, as `held`
/// (the service's store) answers; `accounts` asks before it lets a claim of this service stand in
/// the way of another. Only services may ask, and only about ids a service could have issued.
pub async fn answer_holds<F, Fut>(
    ctx: &RequestContext,
    query: HoldsQuery,
    held: F,
) -> Result<Holds, WireError>
where
    F: FnOnce(HoldsQuery) -> Fut,
    Fut: Future<Output = Result<bool, WireError>>,
{
    ctx.service_only()?;
    bounded("id", &query.id)?;
    bounded("user_id", &query.user_id)?;
    Ok(Holds {
        held: held(query).await?,
    })
}

/// The claims of one kind of activity, made by the service that owns that kind.
#[derive(Debug, Clone)]
pub struct Claims {
    bus: Bus,
    kind: ActivityKind,
}

impl Claims {
    pub fn new(bus: Bus, kind: ActivityKind) -> Self {
        Self { bus, kind }
    }

    /// The bus these calls go on, for a caller that makes others beside them (a start's
    /// `sessions.create` and its event, in [`crate::starts`]).
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// This service's activity with that id.
    pub fn activity(&self, id: &str) -> Activity {
        Activity::new(self.kind, id)
    }

    /// Claims `user` for activity `id`, or answers what holds them (`already_in_room`,
    /// `in_session`, `already_searching`). `accounts` checks a claim of another kind in the way
    /// with its owner; one of this service's own kind is checked here with `holds` (this
    /// service's store: does that activity still hold the user?), and replaced if not.
    pub async fn claim<F, Fut>(
        &self,
        call: &CallOptions,
        user: &str,
        id: &str,
        holds: F,
    ) -> Result<(), WireError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<bool, WireError>>,
    {
        let mut claim = Claim {
            user_id: user.to_owned(),
            activity: self.activity(id),
            replaces: None,
        };
        let mut holds = Some(holds);
        loop {
            let claimed = self
                .try_claim(call, &claim)
                .await
                .map_err(|error| error.to_wire())?;
            if claimed.claimed {
                return Ok(());
            }
            let Some(current) = claimed.current else {
                tracing::error!("accounts refused a claim without saying what holds the user");
                return Err(WireError::new(ErrorCode::Internal, "internal error"));
            };
            if current.kind == self.kind
                && let Some(holds) = holds.take()
                && !holds(current.id.clone()).await?
            {
                tracing::info!(stale = %current.id, "replacing a stale claim of our own");
                claim.replaces = Some(current);
                continue;
            }
            return Err(current.conflict());
        }
    }

    /// One `accounts.claim`, as it is.
    pub async fn try_claim(&self, call: &CallOptions, claim: &Claim) -> Result<Claimed, CallError> {
        self.bus
            .call::<ClaimMethod>(claim, call.clone().as_service())
            .await
    }

    /// Frees `users` from activity `id`. A failure is logged: the claim is stale from now on, and
    /// the next claim that meets it finds so and replaces it.
    pub async fn release(&self, call: &CallOptions, users: Vec<String>, id: &str) {
        let release = Release {
            user_ids: users,
            activity: self.activity(id),
        };
        if let Err(error) = self
            .bus
            .call::<ReleaseMethod>(&release, call.clone().as_service())
            .await
        {
            tracing::warn!(%error, id, "could not release a claim");
        }
    }

    /// Moves `users`' claims from activity `id` to the session it started. A failure is logged:
    /// the old claim is then stale, and found so when it is in the way.
    pub async fn hand_over(&self, call: &CallOptions, users: Vec<String>, id: &str, session: &str) {
        if let Err(error) = self.try_hand_over(call, users, id, session).await {
            tracing::warn!(%error, id, session, "could not hand claims over to the session");
        }
    }

    /// One `accounts.hand_over`, for a caller that retries until it went through. Doing it again
    /// changes nothing: users already in the session stay there.
    pub async fn try_hand_over(
        &self,
        call: &CallOptions,
        users: Vec<String>,
        id: &str,
        session: &str,
    ) -> Result<(), CallError> {
        let hand_over = HandOver {
            user_ids: users,
            from: self.activity(id),
            to: Activity::new(ActivityKind::Session, session),
        };
        self.bus
            .call::<HandOverMethod>(&hand_over, call.clone().as_service())
            .await
            .map(|_| ())
    }
}
