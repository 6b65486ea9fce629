//! The server side's life: how a server consumes its queue ([`ServeOptions`]), the requests it is
//! handling ([`InFlight`]), and the handle that stops it ([`ServerHandle`]). Both transports use
//! them.

use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How a server consumes its queue.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Requests handled at once by this instance; the broker delivers no more than this many
    /// unacknowledged requests to it.
    pub prefetch: u16,
    /// How long stopping waits for requests in flight before giving up on them. A request given
    /// up on is not acknowledged, so the broker hands it to another instance.
    pub shutdown_grace: Duration,
    /// Also take the calls routed by a key no instance bound (see [`CallOptions::route`]).
    pub routed: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            prefetch: 64,
            shutdown_grace: Duration::from_secs(30),
            routed: false,
        }
    }
}

/// The requests one server instance is handling.
///
/// Stopping waits for them for a grace period, then abandons the rest: their futures are dropped,
/// so a stuck handler does not finish its work after the request went to another instance.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    tasks: tokio_util::task::TaskTracker,
    /// Cancelled when the grace period is over.
    abandon: CancellationToken,
}

impl InFlight {
    pub(crate) fn spawn<F>(&self, request: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .spawn(self.abandon.clone().run_until_cancelled_owned(request));
    }

    /// Waits for the requests in flight, for at most `grace`, then abandons what is left.
    pub(crate) async fn drain(&self, grace: Duration, service: &str) {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                service,
                abandoned = self.tasks.len(),
                "requests still running after the shutdown grace period; abandoning them"
            );
            self.abandon.cancel();
            self.tasks.wait().await;
        }
    }
}

/// A running RPC server. Dropping the handle leaves the server running until the bus shuts down;
/// [`ServerHandle::stop`] stops this one alone.
#[derive(Debug)]
pub struct ServerHandle {
    /// Cancelled to make the server stop taking requests.
    pub(crate) stop: CancellationToken,
    /// Fires once in-flight requests are answered and acknowledged.
    pub(crate) done: oneshot::Receiver<()>,
}

impl ServerHandle {
    /// Stops taking requests, finishes and acknowledges those in flight, then returns. Requests
    /// still queued go to the other instances, if any.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.done.await;
    }
}
