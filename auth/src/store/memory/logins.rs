//! Logins in memory: each a family of refresh tokens (by digest), the live one and the spent
//! ones kept until they would have expired, so that a spent one used again is recognised; and
//! the logins ended recently, for gateways.

use super::super::{Ended, Rotation};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

#[derive(Debug, Default)]
pub(super) struct Logins {
    /// Refresh token digest to its token.
    tokens: HashMap<String, Token>,
    /// Login id to the login.
    families: HashMap<String, Family>,
    /// User id to their logins' ids.
    by_user: HashMap<String, HashSet<String>>,
    /// Ended login to when its last access token expires (Unix ms).
    revoked: HashMap<String, u64>,
}

#[derive(Debug)]
struct Token {
    family: String,
    spent: bool,
    expiry: Instant,
}

#[derive(Debug)]
struct Family {
    user_id: String,
    expiry: Instant,
}

impl Logins {
    pub(super) fn start(&mut self, family: &str, user_id: &str, digest: &str, expiry: Instant) {
        self.families.insert(
            family.to_owned(),
            Family {
                user_id: user_id.to_owned(),
                expiry,
            },
        );
        self.by_user
            .entry(user_id.to_owned())
            .or_default()
            .insert(family.to_owned());
        self.add_token(digest, family, expiry);
    }

    fn add_token(&mut self, digest: &str, family: &str, expiry: Instant) {
        self.tokens.insert(
            digest.to_owned(),
            Token {
                family: family.to_owned(),
                spent: false,
                expiry,
            },
        );
    }

    /// The token `digest` and its login's user, if both are live at `now`.
    fn find(&self, digest: &str, now: Instant) -> Option<(&Token, &Family)> {
        let token = self.tokens.get(digest).filter(|t| t.expiry > now)?;
        let family = self
            .families
            .get(&token.family)
            .filter(|f| f.expiry > now)?;
        Some((token, family))
    }

    pub(super) fn rotate(
        &mut self,
        spent: &str,
        next: &str,
        now: Instant,
        expiry: Instant,
    ) -> Rotation {
        let Some((token, family)) = self.find(spent, now) else {
            return Rotation::Unknown;
        };
        let (id, user_id, reused) = (token.family.clone(), family.user_id.clone(), token.spent);
        if reused {
            self.end(&id);
            return Rotation::Reused {
                user_id,
                family: id,
            };
        }
        if let Some(token) = self.tokens.get_mut(spent) {
            token.spent = true;
        }
        if let Some(family) = self.families.get_mut(&id) {
            family.expiry = expiry;
        }
        self.add_token(next, &id, expiry);
        Rotation::Rotated {
            user_id,
            family: id,
        }
    }

    pub(super) fn end_family_of(&mut self, digest: &str, now: Instant) -> Option<Ended> {
        let (token, family) = self.find(digest, now)?;
        let ended = Ended {
            user_id: family.user_id.clone(),
            family: token.family.clone(),
        };
        self.end(&ended.family);
        Some(ended)
    }

    /// Ends every live login of `user_id`; returns their ids.
    pub(super) fn end_user(&mut self, user_id: &str, now: Instant) -> Vec<String> {
        let ids = self.by_user.remove(user_id).unwrap_or_default();
        let mut live: Vec<String> = ids
            .into_iter()
            .filter(|id| {
                self.families
                    .remove(id)
                    .is_some_and(|family| family.expiry > now)
            })
            .collect();
        live.sort();
        live
    }

    /// Forgets a login; its tokens then find nothing and go in a sweep.
    fn end(&mut self, id: &str) {
        let Some(family) = self.families.remove(id) else {
            return;
        };
        if let Some(ids) = self.by_user.get_mut(&family.user_id) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_user.remove(&family.user_id);
            }
        }
    }

    pub(super) fn record_revoked(&mut self, families: &[String], until: u64) {
        for family in families {
            let entry = self.revoked.entry(family.clone()).or_default();
            *entry = (*entry).max(until);
        }
    }

    pub(super) fn revoked(&self, now_ms: u64) -> Vec<(String, u64)> {
        let mut revoked: Vec<(String, u64)> = self
            .revoked
            .iter()
            .filter(|&(_, &until)| until > now_ms)
            .map(|(family, &until)| (family.clone(), until))
            .collect();
        revoked.sort();
        revoked
    }

    /// Drops what has expired.
    pub(super) fn sweep(&mut self, now: Instant, now_ms: u64) {
        self.families.retain(|_, family| family.expiry > now);
        let families = &self.families;
        self.tokens
            .retain(|_, token| token.expiry > now && families.contains_key(&token.family));
        self.by_user.retain(|_, ids| {
            ids.retain(|id| families.contains_key(id));
            !ids.is_empty()
        });
        self.revoked.retain(|_, until| *until > now_ms);
    }
}
