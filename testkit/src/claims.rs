//! A stand-in for `accounts`' claims, with its rules: a user is in one activity at a time; a claim
//! of another activity is refused with what holds the user, unless it names that as the stale one
//! it replaces; a hand-over moves users from an activity (or from nothing) to another; a release
//! frees only users the activity still holds.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use warren_bus::{Router, lock};
use warren_contracts::activity::{
    Activity, Claim, ClaimMethod, Claimed, HandOver, HandOverMethod, Release, ReleaseMethod,
};
use warren_contracts::{Empty, ErrorCode, WireError};

/// user → the activity that holds them; a test reads and seeds it through `Deref`.
#[derive(Debug, Default)]
pub struct FakeClaims {
    held: Mutex<HashMap<String, Activity>>,
    /// This many more hand-overs fail with `unavailable`, having done nothing.
    fail_hand_overs: AtomicUsize,
}

impl Deref for FakeClaims {
    type Target = Mutex<HashMap<String, Activity>>;

    fn deref(&self) -> &Self::Target {
        &self.held
    }
}

impl FakeClaims {
    /// What holds `user`, if anything.
    pub fn of(&self, user: &str) -> Option<Activity> {
        lock(&self.held).get(user).cloned()
    }

    /// The next `times` hand-overs fail.
    pub fn fail_hand_overs(&self, times: usize) {
        self.fail_hand_overs.store(times, Ordering::SeqCst);
    }

    fn claim(&self, claim: Claim) -> Claimed {
        let mut held = lock(&self.held);
        match held.get(&claim.user_id) {
            Some(current)
                if *current != claim.activity && Some(current) != claim.replaces.as_ref() =>
            {
                Claimed {
                    claimed: false,
                    current: Some(current.clone()),
                }
            }
            _ => {
                held.insert(claim.user_id, claim.activity);
                Claimed {
                    claimed: true,
                    current: None,
                }
            }
        }
    }

    fn hand_over(&self, hand_over: HandOver) -> Result<Empty, WireError> {
        let failed = self
            .fail_hand_overs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failed {
            return Err(WireError::new(ErrorCode::Unavailable, "accounts are down"));
        }
        let mut held = lock(&self.held);
        for user in hand_over.user_ids {
            // Like accounts: a user in `from`, in nothing or in `to` already ends up in `to`.
            if held
                .get(&user)
                .is_none_or(|c| *c == hand_over.from || *c == hand_over.to)
            {
                held.insert(user, hand_over.to.clone());
            }
        }
        Ok(Empty {})
    }

    fn release(&self, release: Release) -> Empty {
        let mut held = lock(&self.held);
        for user in release.user_ids {
            if held.get(&user) == Some(&release.activity) {
                held.remove(&user);
            }
        }
        Empty {}
    }
}

/// `router` (accounts') answering `accounts.claim`, `.hand_over` and `.release` from `claims`.
pub fn serve_claims(router: Router, claims: &Arc<FakeClaims>) -> Router {
    let (claim, hand_over, release) = (Arc::clone(claims), Arc::clone(claims), Arc::clone(claims));
    router
        .method::<ClaimMethod, _, _>(move |ctx, params: Claim| {
            let answer = ctx.service_only().map(|()| claim.claim(params));
            async move { answer }
        })
        .method::<HandOverMethod, _, _>(move |ctx, params: HandOver| {
            let answer = ctx
                .service_only()
                .and_then(|()| hand_over.hand_over(params));
            async move { answer }
        })
        .method::<ReleaseMethod, _, _>(move |ctx, params: Release| {
            let answer = ctx.service_only().map(|()| release.release(params));
            async move { answer }
        })
}
