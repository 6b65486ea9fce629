//! Who is connected here, and delivering events to them.
//!
//! The gateway reads every `<service>.events` exchange through one anonymous queue; each event
//! names its recipients and the number the journal gave it for each, and the hub hands it to
//! every socket those users have on this gateway, through the socket's [`Cursor`] so that
//! nothing goes out twice or with a gap.
//! A socket whose send queue is full is disconnected (close code 4001) rather than let the
//! gateway's memory grow for a client that does not read. When logins end (auth's
//! `auth.revoked`), the sockets opened with their tokens are closed (4003).
//!
//! ```text
//! mod.rs     Hub: the sockets by user; delivery; ended logins
//! conn.rs    Conn: one socket as the hub sees it; the frames of events
//! ```

mod conn;

pub use self::conn::{CatchUpError, Conn, EventBody, event_frame};

use crate::config::EVENT_SERVICES;
use crate::cursor::Offer;
use crate::revocations::Revocations;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use warren_bus::journal::{JournalStore, Resumed};
use warren_bus::{Bus, BusError, SubscribeOptions, Subscription};
use warren_contracts::Event;
use warren_contracts::auth::{REVOKED_EVENT, Revoked};
use warren_contracts::event::now_millis;

/// WebSocket close code for a client that does not read what it is sent.
pub const CLOSE_TOO_SLOW: u16 = 4001;
/// WebSocket close code for a client that answered no ping for two intervals.
pub const CLOSE_SILENT: u16 = 4000;
/// WebSocket close code for a socket whose login ended: logged out, logged out everywhere, a
/// refresh token used twice, or the account deleted.
pub const CLOSE_LOGIN_ENDED: u16 = 4003;

pub(crate) use warren_bus::lock;

#[derive(Default)]
struct Users {
    next_id: u64,
    sockets: HashMap<String, Vec<Conn>>,
}

/// The registry of this gateway's sockets, by user.
pub struct Hub {
    users: Mutex<Users>,
    journal: Arc<dyn JournalStore>,
    revocations: Arc<Revocations>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("users", &lock(&self.users).sockets.len())
            .finish()
    }
}

impl Hub {
    pub fn new(journal: Arc<dyn JournalStore>) -> Self {
        Self {
            users: Mutex::default(),
            journal,
            revocations: Arc::new(Revocations::new()),
        }
    }

    pub fn journal(&self) -> &Arc<dyn JournalStore> {
        &self.journal
    }

    /// The logins that have ended, as this gateway knows them.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// Where a new socket of `user` starts: the user's last number before it opens. Read
    /// before the socket is registered, so that every event numbered before it is one the
    /// socket does not deliver (the client resumes for those), even when it reaches this
    /// gateway late, and every one after it is delivered or, if missed, fetched.
    pub async fn start_of(&self, user: &str) -> Option<u64> {
        match self.journal.head(user).await {
            Ok(head) => Some(head),
            Err(error) => {
                tracing::warn!(%error, "cannot read where a new socket starts");
                None
            }
        }
    }

    /// Adds a socket of `user_id`, opened with a token of the login `sid`, that starts after
    /// `start` (see [`Hub::start_of`]), with room for `send_queue` frames; returns it and whether
    /// it is the user's first here. A socket whose login ended meanwhile is closed at once.
    pub fn register(
        &self,
        user_id: &str,
        sid: &str,
        send_queue: usize,
        start: Option<u64>,
    ) -> (Conn, bool) {
        let mut users = lock(&self.users);
        users.next_id += 1;
        let conn = Conn::new(users.next_id, sid, send_queue);
        if let Some(start) = start {
            conn.cursor().start_at(start);
        }
        let sockets = users.sockets.entry(user_id.to_owned()).or_default();
        sockets.push(conn.clone());
        let first = sockets.len() == 1;
        drop(users);
        // Ended between the token's check and now: the kick for it looked before this socket
        // was here. An end after this line finds the socket.
        if self.revocations.is_ended(sid) {
            conn.kick(CLOSE_LOGIN_ENDED, LOGIN_ENDED);
        }
        (conn, first)
    }

    /// Closes the sockets opened with a token of one of the logins `sids`: of `user` only, or of
    /// anyone when the user is not known (logins read from auth's list).
    pub fn close_logins(&self, user: Option<&str>, sids: &[String]) -> usize {
        let sids: HashSet<&str> = sids.iter().map(String::as_str).collect();
        let users = lock(&self.users);
        let sockets: Box<dyn Iterator<Item = &Conn>> = match user {
            Some(user) => Box::new(users.sockets.get(user).into_iter().flatten()),
            None => Box::new(users.sockets.values().flatten()),
        };
        let mut closed = 0;
        for conn in sockets.filter(|conn| sids.contains(conn.sid())) {
            conn.kick(CLOSE_LOGIN_ENDED, LOGIN_ENDED);
            closed += 1;
        }
        closed
    }

    /// Remembers the logins an `auth.revoked` event ends and closes their sockets here.
    fn logins_ended(&self, event: &Event) {
        let revoked: Revoked = match serde_json::from_value(event.data.clone()) {
            Ok(revoked) => revoked,
            Err(error) => {
                tracing::error!(%error, "cannot read an auth.revoked event");
                return;
            }
        };
        self.revocations
            .end(revoked.sessions.iter().cloned(), revoked.until);
        let closed = self.close_logins(Some(&revoked.user_id), &revoked.sessions);
        tracing::info!(
            user_id = %revoked.user_id,
            logins = revoked.sessions.len(),
            closed,
            "logins ended"
        );
    }

    /// Removes a socket; returns whether it was the user's last here.
    pub fn unregister(&self, user_id: &str, conn: &Conn) -> bool {
        let mut users = lock(&self.users);
        let Some(sockets) = users.sockets.get_mut(user_id) else {
            return false;
        };
        // By pointer: a user may have thousands of sockets here, and this reads none of them.
        sockets.retain(|other| !other.same(conn));
        if sockets.is_empty() {
            users.sockets.remove(user_id);
            return true;
        }
        false
    }

    /// The user's sockets here that are not already closing, beyond the newest `keep`, oldest
    /// first (sockets are registered in the order they open).
    pub fn oldest_beyond(&self, user_id: &str, keep: usize) -> Vec<Conn> {
        let users = lock(&self.users);
        let open: Vec<&Conn> = users
            .sockets
            .get(user_id)
            .map(|sockets| sockets.iter().filter(|c| !c.is_kicked()).collect())
            .unwrap_or_default();
        let excess = open.len().saturating_sub(keep);
        open.into_iter().take(excess).cloned().collect()
    }

    /// Sockets open on this gateway.
    pub fn connections(&self) -> usize {
        lock(&self.users).sockets.values().map(Vec::len).sum()
    }

    /// Hands a numbered event to every socket of each recipient connected here. The event is
    /// serialised once (if anyone here gets it); each recipient's frame adds only its `seq`, and
    /// that recipient's sockets share the one frame.
    pub fn deliver(&self, event: &Event) {
        let users = lock(&self.users);
        if !event
            .seqs
            .keys()
            .any(|user| users.sockets.contains_key(user))
        {
            return;
        }
        let body = match EventBody::new(&event.kind, &event.data) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, kind = %event.kind, "cannot serialise an event");
                return;
            }
        };
        for (recipient, &seq) in &event.seqs {
            let Some(sockets) = users.sockets.get(recipient) else {
                continue;
            };
            let frame = body.frame(seq);
            for conn in sockets {
                let offer = conn.cursor().offer(seq, &frame);
                match offer {
                    Offer::Send => {
                        if conn.send(frame.clone()) {
                            metrics::counter!(crate::series::EVENTS_DELIVERED).increment(1);
                        }
                    }
                    Offer::Skip => {}
                    Offer::Fill { after } => self.fill(conn.clone(), recipient.clone(), after),
                }
            }
        }
    }

    /// Sends a socket the events it missed after `after`, then what was held meanwhile.
    fn fill(&self, conn: Conn, user: String, after: u64) {
        let journal = Arc::clone(&self.journal);
        tokio::spawn(async move {
            conn.catch_up(journal.as_ref(), &user, after, |found| {
                match found {
                    Ok(released) => {
                        for event in &released.fresh {
                            match event_frame(event) {
                                Ok(frame) => {
                                    conn.send(frame);
                                }
                                Err(error) => {
                                    tracing::error!(%error, "cannot serialise an event");
                                }
                            }
                        }
                    }
                    Err(why) => tracing::warn!(?why, after, "events missed by this gateway"),
                }
                None
            })
            .await;
        });
    }

    /// Subscribes to every service's events: from then on, none is missed.
    pub async fn subscribe(bus: &Bus) -> Result<Subscription, BusError> {
        bus.subscribe(SubscribeOptions::anonymous(EVENT_SERVICES))
            .await
    }

    /// Delivers the subscription's events until `shutdown`.
    pub async fn run(self: Arc<Self>, mut events: Subscription, shutdown: CancellationToken) {
        let mut renewals = events.renewals();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                delivery = events.next() => match delivery {
                    Some(delivery) if delivery.event.kind == REVOKED_EVENT => {
                        self.logins_ended(&delivery.event);
                        let _ = delivery.ack().await;
                    }
                    Some(delivery) => {
                        self.deliver(&delivery.event);
                        let _ = delivery.ack().await;
                    }
                    None => return,
                },
                () = renewals.next() => self.catch_up_everyone(),
            }
        }
    }

    /// After the gateway's queue was set up again (the broker connection was lost), events
    /// published meanwhile never reached it: every socket that has delivered events reads what
    /// came after its last one from the journal.
    fn catch_up_everyone(&self) {
        let users = lock(&self.users);
        let mut caught_up = 0;
        for (user, sockets) in &users.sockets {
            for conn in sockets {
                let last = conn.cursor().last();
                if let Some(last) = last {
                    conn.cursor().hold();
                    self.fill(conn.clone(), user.clone(), last);
                    caught_up += 1;
                }
            }
        }
        tracing::info!(
            sockets = caught_up,
            "events queue renewed; sockets catch up from the journal"
        );
    }
}

/// The reason sent with [`CLOSE_LOGIN_ENDED`].
const LOGIN_ENDED: &str = "the login ended: log in again";

/// How long a catch-up keeps asking a journal that does not answer (Redis restarting, a
/// connection dropped) before it gives up on the events it misses.
const JOURNAL_RETRIES: [std::time::Duration; 5] = [
    std::time::Duration::from_millis(100),
    std::time::Duration::from_millis(300),
    std::time::Duration::from_millis(600),
    std::time::Duration::from_millis(1000),
    std::time::Duration::from_millis(2000),
];

/// The journal's events of `user` after `after`, asked again a few times while its store does
/// not answer: what the socket holds meanwhile waits, so nothing is skipped for a blip.
pub(crate) async fn read_journal(
    journal: &dyn JournalStore,
    user: &str,
    after: u64,
) -> Result<Resumed, warren_bus::journal::JournalError> {
    let mut found = journal.after(user, after, now_millis()).await;
    for delay in JOURNAL_RETRIES {
        let Err(error) = &found else { break };
        tracing::debug!(%error, ?delay, "the journal does not answer; asking again");
        tokio::time::sleep(delay).await;
        found = journal.after(user, after, now_millis()).await;
    }
    found
}

#[cfg(test)]
mod tests;
