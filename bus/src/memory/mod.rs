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
    /// (service, routing key) → the queue bound to it, as on `<service>.route`.
    routes: Mutex<HashMap<(String, String), String>>,
    /// Durable queues outlive their consumers, as in the broker.
    durable: Mutex<HashMap<String, Arc<events::DurableQueue>>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds (or unbinds) `key` on `service`'s routes to the queue of `queue_service`.
    pub fn bind_route(&self, service: &str, key: &str, queue_service: &str, bind: bool) {
        let mut routes = lock(&self.inner.routes);
        let route = (service.to_owned(), key.to_owned());
        if bind {
            routes.insert(route, warren_contracts::rpc::rpc_queue(queue_service));
        } else if routes
            .get(&route)
            .is_some_and(|queue| *queue == warren_contracts::rpc::rpc_queue(queue_service))
        {
            routes.remove(&route);
        }
    }

    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        // Dropping the bindings ends anonymous subscriptions, as a closing connection would.
        lock(&self.inner.exchanges).clear();
    }
}
