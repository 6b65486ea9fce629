//! The in-process bus: the same semantics as the AMQP bus without a broker.
//!
//! Used by the embedded mode (`cargo run`) and by fast tests. It keeps what callers can observe of
//! RabbitMQ: competing consumers on a service queue, `unavailable` at once when nobody serves it,
//! deadlines and expiry, fanout of every event to every subscriber, durable queues that keep
//! events while their consumers are away and redeliver what was not acknowledged.

mod events;
mod rpc;

pub(crate) use events::{QueueConsumer, Unacked};

use crate::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub(crate) struct MemoryBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Service queue name → the instances serving it.
    rpc: Mutex<HashMap<String, rpc::Instances>>,
    /// Exchange name → the queues bound to it.
    exchanges: Mutex<HashMap<String, Vec<events::Binding>>>,
    /// Durable queues outlive their consumers, as in the broker.
    durable: Mutex<HashMap<String, Arc<events::DurableQueue>>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        // Dropping the bindings ends anonymous subscriptions, as a closing connection would.
        lock(&self.inner.exchanges).clear();
    }
}
