//! The client listener, served connection by connection with hyper, for what `axum::serve` does
//! not offer: TLS, HTTP/2 beside HTTP/1.1, a deadline for a request's headers, an idle timeout,
//! and a cap on open connections.
//!
//! Each accepted connection takes a permit from a semaphore of [`ListenerLimits::max_connections`];
//! the permit travels inside the connection's I/O ([`Tracked`]), so an upgraded WebSocket holds it
//! until it closes. A connection over the cap is closed at once, not queued. Every request carries
//! its TCP peer as `ConnectInfo<SocketAddr>`, which [`crate::http::client::ClientAddr`] reads.
//!
//! With TLS, ALPN offers `h2` and `http/1.1`; without, a client may still speak HTTP/2 with prior
//! knowledge (h2c). Either way the protocol is told by the connection's first bytes. A WebSocket
//! comes by an HTTP/1.1 upgrade, which takes the connection over, or by an HTTP/2 extended CONNECT
//! (RFC 8441), one stream among the connection's others.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A connection that has not sent a request's complete headers this long after it opened, or
/// after the previous response, is closed. Slow-header clients (slowloris) hold a connection
/// each for at most this long; a real client sends its headers in one packet.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection on which no byte moves either way for this long, in the middle of a request (a
/// body that stalls, a response the client does not read), is closed. Longer than a call's
/// deadline (10 s), so no answer being prepared is cut off. Between HTTP/1.1 requests the header
/// timeout applies instead, so a kept-alive connection waits at most [`HEADER_READ_TIMEOUT`] for
/// its next request. A WebSocket upgraded from HTTP/1.1 leaves the listener and has its pings; an
/// HTTP/2 connection stays, and its WebSockets' pings are what keep it from this timeout
/// ([`crate::GatewayConfig`] raises it to two ping intervals when those are longer). Also the TLS
/// handshake's deadline, and how long a closing connection has to finish.
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

/// Serves `router` on `listener`, over TLS when given an acceptor, until `shutdown` is
/// cancelled; then stops accepting, lets each connection finish the requests it is serving (idle
/// ones close at once; HTTP/2 ones are sent GOAWAY), and returns when all have. WebSockets upgraded
/// from HTTP/1.1 are no longer this function's: their tasks are tracked elsewhere.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let http = Arc::new(builder(limits));
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
        let connection = Connection {
            http: Arc::clone(&http),
            router: router.clone(),
            peer,
            idle: limits.idle_timeout,
            shutdown: shutdown.clone(),
        };
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                Some(tls) => {
                    if let Some(stream) = connection.handshake(&tls, io).await {
                        connection.serve(stream).await;
                    }
                }
                None => connection.serve(io).await,
            }
        });
    }
    // Closed now, not when the connections have finished: a client arriving meanwhile is refused
    // at once and its balancer tries another gateway, rather than waiting in the backlog to be
    // reset.
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// HTTP/1.1 and HTTP/2 on one listener, each with its limits. HTTP/2 allows extended CONNECT, by
/// which a client opens a WebSocket as one of the connection's streams.
fn builder(limits: ListenerLimits) -> auto::Builder<TokioExecutor> {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    http.http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        // hyper's default is 200; a game client needs one socket and a few requests at a time.
        .max_concurrent_streams(MAX_STREAMS);
    http
}

/// Streams one HTTP/2 connection may have open at once: WebSockets and requests together.
pub const MAX_STREAMS: u32 = 100;

/// One accepted connection and what serving it needs.
struct Connection {
    http: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    peer: SocketAddr,
    idle: Duration,
    shutdown: CancellationToken,
}

impl Connection {
    /// The TLS handshake, within the idle timeout, given up at shutdown. `None`: it failed, and
    /// the connection is closed.
    async fn handshake(
        &self,
        tls: &TlsAcceptor,
        io: Tracked,
    ) -> Option<tokio_rustls::server::TlsStream<Tracked>> {
        let peer = self.peer;
        tokio::select! {
            accepted = tokio::time::timeout(self.idle, tls.accept(io)) => match accepted {
                Ok(Ok(stream)) => Some(stream),
                Ok(Err(error)) => {
                    metrics::counter!(crate::series::TLS_HANDSHAKES_FAILED).increment(1);
                    tracing::debug!(%error, %peer, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    metrics::counter!(crate::series::TLS_HANDSHAKES_FAILED).increment(1);
                    tracing::debug!(%peer, "TLS handshake not finished in time");
                    None
                }
            },
            () = self.shutdown.cancelled() => None,
        }
    }

    /// Serves HTTP on `io` until the connection ends, goes quiet for the idle timeout, or has
    /// been closing (after shutdown) for that long.
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + Activity + 'static,
    {
        let activity = io.activity();
        let Self {
            http,
            router,
            peer,
            idle,
            shutdown,
        } = self;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            // The Router is always ready: no poll_ready before call.
            tower_service::Service::call(&mut router.clone(), request)
        });
        let connection = http.serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        let mut closing_since: Option<Instant> = None;
        loop {
            let quiet_until = activity.last() + idle;
            let close_by = closing_since.map_or(quiet_until, |since| since + idle);
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(error) = ended {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                    break;
                }
                () = tokio::time::sleep_until(quiet_until.min(close_by)) => {
                    let now = Instant::now();
                    if activity.last() + idle <= now {
                        tracing::debug!(%peer, "idle connection closed");
                        break;
                    }
                    if closing_since.is_some_and(|since| since + idle <= now) {
                        tracing::debug!(%peer, "connection still open at the end of shutdown");
                        break;
                    }
                }
                () = shutdown.cancelled(), if closing_since.is_none() => {
                    closing_since = Some(Instant::now());
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// When a connection last moved a byte, in milliseconds after it opened: shared between its
/// I/O, which writes it, and its task, which closes it when it has been quiet too long.
#[derive(Debug)]
struct LastByte {
    opened: Instant,
    last_ms: AtomicU64,
}

impl LastByte {
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
    activity: Arc<LastByte>,
    /// Returned to the cap when the connection is dropped, WebSocket or not.
    _permit: OwnedSemaphorePermit,
}

impl Tracked {
    fn new(tcp: TcpStream, permit: OwnedSemaphorePermit) -> Self {
        let activity = Arc::new(LastByte {
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

/// An I/O that notes when bytes move: a TCP connection, or TLS over one.
trait Activity {
    fn activity(&self) -> Arc<LastByte>;
}

impl Activity for Tracked {
    fn activity(&self) -> Arc<LastByte> {
        Arc::clone(&self.activity)
    }
}

impl Activity for tokio_rustls::server::TlsStream<Tracked> {
    fn activity(&self) -> Arc<LastByte> {
        self.get_ref().0.activity()
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
