//! Transport-independent RPC pieces: the request context a handler sees, and the [`Router`] that
//! maps method names to typed handlers. How a call is made is in `call.rs`, how a server runs in
//! `serve.rs`; both are re-exported here.
//!
//! Both transports (AMQP and in-process) move opaque JSON bodies; the router does the decoding on
//! the server side and `Bus::call` on the client side, so the two behave the same by construction.

use crate::replies::{self, ReplyStore};
use crate::series;
use crate::trace::TraceHeaders;
use futures_util::FutureExt;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use warren_contracts::event::now_millis;
use warren_contracts::{ErrorCode, Method, Reply, WireError};

pub(crate) use crate::call::OutgoingCall;
pub use crate::call::{CallOptions, DEFAULT_TIMEOUT};
pub(crate) use crate::serve::InFlight;
pub use crate::serve::{ServeOptions, ServerHandle};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a handler knows about the request besides its parameters.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub method: String,
    pub request_id: Option<String>,
    /// The caller's user id as the gateway authenticated it; `None` for service-to-service calls.
    pub user_id: Option<String>,
    /// The game client's address as the gateway saw it; `None` for service-to-service calls.
    pub client_addr: Option<String>,
    /// Unix epoch milliseconds after which nobody waits for the answer.
    pub deadline_ms: u64,
    /// The broker delivered this request before (an instance died holding it). Handlers that are
    /// not naturally idempotent use the request id to recognise it.
    pub redelivered: bool,
    /// The caller's trace context; the transport's handler span continues it.
    pub trace: TraceHeaders,
}

impl RequestContext {
    /// Time left before the caller gives up.
    pub fn remaining(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.saturating_sub(now_millis()))
    }

    pub fn expired(&self) -> bool {
        now_millis() >= self.deadline_ms
    }

    /// Options for a call made while handling this request: same request id, user and client
    /// address, and no more time than this request has left. Over RabbitMQ a call on a player's
    /// behalf is served only from the gateway's broker user, so a service calling another uses
    /// [`RequestContext::service_call_options`] instead.
    pub fn call_options(&self) -> CallOptions {
        CallOptions {
            timeout: self.remaining(),
            request_id: self.request_id.clone(),
            user_id: self.user_id.clone(),
            client_addr: self.client_addr.clone(),
            route: None,
        }
    }

    /// Options for a call a service makes to another while handling this request: its request
    /// id, client address and deadline, but not the user. The methods services call each other
    /// with refuse clients, and only the gateway's broker user may speak for a player.
    pub fn service_call_options(&self) -> CallOptions {
        self.call_options().as_service()
    }

    /// The user the gateway signed this request in as, or `unauthorized`: for methods a player
    /// calls. An empty id is nobody.
    pub fn caller(&self) -> Result<&str, WireError> {
        self.user_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| WireError::new(ErrorCode::Unauthorized, "no caller"))
    }

    /// `forbidden` when the gateway forwarded this request for a signed-in user: for methods only
    /// other services may call.
    pub fn service_only(&self) -> Result<(), WireError> {
        match self.user_id {
            Some(_) => Err(WireError::new(
                ErrorCode::Forbidden,
                format!("{} is not available to clients", self.method),
            )),
            None => Ok(()),
        }
    }
}

/// A handler after type erasure: JSON parameters in, a serialised [`Reply`] out.
pub(crate) type RawHandler =
    Arc<dyn Fn(RequestContext, Vec<u8>) -> BoxFuture<Vec<u8>> + Send + Sync>;

/// The methods one service answers, each with its handler.
#[derive(Clone)]
pub struct Router {
    service: String,
    /// The name whose queue it consumes, when not the service's own (see [`Router::serving_as`]).
    queue: Option<String>,
    handlers: HashMap<String, RawHandler>,
    /// Methods whose successful replies are remembered by request (`Method::REMEMBER_REPLY`).
    remembered: HashSet<String>,
    /// Where they are remembered; set by the bus when it serves the router.
    replies: Option<Arc<dyn ReplyStore>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut methods: Vec<_> = self.handlers.keys().collect();
        methods.sort();
        f.debug_struct("Router")
            .field("service", &self.service)
            .field("methods", &methods)
            .finish()
    }
}

impl Router {
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            queue: None,
            handlers: HashMap::new(),
            remembered: HashSet::new(),
            replies: None,
        }
    }

    /// Remembers replies in `replies` (see [`crate::replies`]).
    pub(crate) fn remembering(mut self, replies: Arc<dyn ReplyStore>) -> Self {
        self.replies = Some(replies);
        self
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// The same methods, consuming the queue of `name` (`<name>.rpc`) instead of the service's:
    /// an instance's own queue, which callers reach by that name when the request must go to this
    /// instance and no other. Logs and metrics still name the service.
    pub fn serving_as(mut self, name: impl Into<String>) -> Self {
        self.queue = Some(name.into());
        self
    }

    /// The methods it answers, in no particular order.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// The name whose queue this router consumes.
    pub fn queue_name(&self) -> &str {
        self.queue.as_deref().unwrap_or(&self.service)
    }

    /// Adds the handler for method `M`.
    ///
    /// # Panics
    /// When `M` belongs to another service: a wiring mistake caught at start-up.
    pub fn method<M, F, Fut>(mut self, handler: F) -> Self
    where
        M: Method,
        F: Fn(RequestContext, M::Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<M::Result, WireError>> + Send + 'static,
    {
        assert_eq!(
            M::SERVICE,
            self.service,
            "method {} belongs to service {}",
            M::NAME,
            M::SERVICE
        );
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(move |ctx, body| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let params = match serde_json::from_slice::<M::Params>(&body) {
                    Ok(params) => params,
                    Err(e) => {
                        return encode_reply::<()>(Err(WireError::new(
                            ErrorCode::InvalidParams,
                            format!("invalid params for {}: {e}", M::NAME),
                        )));
                    }
                };
                encode_reply(handler(ctx, params).await)
            })
        });
        self.handlers.insert(M::NAME.to_owned(), raw);
        if M::REMEMBER_REPLY {
            self.remembered.insert(M::NAME.to_owned());
        }
        self
    }

    /// Adds the handler for method `M`, giving it `state` with each request: the usual shape of a
    /// service whose handlers share one `Service` value.
    ///
    /// # Panics
    /// As [`Router::method`].
    pub fn method_with<M, S, F, Fut>(self, state: &Arc<S>, handler: F) -> Self
    where
        M: Method,
        S: Send + Sync + 'static,
        F: Fn(Arc<S>, RequestContext, M::Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<M::Result, WireError>> + Send + 'static,
    {
        let state = Arc::clone(state);
        self.method::<M, _, _>(move |ctx, params| handler(Arc::clone(&state), ctx, params))
    }

    /// Adds a handler for a method known only by name, taking and returning JSON values: for
    /// methods whose types live elsewhere (tools, tests, a generic relay).
    pub fn method_json<F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(RequestContext, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, WireError>> + Send + 'static,
    {
        let name = name.into();
        let method: Arc<str> = Arc::from(name.as_str());
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(move |ctx, body| {
            let handler = Arc::clone(&handler);
            let method = Arc::clone(&method);
            Box::pin(async move {
                match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(params) => encode_reply(handler(ctx, params).await),
                    Err(e) => encode_reply::<()>(Err(WireError::new(
                        ErrorCode::InvalidParams,
                        format!("invalid params for {method}: {e}"),
                    ))),
                }
            })
        });
        self.handlers.insert(name, raw);
        self
    }

    /// Answers one request: finds the handler, runs it, and turns a panic into `internal` so
    /// that the caller is answered and the request acknowledged either way. A redelivered
    /// request whose reply is remembered gets that reply without running again.
    pub(crate) async fn dispatch(&self, ctx: RequestContext, body: Vec<u8>) -> Vec<u8> {
        let started = std::time::Instant::now();
        let method = ctx.method.clone();
        let reply = self.answer(ctx, body).await;
        let outcome = outcome_of(&reply);
        // In the request's span: with its request id, one line per request at debug.
        tracing::debug!(
            %outcome,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered"
        );
        let labels = [("service", self.service.clone()), ("method", method)];
        metrics::histogram!(series::REQUEST_SECONDS, &labels)
            .record(started.elapsed().as_secs_f64());
        let [service, method] = labels;
        metrics::counter!(series::REQUESTS, &[service, method, ("outcome", outcome)]).increment(1);
        reply
    }

    /// Answers a request with `error` without running its handler: the transport refused it.
    /// Counted as any answer is.
    pub(crate) fn refuse(&self, ctx: &RequestContext, error: WireError) -> Vec<u8> {
        metrics::counter!(
            series::REQUESTS,
            "service" => self.service.clone(),
            "method" => ctx.method.clone(),
            "outcome" => error.code.as_str().to_owned(),
        )
        .increment(1);
        encode_reply::<()>(Err(error))
    }

    async fn answer(&self, ctx: RequestContext, body: Vec<u8>) -> Vec<u8> {
        let Some(handler) = self.handlers.get(&ctx.method) else {
            return encode_reply::<()>(Err(WireError::new(
                ErrorCode::UnknownMethod,
                format!("{} has no method {:?}", self.service, ctx.method),
            )));
        };
        let remember = self
            .replies
            .as_ref()
            .filter(|_| self.remembered.contains(&ctx.method))
            .zip(ctx.request_id.as_deref())
            .map(|(store, request_id)| {
                let key = replies::key(&self.service, &ctx.method, request_id, &body);
                (store, key)
            });
        if let Some((store, key)) = &remember
            && ctx.redelivered
        {
            match store.get(key).await {
                Ok(Some(reply)) => {
                    tracing::info!("a redelivered request answered with the reply it got before");
                    return reply;
                }
                Ok(None) => tracing::info!("a redelivered request runs again: no reply was kept"),
                Err(error) => tracing::warn!(%error, "cannot look up a remembered reply"),
            }
        }
        let reply = match AssertUnwindSafe(handler(ctx, body)).catch_unwind().await {
            Ok(reply) => reply,
            Err(_) => {
                // The request's span names the method.
                tracing::error!("handler panicked");
                return encode_reply::<()>(Err(WireError::new(
                    ErrorCode::Internal,
                    "internal error",
                )));
            }
        };
        if let Some((store, key)) = remember
            && reply.starts_with(br#"{"ok""#)
            && let Err(error) = store.put(&key, &reply).await
        {
            // The reply still goes out; only a redelivery of this request would run it again.
            tracing::warn!(%error, "cannot remember a reply");
        }
        reply
    }
}

/// `ok`, or the error's code, of an encoded reply.
fn outcome_of(reply: &[u8]) -> String {
    if reply.starts_with(br#"{"ok""#) {
        return "ok".into();
    }
    serde_json::from_slice::<serde_json::Value>(reply)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "internal".into())
}

fn encode_reply<T: Serialize>(result: Result<T, WireError>) -> Vec<u8> {
    let reply = Reply::from(result);
    serde_json::to_vec(&reply).unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not encode a reply");
        br#"{"error":{"code":"internal","message":"internal error"}}"#.to_vec()
    })
}
