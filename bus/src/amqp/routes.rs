//! Calls routed by key over RabbitMQ: `<service>.route`, a direct exchange whose alternate
//! exchange `<service>.unrouted` (fanout) feeds the service's shared queue. An instance binds its
//! own queue there under a key (a sessions instance: the sessions it owns); a call with that key
//! reaches it alone, and a call with a key nobody bound reaches any instance, with no extra round
//! trip: the broker does the falling back.

use super::{AmqpBus, Link};
use crate::error::BusError;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};
use warren_contracts::rpc::{route_exchange, rpc_queue, unrouted_exchange};

/// Declares the two exchanges of `service`'s routes (the same arguments everywhere, so declaring
/// again is harmless).
pub(super) async fn declare(channel: &Channel, service: &str) -> Result<(), lapin::Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let unrouted = unrouted_exchange(service);
    channel
        .exchange_declare(
            unrouted.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString(LongString::from(unrouted.into_bytes())),
    );
    channel
        .exchange_declare(
            route_exchange(service).as_str().into(),
            ExchangeKind::Direct,
            durable,
            arguments,
        )
        .await
}

/// Declares `service`'s routes once per connection, on the calls channel.
pub(super) async fn ensure_declared(link: &Link, service: &str) -> Result<(), lapin::Error> {
    let mark = format!("route:{service}");
    if link.declared().contains(&mark) {
        return Ok(());
    }
    declare(&link.calls, service).await?;
    link.declared().insert(mark);
    Ok(())
}

/// Takes the calls nobody bound a key for on `queue`, the shared queue of `service`.
pub(super) async fn take_unrouted(
    channel: &Channel,
    service: &str,
    queue: &str,
) -> Result<(), lapin::Error> {
    declare(channel, service).await?;
    channel
        .queue_bind(
            queue.into(),
            unrouted_exchange(service).as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

impl AmqpBus {
    /// Binds `key` on `service`'s routes to the queue of `queue_service` (an instance's own).
    pub async fn bind_route(
        &self,
        service: &str,
        key: &str,
        queue_service: &str,
        bind: bool,
    ) -> Result<(), BusError> {
        let link = self
            .link()
            .ok_or_else(|| BusError::Unavailable("not connected to the broker".into()))?;
        // A channel of its own: a failed bind (the queue gone in a reconnect) closes it, and
        // must not close the channel calls go out on.
        let channel = link.connection.create_channel().await?;
        let queue = rpc_queue(queue_service);
        let exchange = route_exchange(service);
        let result = async {
            declare(&channel, service).await?;
            if bind {
                channel
                    .queue_bind(
                        queue.as_str().into(),
                        exchange.as_str().into(),
                        key.into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
            } else {
                channel
                    .queue_unbind(
                        queue.as_str().into(),
                        exchange.as_str().into(),
                        key.into(),
                        FieldTable::default(),
                    )
                    .await
            }
        }
        .await;
        let _ = channel.close(200, "done".into()).await;
        result.map_err(BusError::from)
    }
}
