//! Who is connected here, and delivering events to them.
//!
//! The gateway reads every `<service>.events` exchange through one anonymous queue; each event
//! names its recipients and the number the journal gave it for each, and the hub hands it to
//! every socket those users have on this gateway, through the socket's [`Cursor`] so that
//! nothing goes out twice or with a gap.
//! A socket whose send queue is full is disconnected (close code 4001) rather than let the
//! gateway's memory grow for a client that does not read.

use crate::config::EVENT_SERVICES;
use crate::cursor::{Cursor, Offer, Released};
use crate::ws::outbox::{Outbox, Pushed};
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;
use warren_bus::journal::{JournalStore, Numbered, Resumed};
use warren_bus::{Bus, BusError, SubscribeOptions, Subscription};
use warren_contracts::Event;
use warren_contracts::event::now_millis;

/// WebSocket close code for a client that does not read what it is sent.
pub const CLOSE_TOO_SLOW: u16 = 4001;
/// WebSocket close code for a client that answered no ping for two intervals.
pub const CLOSE_SILENT: u16 = 4000;

/// One socket as the hub sees it: where to send, how to make it close, and where it is in its
/// user's event sequence. A handle: clones are the same socket.
#[derive(Clone, Debug)]
pub struct Conn(Arc<ConnState>);

/// Everything a socket shares with the hub and its calls, in one allocation: there are as many
/// of these as open sockets.
#[derive(Debug)]
struct ConnState {
    id: u64,
    /// Bounded by `send_queue`: replies and events share it.
    outbox: Outbox,
    cursor: Mutex<Cursor>,
    /// One fill or resume at a time per socket.
    filling: tokio::sync::Mutex<()>,
}

impl Conn {
    pub fn new(id: u64, send_queue: usize) -> Self {
        Self(Arc::new(ConnState {
            id,
            outbox: Outbox::new(send_queue),
            cursor: Mutex::default(),
            filling: tokio::sync::Mutex::new(()),
        }))
    }

    /// This socket's number on this gateway.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The socket's outgoing queue, which its task drains.
    pub fn outbox(&self) -> &Outbox {
        &self.0.outbox
    }

    fn cursor(&self) -> MutexGuard<'_, Cursor> {
        lock(&self.0.cursor)
    }

    /// Closes the socket from outside its task, once: the first reason given is the one sent.
    pub fn kick(&self, code: u16, reason: &'static str) {
        self.0.outbox.close(code, reason);
    }

    pub fn is_kicked(&self) -> bool {
        self.0.outbox.closing().is_some()
    }

    /// Holds live events, asks the journal for `user`'s events after `after`, and releases
    /// them: `answer` gets what the journal had that this socket has not delivered (or why
    /// not) and queues its own frame, then the held events follow.
    pub async fn catch_up(
        &self,
        journal: &dyn JournalStore,
        user: &str,
        after: u64,
        answer: impl FnOnce(Result<&Released, CatchUpError>) -> Option<String>,
    ) {
        let _one_at_a_time = self.0.filling.lock().await;
        self.cursor().hold();
        let found = read_journal(journal, user, after).await;
        let mut cursor = self.cursor();
        let (released, frame) = match found {
            Ok(Resumed::Events(events)) => {
                let released = cursor.release(events);
                let frame = answer(Ok(&released));
                (released, frame)
            }
            Ok(Resumed::Gap) => (cursor.release(Vec::new()), answer(Err(CatchUpError::Gap))),
            Err(error) => {
                tracing::warn!(%error, "cannot read the journal");
                (
                    cursor.release(Vec::new()),
                    answer(Err(CatchUpError::Unavailable)),
                )
            }
        };
        if let Some(frame) = frame {
            self.send(frame.into());
        }
        for frame in released.held {
            self.send(frame);
        }
    }

    /// Queues a frame; a full queue means the client is too slow, and it is disconnected.
    pub fn send(&self, frame: Utf8Bytes) -> bool {
        match self.0.outbox.push(frame) {
            Pushed::Queued => true,
            Pushed::Full => {
                self.kick(CLOSE_TOO_SLOW, "too slow: send queue full");
                false
            }
            Pushed::Closed => false,
        }
    }

    fn same(&self, other: &Conn) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Why the journal could not answer a catch-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUpError {
    /// Some of the events asked for are no longer kept.
    Gap,
    /// The journal's store did not answer.
    Unavailable,
}

/// What every event frame starts with, up to the recipient's number.
const FRAME_HEAD: &str = r#"{"jsonrpc":"2.0","method":"event","params":{"seq":"#;

/// An event's frame after its `seq`: `,"type":…,"data":…}}`. The same for every recipient, so
/// it is serialised once per event however many sockets it goes to.
#[derive(Debug)]
pub struct EventBody(String);

impl EventBody {
    pub fn new(kind: &str, data: &Value) -> Result<Self, serde_json::Error> {
        #[derive(Serialize)]
        struct Rest<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            data: &'a Value,
        }
        let mut rest = serde_json::to_string(&Rest { kind, data })?;
        // `{"type":…,"data":…}` becomes `,"type":…,"data":…}}`: it follows the seq in `params`
        // and closes `params` and the frame.
        rest.replace_range(..1, ",");
        rest.push('}');
        Ok(Self(rest))
    }

    /// The whole frame for the recipient whose number for the event is `seq`.
    pub fn frame(&self, seq: u64) -> Utf8Bytes {
        // 20 digits: the longest u64.
        let mut frame = String::with_capacity(FRAME_HEAD.len() + 20 + self.0.len());
        frame.push_str(FRAME_HEAD);
        // Writing to a String cannot fail.
        let _ = write!(frame, "{seq}");
        frame.push_str(&self.0);
        frame.into()
    }
}

/// The frame of an event pushed to a client, for an event read back from the journal.
pub fn event_frame(event: &Numbered) -> Result<Utf8Bytes, serde_json::Error> {
    Ok(EventBody::new(&event.kind, &event.data)?.frame(event.seq))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Default)]
struct Users {
    next_id: u64,
    sockets: HashMap<String, Vec<Conn>>,
}

/// The registry of this gateway's sockets, by user.
pub struct Hub {
    users: Mutex<Users>,
    journal: Arc<dyn JournalStore>,
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
        }
    }

    pub fn journal(&self) -> &Arc<dyn JournalStore> {
        &self.journal
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

    /// Adds a socket of `user_id` that starts after `start` (see [`Hub::start_of`]), with room
    /// for `send_queue` frames; returns it and whether it is the user's first here.
    pub fn register(&self, user_id: &str, send_queue: usize, start: Option<u64>) -> (Conn, bool) {
        let mut users = lock(&self.users);
        users.next_id += 1;
        let conn = Conn::new(users.next_id, send_queue);
        if let Some(start) = start {
            conn.cursor().start_at(start);
        }
        let sockets = users.sockets.entry(user_id.to_owned()).or_default();
        sockets.push(conn.clone());
        (conn, sockets.len() == 1)
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
                            metrics::counter!("warren_events_delivered_total").increment(1);
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
async fn read_journal(
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
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::Ordering;
    use warren_bus::journal::{JournalError, MemoryJournal, ResumeConfig};

    fn hub() -> Hub {
        Hub::new(Arc::new(MemoryJournal::new(ResumeConfig::default())))
    }

    fn numbered(kind: &str, seqs: &[(&str, u64)], data: Value) -> Event {
        let mut event = Event::new(kind, seqs.iter().map(|(u, _)| (*u).into()).collect(), data);
        event.seqs = seqs.iter().map(|(u, s)| ((*u).to_owned(), *s)).collect();
        event
    }

    fn frame(conn: &Conn) -> Value {
        serde_json::from_str(&conn.outbox().pop().unwrap()).unwrap()
    }

    /// The next frame queued to `conn`, waiting for it.
    async fn next_frame(conn: &Conn) -> Value {
        let text = std::future::poll_fn(|cx| {
            // Registered before looking, so that a frame queued in between wakes us.
            let _ = conn.outbox().poll_close(cx);
            match conn.outbox().pop() {
                Some(text) => std::task::Poll::Ready(text),
                None => std::task::Poll::Pending,
            }
        })
        .await;
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn events_reach_every_socket_of_each_recipient_with_their_numbers() {
        let hub = hub();
        let (a1, first) = hub.register("a", 4, None);
        assert!(first, "a's first socket");
        let (a2, first) = hub.register("a", 4, None);
        assert!(!first);
        let (b, _) = hub.register("b", 4, None);
        hub.deliver(&numbered("x", &[("a", 1)], json!({"n": 1})));
        hub.deliver(&numbered("x", &[("a", 2), ("c", 7)], json!({"n": 2})));
        hub.deliver(&numbered("x", &[("a", 2)], json!({"n": 2})));
        for conn in [&a1, &a2] {
            for seq in [1, 2] {
                let frame = frame(conn);
                assert_eq!(frame["method"], "event");
                assert_eq!(frame["params"]["seq"], seq);
                assert_eq!(frame["params"]["type"], "x");
                assert_eq!(frame["params"]["data"]["n"], seq);
            }
            assert!(
                conn.outbox().pop().is_none(),
                "the duplicate of 2 was dropped"
            );
        }
        assert!(b.outbox().pop().is_none(), "b was not a recipient");
    }

    #[test]
    fn one_event_is_the_same_frame_for_every_recipient_but_its_number() {
        let hub = hub();
        let (a1, _) = hub.register("a", 4, None);
        let (a2, _) = hub.register("a", 4, None);
        let (b, _) = hub.register("b", 4, None);
        let data = json!({"board": ["x", null, "o"], "text": "quote \" and \u{e9}", "n": 1.5});
        hub.deliver(&numbered(
            "session.state",
            &[("a", 3), ("b", 9)],
            data.clone(),
        ));
        let frames: Vec<Utf8Bytes> = [&a1, &a2, &b]
            .iter()
            .map(|conn| conn.outbox().pop().unwrap())
            .collect();
        assert_eq!(
            frames[0].as_ptr(),
            frames[1].as_ptr(),
            "a's sockets share one frame"
        );
        for (frame, seq) in frames.iter().zip([3, 3, 9]) {
            // What the gateway sent before it serialised events once: the same JSON.
            let before = serde_json::json!({
                "jsonrpc": "2.0",
                "method": "event",
                "params": Numbered { seq, kind: "session.state".into(), data: data.clone() },
            });
            let sent: Value = serde_json::from_str(frame).unwrap();
            assert_eq!(sent, before, "{frame}");
        }
        let journal = event_frame(&Numbered {
            seq: 9,
            kind: "session.state".into(),
            data,
        })
        .unwrap();
        assert_eq!(journal, frames[2], "the journal's frame is the live one");
    }

    #[tokio::test]
    async fn a_socket_gets_what_this_gateway_missed_from_the_journal() {
        let hub = hub();
        let journal = Arc::clone(hub.journal());
        let events: Vec<Event> = (1..=3)
            .map(|n| Event::new("x", vec!["a".into()], json!(n)))
            .collect();
        let seqs = journal.append(&events, now_millis()).await.unwrap();
        let (conn, _) = hub.register("a", 8, None);
        let mut first = events[0].clone();
        first.seqs = seqs[0].clone();
        hub.deliver(&first);
        // 2 never reaches this gateway; 3 does, and 2 is fetched before it.
        let mut third = events[2].clone();
        third.seqs = seqs[2].clone();
        hub.deliver(&third);
        let mut seen = Vec::new();
        while seen.len() < 3 {
            seen.push(next_frame(&conn).await["params"]["seq"].as_u64().unwrap());
        }
        assert_eq!(seen, vec![1, 2, 3]);
    }

    /// A journal that does not answer its first reads, as while Redis restarts.
    struct Blinking {
        inner: MemoryJournal,
        failures: std::sync::atomic::AtomicU32,
    }

    #[async_trait::async_trait]
    impl JournalStore for Blinking {
        async fn append(
            &self,
            events: &[Event],
            now: u64,
        ) -> Result<Vec<std::collections::BTreeMap<String, u64>>, JournalError> {
            self.inner.append(events, now).await
        }
        async fn after(&self, user: &str, after: u64, now: u64) -> Result<Resumed, JournalError> {
            let failing = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                return Err(JournalError::Unavailable("restarting".into()));
            }
            self.inner.after(user, after, now).await
        }
        async fn head(&self, user: &str) -> Result<u64, JournalError> {
            self.inner.head(user).await
        }
    }

    #[tokio::test]
    async fn a_journal_that_blinks_is_asked_again_and_nothing_is_skipped() {
        let journal = Arc::new(Blinking {
            inner: MemoryJournal::new(ResumeConfig::default()),
            failures: std::sync::atomic::AtomicU32::new(2),
        });
        let hub = Hub::new(journal.clone());
        let events: Vec<Event> = (1..=3)
            .map(|n| Event::new("x", vec!["a".into()], json!(n)))
            .collect();
        let seqs = journal.append(&events, now_millis()).await.unwrap();
        let (conn, _) = hub.register("a", 8, None);
        for i in [0, 2] {
            let mut event = events[i].clone();
            event.seqs = seqs[i].clone();
            hub.deliver(&event);
        }
        let mut seen = Vec::new();
        while seen.len() < 3 {
            seen.push(next_frame(&conn).await["params"]["seq"].as_u64().unwrap());
        }
        assert_eq!(seen, vec![1, 2, 3]);
    }

    #[test]
    fn a_new_socket_skips_what_was_numbered_before_it_opened() {
        let hub = hub();
        let (conn, _) = hub.register("a", 4, Some(5));
        // Numbered before the socket opened, reaching this gateway late: the client had it on
        // its previous socket, or resumes for it.
        hub.deliver(&numbered("x", &[("a", 5)], json!(5)));
        hub.deliver(&numbered("x", &[("a", 6)], json!(6)));
        assert_eq!(frame(&conn)["params"]["seq"], 6);
        assert!(conn.outbox().pop().is_none());
    }

    #[test]
    fn a_socket_that_does_not_read_is_kicked() {
        let hub = hub();
        let (conn, _) = hub.register("a", 1, None);
        hub.deliver(&numbered("x", &[("a", 1)], json!(1)));
        assert!(!conn.is_kicked());
        hub.deliver(&numbered("x", &[("a", 2)], json!(2)));
        assert!(conn.is_kicked());
        assert_eq!(
            conn.outbox().closing().map(|r| r.code),
            Some(CLOSE_TOO_SLOW)
        );
    }

    #[test]
    fn a_socket_leaves_by_itself() {
        let hub = hub();
        let (first, _) = hub.register("a", 1, None);
        let (second, _) = hub.register("a", 1, None);
        assert!(!hub.unregister("a", &first));
        assert_eq!(hub.connections(), 1);
        assert!(hub.unregister("a", &second), "a's last socket");
        assert_eq!(hub.connections(), 0);
    }
}
