//! The hub's unit tests: delivery, numbering, catch-up, eviction.

use super::*;
use axum::extract::ws::Utf8Bytes;
use serde_json::Value;
use serde_json::json;
use std::sync::atomic::Ordering;
use warren_bus::journal::Numbered;
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
    let (a1, first) = hub.register("a", "login-a", 4, None);
    assert!(first, "a's first socket");
    let (a2, first) = hub.register("a", "login-a", 4, None);
    assert!(!first);
    let (b, _) = hub.register("b", "login-b", 4, None);
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
    let (a1, _) = hub.register("a", "login-a", 4, None);
    let (a2, _) = hub.register("a", "login-a", 4, None);
    let (b, _) = hub.register("b", "login-b", 4, None);
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
    let (conn, _) = hub.register("a", "login-a", 8, None);
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
    let (conn, _) = hub.register("a", "login-a", 8, None);
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
    let (conn, _) = hub.register("a", "login-a", 4, Some(5));
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
    let (conn, _) = hub.register("a", "login-a", 1, None);
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
    let (first, _) = hub.register("a", "login-a", 1, None);
    let (second, _) = hub.register("a", "login-a", 1, None);
    assert!(!hub.unregister("a", &first));
    assert_eq!(hub.connections(), 1);
    assert!(hub.unregister("a", &second), "a's last socket");
    assert_eq!(hub.connections(), 0);
}
