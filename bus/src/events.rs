//! Subscribing to events: which queue to read, and the deliveries that come out of it.
//!
//! Two kinds of queue, as in the design:
//! - [`QueueKind::Anonymous`]: a server-named, exclusive, auto-delete queue per subscriber. Every
//!   subscriber gets every event while it is subscribed; the queue goes when the subscriber does.
//!   Deliveries are acknowledged by the bus as they are handed over; [`Delivery::ack`] is a no-op.
//! - [`QueueKind::Durable`]: a named queue that keeps events while its consumers are away.
//!   Consumers of one name compete; each event is delivered at least once and must be
//!   acknowledged with [`Delivery::ack`] once handled. A delivery dropped without an ack goes back
//!   to the queue.

use crate::error::BusError;
use crate::memory::{QueueConsumer, Unacked};
use lapin::options::{BasicAckOptions, BasicNackOptions};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use warren_contracts::Event;

/// Which queue a subscription reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueKind {
    Anonymous,
    Durable(String),
}

/// What to subscribe to and how.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// The services whose `<service>.events` exchanges the queue is bound to.
    pub services: Vec<String>,
    pub queue: QueueKind,
    /// Deliveries handed out and not yet acknowledged, at most.
    pub prefetch: u16,
}

impl SubscribeOptions {
    /// Every event of these services, for as long as the subscription lives.
    pub fn anonymous<S: Into<String>>(services: impl IntoIterator<Item = S>) -> Self {
        Self {
            services: services.into_iter().map(Into::into).collect(),
            queue: QueueKind::Anonymous,
            prefetch: 256,
        }
    }

    /// Every event of these services, kept in the durable queue `queue` while nobody consumes.
    pub fn durable<S: Into<String>>(
        queue: impl Into<String>,
        services: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            services: services.into_iter().map(Into::into).collect(),
            queue: QueueKind::Durable(queue.into()),
            prefetch: 32,
        }
    }

    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }
}

/// One event handed to a subscriber.
#[derive(Debug)]
pub struct Delivery {
    /// Shared, not copied, between the queues an event reached in one process.
    pub event: Arc<Event>,
    /// Delivered before and not acknowledged then; the event may have been handled already.
    pub redelivered: bool,
    pub(crate) acker: Acker,
}

#[derive(Debug)]
pub(crate) enum Acker {
    /// Already acknowledged by the bus (anonymous queues).
    Done,
    Amqp(lapin::Acker),
    Memory(Unacked),
}

impl Delivery {
    /// Acknowledges the event: it is handled and will not be delivered again.
    pub async fn ack(mut self) -> Result<(), BusError> {
        match std::mem::replace(&mut self.acker, Acker::Done) {
            Acker::Done => Ok(()),
            Acker::Amqp(acker) => {
                acker.ack(BasicAckOptions::default()).await?;
                Ok(())
            }
            Acker::Memory(unacked) => {
                unacked.ack();
                Ok(())
            }
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.acker, Acker::Done) {
            Acker::Done => {}
            Acker::Memory(unacked) => unacked.requeue(),
            Acker::Amqp(acker) => {
                // Give it back now rather than when the channel closes, so another consumer can
                // take it. Without a runtime the channel's close will requeue it anyway.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        let requeue = BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        };
                        let _ = acker.nack(requeue).await;
                    });
                }
            }
        }
    }
}

pub(crate) enum Source {
    Channel(mpsc::Receiver<Delivery>),
    Unbounded(mpsc::UnboundedReceiver<Delivery>),
    Queue(QueueConsumer),
}

/// Tells when a subscription's queue was set up again; see [`Subscription::renewals`].
#[derive(Debug)]
pub struct Renewals(Option<tokio::sync::watch::Receiver<u64>>);

impl Renewals {
    /// Returns at the next renewal; never for a subscription that is not renewed.
    pub async fn next(&mut self) {
        if let Some(renewals) = &mut self.0
            && renewals.changed().await.is_ok()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// A live subscription. Dropping it unsubscribes: an anonymous queue is deleted, a durable one
/// keeps collecting events for the next consumer.
pub struct Subscription {
    pub(crate) source: Source,
    /// The queue's current name; an anonymous queue gets a new one after a reconnect.
    pub(crate) queue: Arc<Mutex<String>>,
    /// Stops the background consumer when the subscription goes.
    pub(crate) _stop: Option<DropGuard>,
    /// Counts the times the queue was set up again after the connection was lost.
    pub(crate) renewals: Option<tokio::sync::watch::Receiver<u64>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("queue", &self.queue_name())
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(
        source: Source,
        queue: Arc<Mutex<String>>,
        stop: Option<CancellationToken>,
    ) -> Self {
        Self {
            source,
            queue,
            _stop: stop.map(CancellationToken::drop_guard),
            renewals: None,
        }
    }

    pub(crate) fn with_renewals(mut self, renewals: tokio::sync::watch::Receiver<u64>) -> Self {
        self.renewals = Some(renewals);
        self
    }

    /// Tells when the subscription's queue has been set up again after the broker connection
    /// was lost (never, in process). An anonymous queue is a new one then: events published
    /// while there was none were not delivered to it.
    pub fn renewals(&self) -> Renewals {
        Renewals(self.renewals.clone())
    }

    /// The next event; `None` once the bus has shut down.
    pub async fn next(&mut self) -> Option<Delivery> {
        match &mut self.source {
            Source::Channel(rx) => rx.recv().await,
            Source::Unbounded(rx) => rx.recv().await,
            Source::Queue(consumer) => consumer.next().await,
        }
    }

    /// The name of the queue this subscription reads now.
    pub fn queue_name(&self) -> String {
        crate::lock(&self.queue).clone()
    }
}
