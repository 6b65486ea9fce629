//! In-process RPC: each server instance has a bounded request channel; calls go round-robin to
//! the instances of a service, like competing consumers on one queue.

use super::MemoryBus;
use crate::error::{BusError, CallError};
use crate::lock;
use crate::rpc::{InFlight, OutgoingCall, RequestContext, Router, ServeOptions, ServerHandle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;
use warren_contracts::rpc::rpc_queue;

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

pub(super) struct Request {
    ctx: RequestContext,
    body: Vec<u8>,
    reply: oneshot::Sender<Vec<u8>>,
}

#[derive(Default)]
pub(super) struct Instances {
    list: Vec<(u64, mpsc::Sender<Request>)>,
    next: usize,
}

impl MemoryBus {
    pub async fn call(&self, call: OutgoingCall) -> Result<Vec<u8>, CallError> {
        let deadline = Instant::now() + call.timeout;
        let (reply_tx, reply_rx) = oneshot::channel();
        let mut request = Request {
            ctx: RequestContext {
                method: call.method,
                request_id: call.request_id,
                user_id: call.user_id,
                client_addr: call.client_addr,
                deadline_ms: call.deadline_ms,
                redelivered: false,
                trace: call.trace,
            },
            body: call.body,
            reply: reply_tx,
        };
        // A routed call goes to the queue bound to its key if that queue has a consumer, as
        // the broker's route and its alternate exchange would send it.
        let bound = call.route.as_ref().and_then(|key| {
            lock(&self.inner.routes)
                .get(&(call.service.clone(), key.clone()))
                .cloned()
        });
        let mut instances = bound
            .map(|queue| self.rotated_instances(&queue))
            .unwrap_or_default();
        let queue = rpc_queue(&call.service);
        // Offer it to each instance in turn without waiting; if all are busy, wait on the first,
        // which is another instance for each call.
        if instances.is_empty() {
            instances = self.rotated_instances(&queue);
        }
        let Some(first) = instances.first().cloned() else {
            return Err(CallError::Unavailable(format!(
                "no instance serves {queue}"
            )));
        };
        for tx in instances {
            match tx.try_send(request) {
                Ok(()) => return await_reply(reply_rx, deadline, call.timeout).await,
                Err(
                    mpsc::error::TrySendError::Full(back) | mpsc::error::TrySendError::Closed(back),
                ) => {
                    request = back;
                }
            }
        }
        match tokio::time::timeout_at(deadline, first.send(request)).await {
            Err(_) => Err(CallError::Timeout(call.timeout)),
            Ok(Err(_)) => Err(CallError::Unavailable(format!("{queue} stopped"))),
            Ok(Ok(())) => await_reply(reply_rx, deadline, call.timeout).await,
        }
    }

    /// The instances serving `queue`, starting one further along at each call: round-robin.
    fn rotated_instances(&self, queue: &str) -> Vec<mpsc::Sender<Request>> {
        let mut rpc = lock(&self.inner.rpc);
        let Some(instances) = rpc.get_mut(queue) else {
            return Vec::new();
        };
        instances.list.retain(|(_, tx)| !tx.is_closed());
        let count = instances.list.len();
        if count == 0 {
            return Vec::new();
        }
        instances.next = (instances.next + 1) % count;
        (0..count)
            .map(|i| instances.list[(instances.next + i) % count].1.clone())
            .collect()
    }

    pub async fn serve(
        &self,
        router: Router,
        options: ServeOptions,
    ) -> Result<ServerHandle, BusError> {
        let queue = rpc_queue(router.queue_name());
        let id = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(usize::from(options.prefetch.max(1)));
        lock(&self.inner.rpc)
            .entry(queue.clone())
            .or_default()
            .list
            .push((id, tx));
        let stop = self.inner.shutdown.child_token();
        let (done_tx, done) = oneshot::channel();
        let bus = self.clone();
        let task_stop = stop.clone();
        self.inner.tasks.spawn(async move {
            run_server(
                &bus,
                Arc::new(router),
                rx,
                task_stop,
                &queue,
                id,
                options.shutdown_grace,
            )
            .await;
            let _ = done_tx.send(());
        });
        Ok(ServerHandle { stop, done })
    }
}

async fn await_reply(
    reply: oneshot::Receiver<Vec<u8>>,
    deadline: Instant,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, CallError> {
    match tokio::time::timeout_at(deadline, reply).await {
        Err(_) => Err(CallError::Timeout(timeout)),
        // The instance stopped before answering; like a broker connection that died.
        Ok(Err(_)) => Err(CallError::Unavailable(
            "the serving instance stopped".into(),
        )),
        Ok(Ok(body)) => Ok(body),
    }
}

async fn run_server(
    bus: &MemoryBus,
    router: Arc<Router>,
    mut rx: mpsc::Receiver<Request>,
    stop: tokio_util::sync::CancellationToken,
    queue: &str,
    id: u64,
    grace: std::time::Duration,
) {
    let in_flight = InFlight::default();
    // Like the broker's prefetch: at most this many requests are handled at once.
    let permits = Arc::new(Semaphore::new(rx.max_capacity()));
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let permit = tokio::select! {
            () = &mut stopped => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        tokio::select! {
            () = &mut stopped => break,
            request = rx.recv() => match request {
                Some(request) => {
                    let router = Arc::clone(&router);
                    in_flight.spawn(async move {
                        handle(router, request).await;
                        drop(permit);
                    });
                }
                None => break,
            },
        }
    }
    // Take no more, then answer what was already handed to this instance.
    if let Some(instances) = lock(&bus.inner.rpc).get_mut(queue) {
        instances.list.retain(|(other, _)| *other != id);
    }
    rx.close();
    while let Some(request) = rx.recv().await {
        in_flight.spawn(handle(Arc::clone(&router), request));
    }
    in_flight.drain(grace, queue).await;
}

async fn handle(router: Arc<Router>, request: Request) {
    let span = tracing::info_span!(
        "rpc.handle",
        service = router.service(),
        method = %request.ctx.method,
        request_id = request.ctx.request_id.as_deref().unwrap_or(""),
    );
    request.ctx.trace.continue_in(&span);
    if request.ctx.expired() {
        span.in_scope(|| tracing::debug!("dropping a request whose deadline passed"));
        return;
    }
    let reply = router
        .dispatch(request.ctx, request.body)
        .instrument(span)
        .await;
    let _ = request.reply.send(reply);
}
