//! Warren's message bus: typed request/reply RPC and fanout events, over RabbitMQ or in process.
//!
//! Every service speaks to every other through a [`Bus`]. Over RabbitMQ it follows the design's
//! conventions (`<service>.rpc` queues with direct reply-to, `<service>.events` fanout exchanges)
//! and reconnects by itself; in process it keeps the same semantics without a broker, for the
//! embedded mode and fast tests.
//!
//! ```text
//! lib.rs      Bus: the one handle services hold; picks the transport
//! rpc.rs      CallOptions, RequestContext, Router (typed handlers), ServeOptions, ServerHandle
//! events.rs   SubscribeOptions, Subscription, Delivery (ack)
//! error.rs    CallError, BusError: each maps to a stable ErrorCode
//! amqp/       the RabbitMQ transport: connection supervisor, rpc, events
//! memory/     the in-process transport
//! ```

mod amqp;
pub mod error;
pub mod events;
mod memory;
pub mod rpc;

pub use error::{BusError, CallError};
pub use events::{Delivery, QueueKind, SubscribeOptions, Subscription};
pub use rpc::{CallOptions, RequestContext, Router, ServeOptions, ServerHandle};
pub use warren_contracts as contracts;

use serde::Serialize;
use warren_contracts::{Event, Method, Reply};

/// A handle on the bus; cheap to clone, shared by everything in a process.
#[derive(Clone)]
pub struct Bus {
    transport: Transport,
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
    pub async fn connect(url: &str, name: &str) -> Result<Self, BusError> {
        Ok(Self {
            transport: Transport::Amqp(amqp::AmqpBus::connect(url, name).await?),
        })
    }

    /// A bus that lives in this process only.
    pub fn in_process() -> Self {
        Self {
            transport: Transport::Memory(memory::MemoryBus::new()),
        }
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
        let call = rpc::OutgoingCall::new(service, method, body, options);
        let span = tracing::debug_span!(
            "rpc.call",
            service,
            method,
            request_id = options.request_id.as_deref().unwrap_or(""),
        );
        let result = match &self.transport {
            Transport::Amqp(bus) => tracing::Instrument::instrument(bus.call(call), span).await,
            Transport::Memory(bus) => tracing::Instrument::instrument(bus.call(call), span).await,
        };
        if let Err(error) = &result {
            tracing::debug!(service, method, %error, "call failed");
        }
        result
    }

    /// Starts serving `router`'s methods on `<service>.rpc`. Several instances of one service
    /// share the work.
    pub async fn serve(
        &self,
        router: Router,
        options: ServeOptions,
    ) -> Result<ServerHandle, BusError> {
        match &self.transport {
            Transport::Amqp(bus) => bus.serve(router, options).await,
            Transport::Memory(bus) => bus.serve(router, options).await,
        }
    }

    /// Publishes `event` on `<service>.events` and waits for the broker to take it.
    pub async fn publish(&self, service: &str, event: &Event) -> Result<(), BusError> {
        match &self.transport {
            Transport::Amqp(bus) => bus.publish(service, event).await,
            Transport::Memory(bus) => bus.publish(service, event).await,
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

/// Locks one of the bus's maps. Every update under these locks is a single insert or remove, so
/// a panic elsewhere cannot leave one half-updated and a poisoned lock is still good to use.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
