//! RPC over RabbitMQ, as the design's conventions say: requests to `<service>.rpc` through the
//! default exchange with direct reply-to, `mandatory` (no queue → `unavailable` at once) and an
//! `expiration` equal to the deadline; servers as competing consumers with bounded prefetch that
//! acknowledge a request only after its reply is published.

use super::acks::{AckSender, Acks};
use super::context::{self, long_string};
use super::identity::Identity;
use super::{AmqpBus, Answer, Link, REPLY_TO};
use crate::error::{BusError, CallError};
use crate::rpc::{InFlight, OutgoingCall, Router, ServeOptions, ServerHandle};
use futures_util::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Consumer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use warren_contracts::event::now_millis;
use warren_contracts::rpc::{route_exchange, rpc_queue};

/// Removes a call's entry from the pending map however the call ends (reply, timeout, or the
/// caller's future dropped), so the map never keeps callers that stopped waiting.
struct Pending<'a> {
    link: &'a Link,
    id: String,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.link.pending().remove(&self.id);
    }
}

impl AmqpBus {
    pub async fn call(&self, call: OutgoingCall) -> Result<Vec<u8>, CallError> {
        let Some(link) = self.link() else {
            return Err(CallError::Unavailable("not connected to the broker".into()));
        };
        let deadline = Instant::now() + call.timeout;
        let (id, rx) = link.start_call();
        let _pending = Pending {
            link: &link,
            id: id.clone(),
        };
        let queue = rpc_queue(&call.service);
        let exchange = async {
            match &call.route {
                Some(key) => {
                    super::routes::ensure_declared(&link, &call.service)
                        .await
                        .map_err(|e| CallError::Unavailable(e.to_string()))?;
                    let exchange = route_exchange(&call.service);
                    publish_request(&link, self.identity(), &exchange, key, &id, &call).await?;
                }
                None => publish_request(&link, self.identity(), "", &queue, &id, &call).await?,
            }
            match rx.await {
                Ok(Answer::Reply(body)) => Ok(body),
                Ok(Answer::Returned) => Err(CallError::Unavailable(format!(
                    "no instance serves {queue}"
                ))),
                Err(_) => Err(CallError::Unavailable(
                    "the broker connection was lost".into(),
                )),
            }
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout(call.timeout)),
        }
    }
}

/// Publishes a request to `exchange` under `routing_key` (the default exchange and the queue's
/// name, unless routed).
async fn publish_request(
    link: &Link,
    identity: &Identity,
    exchange: &str,
    routing_key: &str,
    id: &str,
    call: &OutgoingCall,
) -> Result<(), CallError> {
    // The broker drops a request that waits longer than its caller will (`expiration`); the
    // server drops one whose absolute deadline passed (`x-deadline`, see `context::headers`).
    let expiration = call.timeout.as_millis().max(1).to_string();
    // No content type: every body is JSON, and `expiration` makes the broker decode every
    // property of every request.
    let properties = identity
        .properties()
        .with_correlation_id(id.into())
        .with_reply_to(REPLY_TO.into())
        .with_expiration(expiration.into())
        .with_type(call.method.as_str().into())
        .with_headers(context::headers(call));
    let unavailable = |e: lapin::Error| {
        // A broken calls channel leaves this connection unable to call: replace it.
        if !link.calls.status().connected() {
            link.mark_lost();
        }
        CallError::Unavailable(e.to_string())
    };
    link.calls
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            &call.body,
            properties,
        )
        .await
        .map_err(unavailable)?;
    Ok(())
}

impl AmqpBus {
    pub async fn serve(
        &self,
        router: Router,
        options: ServeOptions,
    ) -> Result<ServerHandle, BusError> {
        let link = self
            .link()
            .ok_or_else(|| BusError::Unavailable("not connected to the broker".into()))?;
        let queue = rpc_queue(router.queue_name());
        let shape = Shape::of(&router, &options);
        let first = consume(&link, &queue, options.prefetch, &shape).await?;
        let stop = self.shutdown_token().child_token();
        let (done_tx, done) = oneshot::channel();
        let server = Server {
            bus: self.clone(),
            router: Arc::new(router),
            queue,
            options,
            stop: stop.clone(),
            in_flight: InFlight::default(),
        };
        self.tasks().spawn(async move {
            server.run(first).await;
            let _ = done_tx.send(());
        });
        Ok(ServerHandle { stop, done })
    }
}

/// How a server's queue is declared.
#[derive(Debug, Clone, Default)]
struct Shape {
    /// The service whose unrouted calls the (shared) queue also takes.
    routed: Option<String>,
    /// The service whose instance owns this queue (see [`Router::serving_as`]).
    own_of: Option<String>,
}

impl Shape {
    fn of(router: &Router, options: &ServeOptions) -> Self {
        let own = router.queue_name() != router.service();
        Self {
            routed: options.routed.then(|| router.service().to_owned()),
            own_of: own.then(|| router.service().to_owned()),
        }
    }
}

/// An instance's own queue outlives a dead instance for this long, so that what was on its way to
/// it is not dropped with it...
const OWN_QUEUE_EXPIRES_MS: i64 = 60_000;
/// ...and what waits in it this long goes on to the service's shared queue: a dead instance's
/// requests, held or queued, are handled elsewhere a second later instead of being lost.
const OWN_QUEUE_MESSAGE_TTL_MS: i64 = 1_000;

/// Declares the queue and starts consuming it on a channel of its own. A service queue is
/// auto-delete (it exists while some instance serves it), and with `routed` also takes the
/// service's unrouted calls. An instance's own queue is not auto-delete: it expires a minute after
/// its instance is gone, and dead-letters what waits in it for a second to the service's
/// unrouted calls, that is to the shared queue.
///
/// Neither is durable: what they hold are calls whose callers wait seconds at most, and in a
/// cluster a durable classic queue whose node is down refuses every redeclare until the node is
/// back, stopping the service; a transient one goes with its node and is declared again on a
/// live one by the instances that reconnect there, so a lost node costs only the calls on it.
async fn consume(
    link: &Link,
    queue: &str,
    prefetch: u16,
    shape: &Shape,
) -> Result<(Channel, Consumer), BusError> {
    let channel = link.connection.create_channel().await?;
    channel
        .basic_qos(prefetch.max(1), BasicQosOptions::default())
        .await?;
    let mut arguments = FieldTable::default();
    if let Some(service) = &shape.own_of {
        super::routes::declare(&channel, service).await?;
        let unrouted = warren_contracts::rpc::unrouted_exchange(service);
        arguments.insert("x-dead-letter-exchange".into(), long_string(&unrouted));
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(OWN_QUEUE_EXPIRES_MS),
        );
        arguments.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(OWN_QUEUE_MESSAGE_TTL_MS),
        );
    }
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: false,
                auto_delete: shape.own_of.is_none(),
                ..Default::default()
            },
            arguments,
        )
        .await?;
    if let Some(service) = &shape.routed {
        super::routes::take_unrouted(&channel, service, queue).await?;
    }
    let consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

struct Server {
    bus: AmqpBus,
    router: Arc<Router>,
    queue: String,
    options: ServeOptions,
    stop: CancellationToken,
    /// Requests being handled; waited for before the channel closes at shutdown.
    in_flight: InFlight,
}

impl Server {
    async fn run(self, first: (Channel, Consumer)) {
        let mut current = Some(first);
        loop {
            let (channel, consumer) = match current.take() {
                Some(consuming) => consuming,
                None => match self.resume().await {
                    Some(consuming) => consuming,
                    None => break,
                },
            };
            let acks = Acks::start(channel.clone());
            if self.serve(&channel, consumer, &acks).await {
                // Stopping: the consumer is cancelled, so answer and ack what we hold, then close.
                self.in_flight
                    .drain(self.options.shutdown_grace, &self.queue)
                    .await;
                acks.finish().await;
                let _ = channel.close(200, "stopping".into()).await;
                return;
            }
            tracing::warn!(queue = %self.queue, "lost the service queue; consuming again");
        }
        self.in_flight
            .drain(self.options.shutdown_grace, &self.queue)
            .await;
    }

    /// Consumes until stopped (returns true) or until the consumer breaks (false).
    async fn serve(&self, channel: &Channel, mut consumer: Consumer, acks: &Acks) -> bool {
        let stopped = self.stop.cancelled();
        tokio::pin!(stopped);
        let gone = super::gone::queue_gone(channel, &self.queue);
        tokio::pin!(gone);
        let channel = Arc::new(channel.clone());
        loop {
            tokio::select! {
                () = &mut gone => return false,
                () = &mut stopped => {
                    let _ = channel
                        .basic_cancel(consumer.tag(), BasicCancelOptions::default())
                        .await;
                    return true;
                }
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => {
                        let request = handle(
                            Arc::clone(&self.router),
                            Arc::clone(self.bus.identity()),
                            Arc::clone(&channel),
                            acks.sender(),
                            delivery,
                        );
                        self.in_flight.spawn(request);
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, queue = %self.queue, "consumer failed");
                        return false;
                    }
                    None => return false,
                },
            }
        }
    }

    /// Waits for a live connection and consumes the queue again; `None` when stopping.
    async fn resume(&self) -> Option<(Channel, Consumer)> {
        let mut delay = Duration::from_millis(100);
        loop {
            let link = self.bus.next_link(&self.stop).await?;
            let shape = Shape::of(&self.router, &self.options);
            match consume(&link, &self.queue, self.options.prefetch, &shape).await {
                Ok(consuming) => {
                    tracing::info!(queue = %self.queue, "serving again");
                    return Some(consuming);
                }
                Err(error) => tracing::warn!(%error, queue = %self.queue, "cannot consume yet"),
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

async fn handle(
    router: Arc<Router>,
    identity: Arc<Identity>,
    channel: Arc<Channel>,
    acks: AckSender,
    delivery: lapin::message::Delivery,
) {
    let tag = delivery.delivery_tag;
    let properties = &delivery.properties;
    let ctx = context::read(&delivery, now_millis());
    let correlation_id = properties.correlation_id().clone();
    let reply_to = properties.reply_to().clone();
    let span = tracing::info_span!(
        "rpc.handle",
        service = router.service(),
        method = %ctx.method,
        request_id = ctx.request_id.as_deref().unwrap_or(""),
        correlation_id = correlation_id.as_ref().map_or("", ShortString::as_str),
    );
    ctx.trace.continue_in(&span);
    async move {
        if ctx.expired() {
            tracing::debug!("dropping a request whose deadline passed");
        } else {
            let reply = match identity.admit(&ctx, &delivery.properties) {
                Ok(()) => router.dispatch(ctx, delivery.data).await,
                Err(refusal) => router.refuse(&ctx, refusal),
            };
            if let Some(reply_to) = reply_to {
                let mut reply_properties = identity
                    .properties()
                    .with_content_type("application/json".into());
                if let Some(id) = correlation_id {
                    reply_properties = reply_properties.with_correlation_id(id);
                }
                let published = channel
                    .basic_publish(
                        "".into(),
                        reply_to,
                        BasicPublishOptions::default(),
                        &reply,
                        reply_properties,
                    )
                    .await;
                if let Err(error) = published {
                    // Back to the queue: another instance may be able to answer.
                    tracing::warn!(%error, "could not publish the reply");
                    acks.requeue(tag);
                    return;
                }
            }
        }
        acks.ack(tag);
    }
    .instrument(span)
    .await;
}
