//! Warren's message bus: typed request/reply RPC and fanout events, over RabbitMQ or in process.
//!
//! Every service speaks to every other through a [`Bus`]. Over RabbitMQ it follows the design's
//! conventions (`<service>.rpc` queues with direct reply-to, `<service>.events` fanout exchanges)
//! and reconnects by itself; in process it keeps the same semantics without a broker, for the
//! embedded mode and fast tests.
//!
//! ```text
//! lib.rs      Bus: the one handle services hold; picks the transport; lock, for poisoned mutexes
//! call.rs     CallOptions, and the call a transport carries
//! rpc.rs      RequestContext, Router (typed handlers)
//! serve.rs    ServeOptions, ServerHandle, the requests a server is handling
//! events.rs   SubscribeOptions, Subscription, Delivery (ack)
//! journal/    numbering and keeping each user's events, for events.resume
//! replies.rs  replies remembered by request id, for requests delivered again
//! error.rs    CallError, BusError: each maps to a stable ErrorCode
//! series.rs   the metrics it records, declared at start
//! amqp/       the RabbitMQ transport: connection supervisor, rpc, events
//! memory/     the in-process transport
//! ```

mod amqp;
mod call;
pub mod error;
pub mod events;
pub mod journal;
mod memory;
pub mod replies;
pub mod rpc;
pub mod series;
mod serve;
pub mod trace;

pub use error::{BusError, CallError};
pub use events::{Delivery, QueueKind, Renewals, SubscribeOptions, Subscription};
pub use rpc::{CallOptions, RequestContext, Router, ServeOptions, ServerHandle};
pub use warren_contracts as contracts;

use journal::{JournalStore, MemoryJournal, ResumeConfig};
use replies::{MemoryReplies, ReplyStore};
use serde::Serialize;
use std::sync::Arc;
use warren_contracts::{Event, Method, Reply};

/// How to reach RabbitMQ, for [`Bus::connect_with`].
#[derive(Clone)]
pub struct ConnectOptions {
    /// `amqp://user:password@host:port/vhost`, or the nodes of a cluster so, separated by commas
    /// (one user for all). Every message published on the connection carries this user as its
    /// AMQP `user_id`, which the broker checks.
    pub url: String,
    /// Shown in the broker's connection list.
    pub name: String,
    /// The broker user whose requests may act for a player (carry `x-user-id`): the gateway's.
    /// `None`: this connection's own user, as when one user runs everything.
    pub gateway_user: Option<String>,
    /// The type of the durable subscriptions' queues. `None`: quorum queues when `url` names
    /// several nodes, classic queues for one.
    pub durable_queues: Option<QueueType>,
}

/// The type of a durable subscription's queue, the events a service must not miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    /// Lives on one node: the one choice for a single broker, and what queues declared before
    /// this setting are (a queue's type cannot change while it exists).
    Classic,
    /// Replicated over a cluster's nodes: it outlives the loss of any one of them.
    Quorum,
}

impl ConnectOptions {
    /// Whether `url` is a broker URL this bus can connect with, judged by the parser that will
    /// read it, so that a binary can refuse a malformed one at start instead of retrying it.
    /// The error says what is wrong without repeating the URL, which may hold a password.
    /// A cluster's nodes, separated by commas, are each checked, and must name one broker user.
    pub fn check_url(list: &str) -> Result<(), String> {
        let urls = amqp::split_nodes(list);
        let mut users = std::collections::BTreeSet::new();
        for (index, url) in urls.iter().enumerate() {
            let which = if urls.len() > 1 {
                format!("node {}: ", index + 1)
            } else {
                String::new()
            };
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                return Err(format!("{which}must start with amqp:// or amqps://"));
            }
            let uri = url.parse::<lapin::uri::AMQPUri>().map_err(|error| {
                if error.contains(url) {
                    format!("{which}does not parse as a URL")
                } else {
                    format!("{which}does not parse: {error}")
                }
            })?;
            users.insert(uri.authority.userinfo.username);
        }
        match users.len() {
            0 => Err("names no broker".into()),
            1 => Ok(()),
            _ => Err("the nodes name different users; a process is one broker user".into()),
        }
    }

    pub fn new(url: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: name.into(),
            gateway_user: None,
            durable_queues: None,
        }
    }

    /// Declares durable subscriptions' queues of this type (`None`: see [`Self::durable_queues`]).
    pub fn durable_queues(mut self, queue_type: Option<QueueType>) -> Self {
        self.durable_queues = queue_type;
        self
    }

    /// The type durable subscriptions' queues are declared with.
    pub fn queue_type(&self) -> QueueType {
        self.durable_queues.unwrap_or_else(|| {
            if amqp::split_nodes(&self.url).len() > 1 {
                QueueType::Quorum
            } else {
                QueueType::Classic
            }
        })
    }

    /// Serves calls on a player's behalf only from `user` (`None`: this connection's own).
    pub fn gateway_user(mut self, user: Option<String>) -> Self {
        self.gateway_user = user;
        self
    }
}

/// Without the URL's password: these options end up in logs.
impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("url", &amqp::redact(&self.url))
            .field("name", &self.name)
            .field("gateway_user", &self.gateway_user)
            .field("durable_queues", &self.durable_queues)
            .finish()
    }
}

/// A handle on the bus; cheap to clone, shared by everything in a process.
#[derive(Clone)]
pub struct Bus {
    transport: Transport,
    /// Numbers and keeps events for users as they are published.
    journal: Arc<dyn JournalStore>,
    /// Remembers the replies of the requests this process serves.
    replies: Arc<dyn ReplyStore>,
}

#[derive(Clone)]
enum Transport {
    Amqp(amqp::AmqpBus),
    Memory(memory::MemoryBus),
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.transport {
            Transport::Amqp(_) => "amqp",
            Transport::Memory(_) => "in-process",
        };
        f.debug_struct("Bus").field("transport", &kind).finish()
    }
}

impl Bus {
    /// Connects to RabbitMQ at `url`; `name` shows in the broker's connection list. Fails if the
    /// broker cannot be reached now; once connected, the bus reconnects by itself for good.
    /// Its journal is in memory until [`Bus::with_journal`] gives it the deployment's.
    /// Calls on a player's behalf are served only from this connection's own broker user; see
    /// [`Bus::connect_with`] to trust another (the gateway's).
    pub async fn connect(url: &str, name: &str) -> Result<Self, BusError> {
        Self::connect_with(&ConnectOptions::new(url, name)).await
    }

    /// Connects to RabbitMQ as `options` say; otherwise as [`Bus::connect`].
    pub async fn connect_with(options: &ConnectOptions) -> Result<Self, BusError> {
        series::declare_bus();
        Ok(Self {
            transport: Transport::Amqp(amqp::AmqpBus::connect(options).await?),
            journal: Arc::new(MemoryJournal::new(ResumeConfig::default())),
            replies: Arc::new(MemoryReplies::new()),
        })
    }

    /// A bus that lives in this process only, with its journal in memory.
    pub fn in_process() -> Self {
        series::declare_bus();
        Self {
            transport: Transport::Memory(memory::MemoryBus::new()),
            journal: Arc::new(MemoryJournal::new(ResumeConfig::default())),
            replies: Arc::new(MemoryReplies::new()),
        }
    }

    /// The same bus with `journal`: every process of a deployment must share one, so that a
    /// user's events are numbered in one sequence whoever publishes them.
    pub fn with_journal(mut self, journal: Arc<dyn JournalStore>) -> Self {
        self.journal = journal;
        self
    }

    /// The same bus remembering served replies in `replies`: every instance of a service must
    /// share one, since a request comes back to another instance than the one that died.
    pub fn with_replies(mut self, replies: Arc<dyn ReplyStore>) -> Self {
        self.replies = replies;
        self
    }

    /// Where published events are numbered and kept.
    pub fn journal(&self) -> &Arc<dyn JournalStore> {
        &self.journal
    }

    /// Calls method `M` and decodes its result.
    pub async fn call<M: Method>(
        &self,
        params: &M::Params,
        options: CallOptions,
    ) -> Result<M::Result, CallError> {
        let body = encode(params)?;
        let reply = self.call_bytes(M::SERVICE, M::NAME, body, &options).await?;
        decode::<M::Result>(&reply)
    }

    /// Calls a method known only by name, with JSON parameters: what the gateway does for
    /// client requests.
    pub async fn call_json(
        &self,
        service: &str,
        method: &str,
        params: &serde_json::Value,
        options: CallOptions,
    ) -> Result<serde_json::Value, CallError> {
        let body = encode(params)?;
        let reply = self.call_bytes(service, method, body, &options).await?;
        decode::<serde_json::Value>(&reply)
    }

    async fn call_bytes(
        &self,
        service: &str,
        method: &str,
        body: Vec<u8>,
        options: &CallOptions,
    ) -> Result<Vec<u8>, CallError> {
        let call_started = std::time::Instant::now();
        // At debug: exported traces include it (see warren_runtime::logging), logs at info do not
        // pay for it.
        let span = tracing::debug_span!(
            "rpc.call",
            service,
            method,
            request_id = options.request_id.as_deref().unwrap_or(""),
        );
        let trace = trace::TraceHeaders::of(&span);
        let call = rpc::OutgoingCall::new(service, method, body, options, trace);
        let result = match &self.transport {
            Transport::Amqp(bus) => tracing::Instrument::instrument(bus.call(call), span).await,
            Transport::Memory(bus) => tracing::Instrument::instrument(bus.call(call), span).await,
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(error) => {
                tracing::debug!(service, method, %error, "call failed");
                error.code().as_str()
            }
        };
        let labels = [
            ("service", service.to_owned()),
            ("method", method.to_owned()),
        ];
        metrics::histogram!(series::CALL_SECONDS, &labels)
            .record(call_started.elapsed().as_secs_f64());
        let [service, method] = labels;
        metrics::counter!(
            series::CALLS,
            &[service, method, ("outcome", outcome.to_owned())]
        )
        .increment(1);
        result
    }

    /// Starts serving `router`'s methods on `<service>.rpc`. Several instances of one service
    /// share the work.
    pub async fn serve(
        &self,
        router: Router,
        options: ServeOptions,
    ) -> Result<ServerHandle, BusError> {
        series::declare_served(&router);
        let router = router.remembering(Arc::clone(&self.replies));
        match &self.transport {
            Transport::Amqp(bus) => bus.serve(router, options).await,
            Transport::Memory(bus) => bus.serve(router, options).await,
        }
    }

    /// Publishes `event` on `<service>.events` and waits for the broker to take it. An event for
    /// users is numbered in the journal first; if the journal cannot be reached, nothing is
    /// published and the error says so.
    pub async fn publish(&self, service: &str, event: &Event) -> Result<(), BusError> {
        let numbered;
        let event = if event.recipients.is_empty() || !event.seqs.is_empty() {
            event
        } else {
            let now = warren_contracts::event::now_millis();
            let seqs = self
                .journal
                .append(std::slice::from_ref(event), now)
                .await
                .map_err(|e| BusError::Unavailable(e.to_string()))?;
            let mut copy = event.clone();
            copy.seqs = seqs.into_iter().next().unwrap_or_default();
            numbered = copy;
            &numbered
        };
        let published = match &self.transport {
            Transport::Amqp(bus) => bus.publish(service, event).await,
            Transport::Memory(bus) => bus.publish(service, event).await,
        };
        let [ok, failed] = series::PUBLISH_OUTCOMES;
        let outcome = if published.is_ok() { ok } else { failed };
        metrics::counter!(series::PUBLISHED, "service" => service.to_owned(), "outcome" => outcome)
            .increment(1);
        published
    }

    /// Routes the calls to `service` made with `key` (see [`CallOptions::route`]) to the queue of
    /// `queue_service` (an instance's own, see [`Router::serving_as`]) while it is bound. The
    /// binding lives as long as that queue: calls go to any instance again once it is gone.
    pub async fn bind_route(
        &self,
        service: &str,
        key: &str,
        queue_service: &str,
    ) -> Result<(), BusError> {
        self.route(service, key, queue_service, true).await
    }

    /// Undoes [`Bus::bind_route`].
    pub async fn unbind_route(
        &self,
        service: &str,
        key: &str,
        queue_service: &str,
    ) -> Result<(), BusError> {
        self.route(service, key, queue_service, false).await
    }

    async fn route(
        &self,
        service: &str,
        key: &str,
        queue_service: &str,
        bind: bool,
    ) -> Result<(), BusError> {
        match &self.transport {
            Transport::Amqp(bus) => bus.bind_route(service, key, queue_service, bind).await,
            Transport::Memory(bus) => {
                bus.bind_route(service, key, queue_service, bind);
                Ok(())
            }
        }
    }

    /// Subscribes to the events of some services. Returns once the queue is bound: every event
    /// published after that reaches it.
    pub async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, BusError> {
        match &self.transport {
            Transport::Amqp(bus) => bus.subscribe(options).await,
            Transport::Memory(bus) => bus.subscribe(options).await,
        }
    }

    /// Whether the bus can carry messages now (always, in process): for readiness checks.
    pub fn is_connected(&self) -> bool {
        match &self.transport {
            Transport::Amqp(bus) => bus.is_connected(),
            Transport::Memory(_) => true,
        }
    }

    /// How many times the broker connection was re-established.
    pub fn reconnects(&self) -> u64 {
        match &self.transport {
            Transport::Amqp(bus) => bus.reconnects(),
            Transport::Memory(_) => 0,
        }
    }

    /// Graceful shutdown: servers stop taking requests and answer those in flight, subscribers
    /// stop, then the connection closes.
    pub async fn shutdown(&self) {
        match &self.transport {
            Transport::Amqp(bus) => bus.shutdown().await,
            Transport::Memory(bus) => bus.shutdown().await,
        }
    }
}

/// Locks `mutex` even when a thread panicked holding it. For the maps and tables Warren keeps
/// under a `std` mutex, every update under the lock completes before anything can panic (a single
/// insert or remove, or a step that checks first and writes last), so a poisoned lock still guards
/// a whole value, and refusing it would only turn one panic into many.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CallError> {
    serde_json::to_vec(value).map_err(|e| CallError::Encode(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(reply: &[u8]) -> Result<T, CallError> {
    match serde_json::from_slice::<Reply<T>>(reply) {
        Ok(Reply::Ok(value)) => Ok(value),
        Ok(Reply::Error(error)) => Err(CallError::Service(error)),
        Err(e) => Err(CallError::BadReply(e.to_string())),
    }
}
