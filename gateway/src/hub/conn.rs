//! One socket as the hub sees it, and the frames of the events it is sent.

use super::{CLOSE_TOO_SLOW, lock, read_journal};
use crate::cursor::{Cursor, Released};
use crate::ws::outbox::{Outbox, Pushed};
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use warren_bus::journal::{JournalStore, Numbered, Resumed};

/// One socket as the hub sees it: where to send, how to make it close, and where it is in its
/// user's event sequence. A handle: clones are the same socket.
#[derive(Clone, Debug)]
pub struct Conn(Arc<ConnState>);

/// Everything a socket shares with the hub and its calls, in one allocation: there are as many
/// of these as open sockets.
#[derive(Debug)]
struct ConnState {
    id: u64,
    /// The login of the token the socket was opened with.
    sid: Box<str>,
    /// Bounded by `send_queue`: replies and events share it.
    outbox: Outbox,
    cursor: Mutex<Cursor>,
    /// One fill or resume at a time per socket.
    filling: tokio::sync::Mutex<()>,
}

impl Conn {
    pub fn new(id: u64, sid: &str, send_queue: usize) -> Self {
        Self(Arc::new(ConnState {
            id,
            sid: sid.into(),
            outbox: Outbox::new(send_queue),
            cursor: Mutex::default(),
            filling: tokio::sync::Mutex::new(()),
        }))
    }

    /// This socket's number on this gateway.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The login of the token the socket was opened with.
    pub fn sid(&self) -> &str {
        &self.0.sid
    }

    /// The socket's outgoing queue, which its task drains.
    pub fn outbox(&self) -> &Outbox {
        &self.0.outbox
    }

    pub(super) fn cursor(&self) -> MutexGuard<'_, Cursor> {
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

    pub(super) fn same(&self, other: &Conn) -> bool {
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
