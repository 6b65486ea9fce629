//! Events over RabbitMQ: publishing on the durable fanout exchange `<service>.events` with
//! publisher confirms, and subscriptions that set their queue up again after every reconnect.
//!
//! An anonymous subscription declares a new server-named queue each time (the broker deleted the
//! old one with the old connection); a durable one consumes its named queue again, which kept the
//! events published in between.

use super::{AmqpBus, Link};
use crate::QueueType;
use crate::error::BusError;
use crate::events::{Acker, Delivery, QueueKind, Source, SubscribeOptions, Subscription};
use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation, Consumer, ExchangeKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use warren_contracts::Event;
use warren_contracts::rpc::events_exchange;

/// How long a publish waits for the broker's confirm before reporting the broker unavailable.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
}

impl AmqpBus {
    pub async fn publish(&self, service: &str, event: &Event) -> Result<(), BusError> {
        let link = self
            .link()
            .ok_or_else(|| BusError::Unavailable("not connected to the broker".into()))?;
        let exchange = events_exchange(service);
        let body = serde_json::to_vec(event).map_err(|e| BusError::Encode(e.to_string()))?;
        let publish = async {
            if !link.declared().contains(&exchange) {
                declare_exchange(&link.events, &exchange).await?;
                link.declared().insert(exchange.clone());
            }
            let properties = self
                .identity()
                .properties()
                .with_content_type("application/json".into())
                .with_delivery_mode(2) // persistent: a durable queue keeps it across a restart
                .with_message_id(event.id.to_string().into())
                .with_type(event.kind.as_str().into());
            link.events
                .basic_publish(
                    exchange.as_str().into(),
                    "".into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?
                .await
        };
        let confirmation = match tokio::time::timeout(CONFIRM_TIMEOUT, publish).await {
            Err(_) => return Err(BusError::Unavailable("no confirm from the broker".into())),
            Ok(Err(error)) => {
                // A closed events channel leaves this connection unable to publish: replace it.
                if !link.events.status().connected() {
                    link.mark_lost();
                }
                return Err(error.into());
            }
            Ok(Ok(confirmation)) => confirmation,
        };
        match confirmation {
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
            Confirmation::Nack(_) => {
                // The broker nacks only when a queue failed to take the message: on a cluster, a
                // quorum queue whose leader was on a lost node. Seen with RabbitMQ 3.10: the
                // channel that got the nack keeps getting them after the queue has a new leader,
                // while a new channel publishes at once; so the connection is replaced.
                tracing::warn!(exchange = %exchange, "the broker nacked an event; reconnecting");
                link.mark_lost();
                Err(BusError::NotConfirmed)
            }
        }
    }

    pub async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, BusError> {
        let link = self
            .link()
            .ok_or_else(|| BusError::Unavailable("not connected to the broker".into()))?;
        let first = bind(&link, &options, self.durable_queues()).await?;
        let queue = Arc::new(Mutex::new(first.2.clone()));
        let (tx, rx) = mpsc::channel(usize::from(options.prefetch.max(1)));
        let stop = self.shutdown_token().child_token();
        let (renewed, renewals) = tokio::sync::watch::channel(0);
        let subscriber = Subscriber {
            bus: self.clone(),
            options,
            queue: Arc::clone(&queue),
            tx,
            stop: stop.clone(),
            renewed,
        };
        self.tasks().spawn(subscriber.run(first));
        Ok(Subscription::new(Source::Channel(rx), queue, Some(stop)).with_renewals(renewals))
    }
}

/// Acknowledges every delivery up to the newest one owed.
async fn settle(owed: &mut Option<(lapin::Acker, u16)>) {
    if let Some((acker, _)) = owed.take() {
        let options = BasicAckOptions { multiple: true };
        if let Err(error) = acker.ack(options).await {
            tracing::warn!(%error, "could not acknowledge events");
        }
    }
}

/// Declares the exchanges and the queue, binds them, and starts consuming. Returns the queue's
/// name as the broker gave it. A durable queue is of `durable_type`.
async fn bind(
    link: &Link,
    options: &SubscribeOptions,
    durable_type: QueueType,
) -> Result<(Channel, Consumer, String), BusError> {
    let channel = link.connection.create_channel().await?;
    channel
        .basic_qos(options.prefetch.max(1), BasicQosOptions::default())
        .await?;
    let (name, declare) = match &options.queue {
        QueueKind::Anonymous => (
            String::new(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
        ),
        QueueKind::Durable(name) => (
            name.clone(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
        ),
    };
    let mut arguments = FieldTable::default();
    if matches!(options.queue, QueueKind::Durable(_)) && durable_type == QueueType::Quorum {
        arguments.insert("x-queue-type".into(), super::context::long_string("quorum"));
    }
    let queue = channel
        .queue_declare(name.as_str().into(), declare, arguments)
        .await?;
    let name = queue.name().as_str().to_owned();
    for service in &options.services {
        let exchange = events_exchange(service);
        declare_exchange(&channel, &exchange).await?;
        channel
            .queue_bind(
                name.as_str().into(),
                exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let consumer = channel
        .basic_consume(
            name.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer, name))
}

struct Subscriber {
    bus: AmqpBus,
    options: SubscribeOptions,
    queue: Arc<Mutex<String>>,
    /// Bounded by the prefetch: a subscriber that does not keep up stops the broker's deliveries.
    tx: mpsc::Sender<Delivery>,
    /// Cancelled when the subscription is dropped or the bus shuts down.
    stop: CancellationToken,
    /// Counts the times the queue was set up again.
    renewed: tokio::sync::watch::Sender<u64>,
}

impl Subscriber {
    async fn run(self, first: (Channel, Consumer, String)) {
        let mut current = Some(first);
        loop {
            let (channel, consumer) = match current.take() {
                Some((channel, consumer, _)) => (channel, consumer),
                None => match self.resume().await {
                    Some(consuming) => consuming,
                    None => return,
                },
            };
            let queue = self.queue_name();
            let stopped = tokio::select! {
                stopped = self.forward(consumer) => stopped,
                () = super::gone::queue_gone(&channel, &queue) => false,
            };
            if stopped {
                // Closing the channel cancels the consumer: an anonymous queue is deleted, and
                // unacknowledged deliveries of a durable one go back to it.
                let _ = channel.close(200, "unsubscribed".into()).await;
                return;
            }
            tracing::warn!(queue = %self.queue_name(), "subscription lost; subscribing again");
        }
    }

    fn queue_name(&self) -> String {
        crate::lock(&self.queue).clone()
    }

    /// Hands deliveries over until stopped (true) or the consumer breaks (false).
    async fn forward(&self, mut consumer: Consumer) -> bool {
        let stopped = self.stop.cancelled();
        tokio::pin!(stopped);
        // An anonymous queue's deliveries are acknowledged together: the newest one, with
        // `multiple`, once half the prefetch is owed or nothing more is waiting. One ack a batch
        // instead of one an event is broker work saved on the busiest path, and the prefetch
        // still bounds what the broker sends ahead.
        let batch = (self.options.prefetch / 2).max(1);
        let mut owed: Option<(lapin::Acker, u16)> = None;
        loop {
            let delivery = match consumer.next().now_or_never() {
                Some(delivery) => delivery,
                None => {
                    settle(&mut owed).await;
                    tokio::select! {
                        () = &mut stopped => return true,
                        () = self.tx.closed() => return true,
                        delivery = consumer.next() => delivery,
                    }
                }
            };
            let delivery = match delivery {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => {
                    tracing::warn!(%error, "event consumer failed");
                    return false;
                }
                None => return false,
            };
            let event = match serde_json::from_slice::<Event>(&delivery.data) {
                Ok(event) => event,
                Err(error) => {
                    // Redelivering it would fail the same way: drop it, loudly.
                    tracing::error!(%error, exchange = %delivery.exchange, "unreadable event dropped");
                    let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                    continue;
                }
            };
            let acker = match self.options.queue {
                QueueKind::Anonymous => {
                    let covered = owed.take().map_or(0, |(_, covered)| covered) + 1;
                    owed = Some((delivery.acker, covered));
                    if covered >= batch {
                        settle(&mut owed).await;
                    }
                    Acker::Done
                }
                QueueKind::Durable(_) => Acker::Amqp(delivery.acker),
            };
            let delivery = Delivery {
                event: std::sync::Arc::new(event),
                redelivered: delivery.redelivered,
                acker,
            };
            tokio::select! {
                () = &mut stopped => return true,
                sent = self.tx.send(delivery) => if sent.is_err() { return true },
            }
        }
    }

    async fn resume(&self) -> Option<(Channel, Consumer)> {
        let mut delay = Duration::from_millis(100);
        loop {
            let link = self.bus.next_link(&self.stop).await?;
            match bind(&link, &self.options, self.bus.durable_queues()).await {
                Ok((channel, consumer, name)) => {
                    tracing::info!(queue = %name, "subscribed again");
                    *crate::lock(&self.queue) = name;
                    self.renewed.send_modify(|count| *count += 1);
                    return Some((channel, consumer));
                }
                Err(error) => tracing::warn!(%error, "cannot subscribe yet"),
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}
