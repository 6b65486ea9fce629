//! The bus over RabbitMQ (lapin): one connection per process, re-established by a supervisor.
//!
//! We do not use lapin's automatic recovery: it cannot redeclare a server-named exclusive queue,
//! gives up after a fixed number of attempts, and leaves publishes failing with
//! `InvalidChannelState` while it works. Instead a supervisor owns the connection as a [`Link`]
//! and publishes the current one on a watch channel (`None` while the broker is away). Every
//! component (the RPC client's reply consumer, each server, each subscriber) sets its own topology
//! up on each new link, so recovery is the same code path as start-up.
//!
//! - [`rpc`]: calls over direct reply-to, and servers on `<service>.rpc`.
//! - [`events`]: publishing with confirms, anonymous and durable subscriptions.
//! - [`identity`]: the broker user every message is published as, and whose word a server takes
//!   for a player.
//! - [`nodes`]: the nodes of a cluster, and which one the next connection tries.

mod acks;
mod context;
mod events;
mod gone;
mod identity;
mod nodes;
mod routes;
mod rpc;

pub(crate) use nodes::split as split_nodes;

use crate::error::BusError;
use crate::lock;
use futures_util::StreamExt;
use identity::Identity;
use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The pseudo-queue RabbitMQ offers for direct reply-to.
const REPLY_TO: &str = "amq.rabbitmq.reply-to";
/// How often the broker's returns are collected while calls are in flight: the longest a call to
/// a service with no running instance waits before it fails with `unavailable`.
const RETURNS_POLL: Duration = Duration::from_millis(5);
/// Reconnect attempts back off from this...
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// ...to at most this, and keep trying for as long as the process runs.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct AmqpBus {
    inner: Arc<Inner>,
}

struct Inner {
    nodes: nodes::Nodes,
    name: String,
    /// The type durable subscriptions' queues are declared with.
    durable_queues: crate::QueueType,
    /// The broker user this process publishes as, and the gateway's.
    identity: Arc<Identity>,
    /// The live connection, or `None` while reconnecting.
    link: watch::Sender<Option<Arc<Link>>>,
    /// Cancelled first at shutdown: servers and subscribers stop taking work.
    shutdown: CancellationToken,
    /// Servers and subscribers, waited for before the connection closes.
    tasks: TaskTracker,
    /// Cancelled once the components are done: the supervisor closes the connection.
    close: CancellationToken,
    supervisor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    reconnects: AtomicU64,
}

/// One connection to the broker and the channels shared by every caller in the process.
pub(crate) struct Link {
    connection: Connection,
    /// Publishes requests and consumes their replies from direct reply-to on the same channel,
    /// as RabbitMQ requires. No publisher confirms here: they cost a fifth of the throughput, and
    /// the reply itself confirms a request; an unroutable one comes back as a `basic.return`.
    calls: Channel,
    /// Correlation id → the caller waiting for that reply.
    pending: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// Wakes the returns watcher when a call starts.
    calling: Notify,
    /// Correlation ids are this link's random prefix and a counter: unique without a random
    /// number per call.
    id_prefix: String,
    next_id: AtomicU64,
    /// Publishes events, with confirms.
    events: Channel,
    /// Exchanges declared on this connection, so each is declared once per link.
    declared: Mutex<HashSet<String>>,
    /// Cancelled when this connection is found broken.
    lost: CancellationToken,
}

impl Link {
    async fn open(url: &str, name: &str) -> Result<Arc<Link>, lapin::Error> {
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let connection = Connection::connect(url, properties).await?;
        let calls = connection.create_channel().await?;
        let replies = calls
            .basic_consume(
                REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let events = connection.create_channel().await?;
        events
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let link = Arc::new(Link {
            connection,
            calls,
            pending: Mutex::default(),
            calling: Notify::new(),
            id_prefix: uuid::Uuid::new_v4().simple().to_string(),
            next_id: AtomicU64::new(0),
            events,
            declared: Mutex::default(),
            lost: CancellationToken::new(),
        });
        Ok(link).inspect(|link: &Arc<Link>| {
            tokio::spawn(read_replies(Arc::clone(link), replies));
            tokio::spawn(watch_returns(Arc::clone(link)));
            tokio::spawn(watch_connection(Arc::clone(link)));
        })
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Marks the link broken and fails every call waiting on it: their replies can no longer come.
    fn mark_lost(&self) {
        self.lost.cancel();
        lock(&self.pending).clear();
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<Answer>>> {
        lock(&self.pending)
    }

    /// Registers a call and returns its correlation id and where its answer will arrive.
    fn start_call(&self) -> (String, oneshot::Receiver<Answer>) {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", self.id_prefix);
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id.clone(), tx);
        self.calling.notify_one();
        (id, rx)
    }

    fn declared(&self) -> MutexGuard<'_, HashSet<String>> {
        lock(&self.declared)
    }
}

/// Hands each reply to the call waiting for it. Ends, and marks the link lost, when the consumer
/// does: that only happens when the channel or connection broke.
async fn read_replies(link: Arc<Link>, mut replies: lapin::Consumer) {
    // Made once: a fresh `cancelled()` per reply would register a waiter per reply.
    let lost = link.lost.cancelled();
    tokio::pin!(lost);
    loop {
        tokio::select! {
            () = &mut lost => return,
            delivery = replies.next() => match delivery {
                Some(Ok(delivery)) => {
                    let Some(id) = delivery.properties.correlation_id() else { continue };
                    let waiting = link.pending().remove(id.as_str());
                    match waiting {
                        Some(tx) => { let _ = tx.send(Answer::Reply(delivery.data)); }
                        None => tracing::debug!(correlation_id = %id, "a reply came after its caller gave up"),
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "reply consumer failed");
                    break;
                }
                None => break,
            },
        }
    }
    link.mark_lost();
}

/// What ends a call on this link, besides its deadline.
pub(crate) enum Answer {
    Reply(Vec<u8>),
    /// The broker returned the request: no queue of that name, so no instance serves it.
    Returned,
}

/// Fails the calls whose requests the broker returned as unroutable.
///
/// Outside confirm mode lapin keeps returned messages until asked, so while calls are in flight
/// this asks every few milliseconds; with none in flight it sleeps until one starts.
async fn watch_returns(link: Arc<Link>) {
    loop {
        if link.pending().is_empty() {
            tokio::select! {
                () = link.lost.cancelled() => return,
                () = link.calling.notified() => {}
            }
        }
        tokio::select! {
            () = link.lost.cancelled() => return,
            () = tokio::time::sleep(RETURNS_POLL) => {}
        }
        let Ok(returned) = link.calls.wait_for_confirms().await else {
            continue;
        };
        for message in returned {
            let Some(id) = message.properties.correlation_id() else {
                continue;
            };
            if let Some(tx) = link.pending().remove(id.as_str()) {
                let _ = tx.send(Answer::Returned);
            }
        }
    }
}

/// Marks the link lost on the first connection-level error lapin reports.
async fn watch_connection(link: Arc<Link>) {
    let mut events = link.connection.events_listener();
    loop {
        tokio::select! {
            () = link.lost.cancelled() => return,
            event = events.next() => match event {
                Some(lapin::Event::Error(error)) => {
                    tracing::warn!(%error, "broker connection failed");
                    break;
                }
                Some(lapin::Event::ConnectionBlocked(reason)) => {
                    tracing::warn!(%reason, "broker blocked publishing");
                }
                Some(lapin::Event::ConnectionUnblocked) => tracing::info!("broker unblocked publishing"),
                Some(_) => {}
                None => break,
            },
        }
    }
    link.mark_lost();
}

impl AmqpBus {
    /// Connects, failing if the broker cannot be reached now; afterwards the connection is kept up
    /// for as long as the bus lives.
    pub async fn connect(options: &crate::ConnectOptions) -> Result<Self, BusError> {
        let name = options.name.as_str();
        let nodes = nodes::Nodes::new(&options.url);
        let identity = Identity::new(nodes.first(), options.gateway_user.as_deref())?;
        let (link, url) = nodes
            .open(name)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot connect to the broker: {e}")))?;
        let broker = redact(url);
        let (tx, _) = watch::channel(Some(Arc::clone(&link)));
        let bus = AmqpBus {
            inner: Arc::new(Inner {
                nodes,
                name: name.to_owned(),
                durable_queues: options.queue_type(),
                identity: Arc::new(identity),
                link: tx,
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                close: CancellationToken::new(),
                supervisor: Mutex::default(),
                reconnects: AtomicU64::new(0),
            }),
        };
        let supervisor = bus.clone();
        let handle = tokio::spawn(async move { supervisor.supervise(link).await });
        *lock(&bus.inner.supervisor) = Some(handle);
        tracing::info!(%broker, "connected to the broker");
        Ok(bus)
    }

    pub(crate) fn identity(&self) -> &Arc<Identity> {
        &self.inner.identity
    }

    /// The current link, if it is alive.
    pub(crate) fn link(&self) -> Option<Arc<Link>> {
        self.inner
            .link
            .borrow()
            .as_ref()
            .filter(|link| !link.is_lost())
            .cloned()
    }

    /// Waits for a live link; `None` once the bus or `stop` is shutting down.
    pub(crate) async fn next_link(&self, stop: &CancellationToken) -> Option<Arc<Link>> {
        let mut rx = self.inner.link.subscribe();
        loop {
            if let Some(link) = rx.borrow_and_update().as_ref().filter(|l| !l.is_lost()) {
                return Some(Arc::clone(link));
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                changed = rx.changed() => if changed.is_err() { return None },
            }
        }
    }

    pub(crate) fn durable_queues(&self) -> crate::QueueType {
        self.inner.durable_queues
    }

    pub fn is_connected(&self) -> bool {
        self.link().is_some()
    }

    pub fn reconnects(&self) -> u64 {
        self.inner.reconnects.load(Ordering::Relaxed)
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    async fn supervise(&self, mut link: Arc<Link>) {
        let shutdown = &self.inner.close;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = link.lost.cancelled() => {}
            }
            self.inner.link.send_replace(None);
            link.mark_lost();
            tracing::warn!("lost the broker connection; reconnecting");
            let mut delay = BACKOFF_MIN;
            link = loop {
                match self.inner.nodes.open(&self.inner.name).await {
                    Ok((new, url)) => {
                        tracing::info!(broker = %redact(url), "reconnected to the broker");
                        break new;
                    }
                    Err(error) => tracing::warn!(%error, retry_in = ?delay, "reconnect failed"),
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(BACKOFF_MAX);
            };
            self.inner.reconnects.fetch_add(1, Ordering::Relaxed);
            self.inner.link.send_replace(Some(Arc::clone(&link)));
            metrics::counter!(crate::series::RECONNECTS).increment(1);
        }
        // Servers and subscribers have stopped (see `shutdown`): close cleanly.
        link.mark_lost();
        let _ = link.connection.close(200, "shutdown".into()).await;
    }

    /// Stops every server and subscriber (each finishes and acknowledges what it holds), then
    /// closes the connection.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        self.inner.close.cancel();
        let supervisor = lock(&self.inner.supervisor).take();
        if let Some(supervisor) = supervisor {
            let _ = supervisor.await;
        }
    }
}

/// The URL without its password, for logs; each node of a list so.
pub(crate) fn redact(url: &str) -> String {
    if url.contains(',') {
        return split_nodes(url)
            .into_iter()
            .map(redact)
            .collect::<Vec<_>>()
            .join(",");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(
            redact("amqp://u:a@n1:5681/v, amqp://u:b@n2:5682/v"),
            "amqp://u:***@n1:5681/v,amqp://u:***@n2:5682/v"
        );
    }
}
