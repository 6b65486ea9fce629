//! The matching rules, as pure logic over one pool of waiting tickets.
//!
//! A pool is every ticket that could end up in the same session: same game mode, region and
//! players per match. [`find_matches`] makes one matching pass over it; the service runs a pass
//! whenever the pool changes or on a timer, and turns each group into a session. Nothing here waits,
//! allocates per ticket beyond a few arrays, or touches storage, so a pass over a large pool is
//! cheap and the rules are testable on their own.
//!
//! The rules:
//! - two tickets are compatible when their ratings differ by at most the wider of their two
//!   windows, a ticket's window widening with the time it has waited ([`Window::at`]);
//! - a group is valid when every pair in it is compatible;
//! - the longest-waiting ticket is served first: each still unmatched ticket, oldest to newest,
//!   takes the closest compatible partners it can find (greedily, nearest rating first), so a
//!   newcomer never takes an older ticket's closest partner away from it.
//!
//! How it stays fast: tickets are sorted by rating once and the unmatched ones are kept in a
//! doubly linked list over that order, so removing a matched ticket is O(1) and a ticket's
//! candidates are found by walking outward from it, nearest first. A walk stops at the widest
//! window in the pool, beyond which nobody can be compatible.
//!
//! ```text
//! pool.rs          Waiting, find_matches: one pass, oldest ticket first
//! pool/window.rs   Window: the rating window and how it widens; when two tickets are compatible
//! pool/ranked.rs   Ranked: a pass's tickets in rating order, the unmatched ones linked
//! pool/walk.rs     Walk: a ticket's candidates, nearest in rating first
//! ```

mod ranked;
mod walk;
mod window;

pub use window::{Window, compatible};

use ranked::Ranked;
use walk::Walk;

/// One waiting ticket of a pool (all tickets of one pool share mode, region and players per match).
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub ticket_id: String,
    pub rating: f64,
    /// When the ticket started waiting, Unix epoch milliseconds.
    pub created_at: u64,
}

/// Groups of `players_per_match` tickets that match, as indices into `tickets`, each group listed
/// oldest first; no index appears twice.
///
/// Groups come in the order they were made, that is by the age of the ticket that made them, the
/// oldest first. Tickets with a non-finite rating never match; fewer than two players per match, or
/// more than there are tickets, give no groups. The result depends only on the arguments.
pub fn find_matches(
    tickets: &[Waiting],
    players_per_match: usize,
    window: &Window,
    now: u64,
) -> Vec<Vec<usize>> {
    let mut groups = Vec::new();
    if players_per_match < 2 {
        return groups;
    }
    let mut pool = Ranked::new(tickets, window, now);
    let mut walk = Walk::default();
    let mut group = Vec::with_capacity(players_per_match);
    for k in 0..pool.by_age.len() {
        if pool.remaining < players_per_match {
            // Nobody left can make a group; the rest of the pass would find nothing.
            break;
        }
        let oldest = pool.by_age[k];
        if pool.matched[oldest] {
            continue;
        }
        if pool.partners_for(oldest, players_per_match - 1, &mut walk, &mut group) {
            group.push(oldest);
            for &member in &group {
                pool.remove(member);
            }
            group.sort_unstable_by_key(|&member| pool.age[member]);
            groups.push(group.iter().map(|&member| pool.ticket[member]).collect());
        }
    }
    groups
}

#[cfg(test)]
mod tests;
