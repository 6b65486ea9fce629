//! In-process events: fanout to every bound queue, anonymous queues as unbounded channels (like a
//! broker queue, a slow subscriber does not slow the publisher), durable queues that keep events
//! and take back what was handed out and not acknowledged.

use super::MemoryBus;
use crate::error::BusError;
use crate::events::{Acker, Delivery, QueueKind, Source, SubscribeOptions, Subscription};
use crate::lock;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use warren_contracts::Event;
use warren_contracts::rpc::events_exchange;

static NEXT_QUEUE: AtomicU64 = AtomicU64::new(1);

pub(super) enum Binding {
    Anonymous(mpsc::UnboundedSender<Delivery>),
    Durable(Arc<DurableQueue>),
}

pub(super) struct DurableQueue {
    name: String,
    /// Events waiting, each with whether it was handed out before.
    ready: Mutex<VecDeque<(Arc<Event>, bool)>>,
    arrived: Notify,
}

impl DurableQueue {
    fn push_back(&self, event: Arc<Event>) {
        lock(&self.ready).push_back((event, false));
        self.arrived.notify_one();
    }

    fn push_front(&self, event: Arc<Event>) {
        lock(&self.ready).push_front((event, true));
        self.arrived.notify_one();
    }

    fn pop(&self) -> Option<(Arc<Event>, bool)> {
        lock(&self.ready).pop_front()
    }
}

/// A consumer of a durable queue; several compete for its events.
pub(crate) struct QueueConsumer {
    queue: Arc<DurableQueue>,
    shutdown: CancellationToken,
}

impl QueueConsumer {
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        loop {
            let arrived = self.queue.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some((event, redelivered)) = self.queue.pop() {
                // Another consumer may be waiting too; let it look at what is left.
                self.queue.arrived.notify_one();
                let unacked = Unacked {
                    queue: Arc::clone(&self.queue),
                    event: Some(event.clone()),
                };
                return Some(Delivery {
                    event,
                    redelivered,
                    acker: Acker::Memory(unacked),
                });
            }
            tokio::select! {
                () = arrived => {}
                () = self.shutdown.cancelled() => return None,
            }
        }
    }
}

/// An event handed out from a durable queue and not yet acknowledged.
#[derive(Debug)]
pub(crate) struct Unacked {
    queue: Arc<DurableQueue>,
    event: Option<Arc<Event>>,
}

impl std::fmt::Debug for DurableQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableQueue")
            .field("name", &self.name)
            .finish()
    }
}

impl Unacked {
    pub(crate) fn ack(mut self) {
        self.event = None;
    }

    pub(crate) fn requeue(mut self) {
        if let Some(event) = self.event.take() {
            self.queue.push_front(event);
        }
    }
}

impl Drop for Unacked {
    fn drop(&mut self) {
        if let Some(event) = self.event.take() {
            self.queue.push_front(event);
        }
    }
}

impl MemoryBus {
    pub async fn publish(&self, service: &str, event: &Event) -> Result<(), BusError> {
        let exchange = events_exchange(service);
        let mut exchanges = lock(&self.inner.exchanges);
        if let Some(bindings) = exchanges.get_mut(&exchange) {
            // One copy for every queue bound, shared: a gateway reads an event, it never changes it.
            let event = Arc::new(event.clone());
            bindings.retain(|binding| match binding {
                Binding::Anonymous(tx) => tx
                    .send(Delivery {
                        event: Arc::clone(&event),
                        redelivered: false,
                        acker: Acker::Done,
                    })
                    .is_ok(),
                Binding::Durable(queue) => {
                    queue.push_back(Arc::clone(&event));
                    true
                }
            });
        }
        Ok(())
    }

    pub async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, BusError> {
        let exchanges: Vec<String> = options
            .services
            .iter()
            .map(|s| events_exchange(s))
            .collect();
        match options.queue {
            QueueKind::Anonymous => {
                let (tx, rx) = mpsc::unbounded_channel();
                let mut registry = lock(&self.inner.exchanges);
                for exchange in exchanges {
                    registry
                        .entry(exchange)
                        .or_default()
                        .push(Binding::Anonymous(tx.clone()));
                }
                let name = format!(
                    "amq.gen-memory-{}",
                    NEXT_QUEUE.fetch_add(1, Ordering::Relaxed)
                );
                Ok(Subscription::new(
                    Source::Unbounded(rx),
                    Arc::new(Mutex::new(name)),
                    None,
                ))
            }
            QueueKind::Durable(name) => {
                let queue = Arc::clone(
                    lock(&self.inner.durable)
                        .entry(name.clone())
                        .or_insert_with(|| {
                            Arc::new(DurableQueue {
                                name: name.clone(),
                                ready: Mutex::default(),
                                arrived: Notify::new(),
                            })
                        }),
                );
                let mut registry = lock(&self.inner.exchanges);
                for exchange in exchanges {
                    let bindings = registry.entry(exchange).or_default();
                    let bound = bindings
                        .iter()
                        .any(|b| matches!(b, Binding::Durable(q) if Arc::ptr_eq(q, &queue)));
                    if !bound {
                        bindings.push(Binding::Durable(Arc::clone(&queue)));
                    }
                }
                let consumer = QueueConsumer {
                    queue,
                    shutdown: self.inner.shutdown.clone(),
                };
                Ok(Subscription::new(
                    Source::Queue(consumer),
                    Arc::new(Mutex::new(name)),
                    None,
                ))
            }
        }
    }
}
