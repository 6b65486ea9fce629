//! The client listener, served connection by connection with hyper, for what `axum::serve` does
//! not offer: a deadline for a request's headers, an idle timeout, and a cap on open connections.
//!
//! Each accepted connection takes a permit from a semaphore of [`ListenerLimits::max_connections`];
//! the permit travels inside the connection's I/O ([`Tracked`]), so an upgraded WebSocket holds it
//! until it closes. A connection over the cap is closed at once, not queued. Every request carries
//! its TCP peer as `ConnectInfo<SocketAddr>`, which [`crate::http::client::ClientAddr`] reads.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A connection that has not sent a request's complete headers this long after it opened, or
/// after the previous response, is closed. Slow-header clients (slowloris) hold a connection
/// each for at most this long; a real client sends its headers in one packet.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection on which no byte moves either way for this long, in the middle of a request (a
/// body that stalls, a response the client does not read), is closed. Longer than a call's
/// deadline (10 s), so no answer being prepared is cut off. Between requests the header timeout
/// applies instead, so a kept-alive connection waits at most [`HEADER_READ_TIMEOUT`] for its next
/// request. Not applied to upgraded WebSockets: those have their pings.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections (HTTP and WebSocket together) one gateway holds; more are closed on accept.
/// Well under the file descriptors a production host allows, above what one gateway serves.
pub const MAX_CONNECTIONS: usize = 50_000;
/// How long accepting pauses after an error that is not one connection's (out of descriptors):
/// retrying at once would spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The listener's timeouts and cap: the constants above, smaller in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled; then stops accepting, lets each
/// connection finish the request it is serving (idle ones close at once), and returns when all
/// have. Upgraded connections are no longer this function's: their tasks are tracked elsewhere.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            // Dropped here, so closed now: a client told at once can go elsewhere, one left
            // waiting in the backlog would hold its descriptor meanwhile.
            metrics::counter!(crate::series::HTTP_CONNECTIONS_REFUSED).increment(1);
            tracing::debug!(%peer, "connection refused: too many open");
            continue;
        };
        // Without TCP_NODELAY, of a reply and an event written back to back the second waits
        // for the client's delayed ACK: a 40 ms floor under every command's round trip.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not turn Nagle's algorithm off");
        }
        let io = Tracked::new(tcp, permit);
        let activity = Arc::clone(&io.activity);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            // The Router is always ready: no poll_ready before call.
            tower_service::Service::call(&mut router.clone(), request)
        });
        let connection = http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let (shutdown, idle) = (shutdown.clone(), limits.idle_timeout);
        connections.spawn(async move {
            tokio::pin!(connection);
            let mut closing = false;
            loop {
                let quiet_until = activity.last() + idle;
                tokio::select! {
                    ended = connection.as_mut() => {
                        if let Err(error) = ended {
                            tracing::debug!(%error, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = tokio::time::sleep_until(quiet_until) => {
                        if activity.last() + idle <= Instant::now() {
                            tracing::debug!(%peer, "idle connection closed");
                            break;
                        }
                    }
                    () = shutdown.cancelled(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    connections.close();
    connections.wait().await;
}

/// When a connection last moved a byte, in milliseconds after it opened: shared between its
/// I/O, which writes it, and its task, which closes it when it has been quiet too long.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A TCP connection holding its place under the cap, noting when bytes move.
#[derive(Debug)]
struct Tracked {
    tcp: TcpStream,
    activity: Arc<Activity>,
    /// Returned to the cap when the connection is dropped, WebSocket or not.
    _permit: OwnedSemaphorePermit,
}

impl Tracked {
    fn new(tcp: TcpStream, permit: OwnedSemaphorePermit) -> Self {
        let activity = Arc::new(Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        Self {
            tcp,
            activity,
            _permit: permit,
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}
