//! Who is connected here, and delivering events to them.
//!
//! The gateway reads every `<service>.events` exchange through one anonymous queue; each event
//! names its recipients, and the hub hands it to every socket those users have on this gateway.
//! A socket whose send queue is full is disconnected (close code 4001) rather than let the
//! gateway's memory grow for a client that does not read.

use crate::config::EVENT_SERVICES;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, SubscribeOptions, Subscription};
use warren_contracts::Event;

/// WebSocket close code for a client that does not read what it is sent.
pub const CLOSE_TOO_SLOW: u16 = 4001;
/// WebSocket close code for a client that answered no ping for two intervals.
pub const CLOSE_SILENT: u16 = 4000;

/// A frame on its way to one socket.
#[derive(Debug, Clone)]
pub enum Outbound {
    Text(String),
}

/// Why a socket is being closed by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

/// One socket as the hub sees it: where to send, and how to make it close.
#[derive(Clone, Debug)]
pub struct Conn {
    pub id: u64,
    /// Bounded by `send_queue`: replies and events share it.
    tx: mpsc::Sender<Outbound>,
    kick: Kick,
}

/// Closes a socket from outside its tasks, once, with a reason.
#[derive(Clone, Debug, Default)]
pub struct Kick {
    token: CancellationToken,
    reason: Arc<Mutex<Option<CloseReason>>>,
}

impl Kick {
    pub fn kick(&self, code: u16, reason: &'static str) {
        let mut slot = lock(&self.reason);
        if slot.is_none() {
            *slot = Some(CloseReason { code, reason });
        }
        drop(slot);
        self.token.cancel();
    }

    pub async fn kicked(&self) -> CloseReason {
        self.token.cancelled().await;
        lock(&self.reason).unwrap_or(CloseReason {
            code: 1000,
            reason: "",
        })
    }

    pub fn is_kicked(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl Conn {
    pub fn new(id: u64, tx: mpsc::Sender<Outbound>, kick: Kick) -> Self {
        Self { id, tx, kick }
    }

    pub fn kick(&self) -> &Kick {
        &self.kick
    }

    /// Queues a frame; a full queue means the client is too slow, and it is disconnected.
    pub fn send(&self, frame: Outbound) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kick.kick(CLOSE_TOO_SLOW, "too slow: send queue full");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
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
    /// The last `seq` given to each connected user's events.
    seq: HashMap<String, u64>,
}

/// The registry of this gateway's sockets, by user.
#[derive(Default)]
pub struct Hub {
    users: Mutex<Users>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("users", &lock(&self.users).sockets.len())
            .finish()
    }
}

impl Hub {
    /// Adds a socket of `user_id`; returns its connection id and whether it is the user's first
    /// here.
    pub fn register(&self, user_id: &str, tx: mpsc::Sender<Outbound>, kick: Kick) -> (u64, bool) {
        let mut users = lock(&self.users);
        users.next_id += 1;
        let id = users.next_id;
        let sockets = users.sockets.entry(user_id.to_owned()).or_default();
        sockets.push(Conn::new(id, tx, kick));
        (id, sockets.len() == 1)
    }

    /// Removes a socket; returns whether it was the user's last here.
    pub fn unregister(&self, user_id: &str, id: u64) -> bool {
        let mut users = lock(&self.users);
        let Some(sockets) = users.sockets.get_mut(user_id) else {
            return false;
        };
        sockets.retain(|conn| conn.id != id);
        if sockets.is_empty() {
            users.sockets.remove(user_id);
            return true;
        }
        false
    }

    /// Sockets open on this gateway.
    pub fn connections(&self) -> usize {
        lock(&self.users).sockets.values().map(Vec::len).sum()
    }

    /// Hands `event` to every socket of each recipient connected here.
    pub fn deliver(&self, event: &Event) {
        let mut users = lock(&self.users);
        for recipient in &event.recipients {
            let Some(sockets) = users.sockets.get(recipient).cloned() else {
                continue;
            };
            let seq = users.seq.entry(recipient.clone()).or_default();
            *seq += 1;
            let frame = serde_json::json!({
                "jsonrpc": "2.0",
                "method": "event",
                "params": { "seq": *seq, "type": event.kind, "data": event.data },
            })
            .to_string();
            for conn in &sockets {
                conn.send(Outbound::Text(frame.clone()));
            }
        }
    }

    /// Subscribes to every service's events: from then on, none is missed.
    pub async fn subscribe(bus: &Bus) -> Result<Subscription, BusError> {
        let services: Vec<String> = EVENT_SERVICES.iter().map(|s| (*s).to_owned()).collect();
        bus.subscribe(SubscribeOptions::anonymous(services)).await
    }

    /// Delivers the subscription's events until `shutdown`.
    pub async fn run(self: Arc<Self>, mut events: Subscription, shutdown: CancellationToken) {
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
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_reach_every_socket_of_each_recipient_with_a_growing_seq() {
        let hub = Hub::default();
        let (a1, mut ra1) = mpsc::channel(4);
        let (a2, mut ra2) = mpsc::channel(4);
        let (b, mut rb) = mpsc::channel(4);
        assert!(hub.register("a", a1, Kick::default()).1, "a's first socket");
        assert!(!hub.register("a", a2, Kick::default()).1);
        hub.register("b", b, Kick::default());
        hub.deliver(&Event::new("x", vec!["a".into()], json!({"n": 1})));
        hub.deliver(&Event::new(
            "x",
            vec!["a".into(), "c".into()],
            json!({"n": 2}),
        ));
        for rx in [&mut ra1, &mut ra2] {
            for seq in [1, 2] {
                let Outbound::Text(text) = rx.try_recv().unwrap();
                let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(frame["method"], "event");
                assert_eq!(frame["params"]["seq"], seq);
                assert_eq!(frame["params"]["data"]["n"], seq);
            }
        }
        assert!(rb.try_recv().is_err(), "b was not a recipient");
    }

    #[test]
    fn a_socket_that_does_not_read_is_kicked() {
        let hub = Hub::default();
        let (tx, _rx) = mpsc::channel(1);
        let kick = Kick::default();
        hub.register("a", tx, kick.clone());
        hub.deliver(&Event::new("x", vec!["a".into()], json!(1)));
        assert!(!kick.is_kicked());
        hub.deliver(&Event::new("x", vec!["a".into()], json!(2)));
        assert!(kick.is_kicked());
    }
}
