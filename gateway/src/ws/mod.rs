//! The WebSocket endpoint `/ws`: one authenticated socket per client, JSON-RPC 2.0 over text
//! frames, replies in any order, events pushed as they come.
//!
//! Each socket is one task that both reads and writes: it lets requests in ([`admission`]: the
//! per-connection rate limit, `max_in_flight`, parse and size errors) and spawns one task per
//! call ([`forward`]), and it drains the socket's bounded [`outbox`], which replies and events
//! share, and pings. It polls the read
//! side, the write side and its timer itself rather than splitting the socket between a reader
//! and a writer task: a gateway holds tens of thousands of mostly idle sockets, and the second
//! task and the lock a split socket shares cost each of them memory for nothing. A client that
//! stops reading blocks only the write side; its queue fills and it is closed with 4001.
//!
//! Close codes the gateway uses: 1001 (shutting down), 1007 (text that is not UTF-8), 1009 (a
//! message far over the limit), 4000 (no answer to pings for two intervals), 4001 (too slow:
//! send queue full, in messages or in bytes), 4008 (the user opened too many sockets: see
//! [`admission`]).
//!
//! What is left here is that one loop, its set-up and its close: one thing, kept in one file.

pub mod admission;
mod forward;
pub mod jsonrpc;
pub mod methods;
pub mod outbox;
pub mod resume;

use crate::http::client::ClientAddr;
use crate::hub::{CLOSE_SILENT, Conn};
use crate::series;
use crate::state::AppState;
use crate::token::{self, Verified};
use admission::{RequestLimits, Verdict};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Version};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use outbox::CloseReason;
use serde::Deserialize;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::WaitForCancellationFuture;
use tracing::Instrument;
use warren_contracts::{Event, presence};

/// Close code when the gateway shuts down.
const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code for a message over twice the size limit.
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a text message that is not UTF-8 (RFC 6455: inconsistent data).
const CLOSE_NOT_UTF8: u16 = 1007;
/// How long the gateway waits for a client to answer its Close.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);
/// What each socket keeps for reading, and reads at a time. Requests are small (a game command
/// is a few hundred bytes), and this buffer is held by every idle socket; a larger message
/// still arrives whole, the buffer grows for it.
const READ_BUFFER: usize = 1024;

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// Checks the client address's rate and the access token, then upgrades (an HTTP/1.1 upgrade, or
/// an HTTP/2 extended CONNECT). Over the rate: 429; without a valid token: 401; no socket either
/// way.
pub async fn upgrade(
    State(state): State<AppState>,
    client: ClientAddr,
    version: Version,
    headers: HeaderMap,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(wait) = state.connect_limiter().check(client.ip()) {
        return admission::too_many_upgrades(wait);
    }
    let Some(token) = token::bearer(&headers).or(query.token.as_deref()) else {
        return crate::error::ApiError::unauthorized("an access token is required").into_response();
    };
    let caller = match state.authenticate(token) {
        Ok(caller) => caller,
        Err(why) => return crate::error::ApiError::unauthorized(why).into_response(),
    };
    let http = if version == Version::HTTP_2 {
        "2"
    } else {
        "1.1"
    };
    metrics::counter!(series::WS_OPENED, "http" => http).increment(1);
    let limit = state.config().max_frame_bytes;
    // Messages up to twice the limit are read and refused with an error on that request; past
    // that the socket is closed with 1009, so no client makes the gateway buffer much. Writes
    // are not buffered: the outbox is the queue, and each frame goes straight to the socket.
    ws.max_message_size(limit * 2)
        .max_frame_size(limit * 2)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let sockets = state.sockets().clone();
            sockets.track_future(serve(state, caller, socket))
        })
}

async fn serve(state: AppState, caller: Verified, socket: WebSocket) {
    let Verified { user_id, sid } = caller;
    let start = state.hub().start_of(&user_id).await;
    let (conn, first) = state
        .hub()
        .register(&user_id, &sid, state.config().send_queue, start);
    metrics::gauge!(series::WS_CONNECTIONS).increment(1.0);
    admission::make_room(state.hub(), &user_id, state.config().max_sockets_per_user);
    if first {
        announce_presence(&state, presence::ONLINE, &user_id);
    }
    let span = tracing::info_span!("ws", user_id = %user_id, conn = conn.id());
    Socket::new(&state, &user_id, socket, conn.clone())
        .run()
        .instrument(span)
        .await;
    metrics::gauge!(series::WS_CONNECTIONS).decrement(1.0);
    if state.hub().unregister(&user_id, &conn) {
        announce_presence(&state, presence::OFFLINE, &user_id);
    }
}

/// Tells the services that a user's first socket here opened or their last one closed; the
/// sessions service keeps their seats for a grace period while they are away.
fn announce_presence(state: &AppState, kind: &'static str, user_id: &str) {
    let data = presence::Presence {
        user_id: user_id.to_owned(),
        gateway_id: state.gateway_id().to_owned(),
    };
    let event = Event::new(
        kind,
        Vec::new(),
        serde_json::to_value(data).unwrap_or_default(),
    );
    let bus = state.bus().clone();
    tokio::spawn(async move {
        if let Err(error) = bus.publish(presence::SERVICE, &event).await {
            tracing::warn!(%error, kind, "could not announce presence");
        }
    });
}

/// One open socket, driven by its one task.
struct Socket<'a> {
    state: &'a AppState,
    user_id: &'a str,
    ws: WebSocket,
    conn: Conn,
    requests: RequestLimits,
    /// A ping is due: it goes out before the next queued frame.
    ping_due: bool,
    /// Frames handed to the socket that are not flushed yet.
    unflushed: bool,
}

/// What woke the socket's task.
enum Step {
    /// A message from the client, or the end of its stream (`None`, or an error).
    Read(Option<Result<Message, axum::Error>>),
    /// The socket is to close: kicked by the hub (4001), silent (4000), or shutdown (1001).
    Close(CloseReason),
    /// Writing failed: the connection is gone.
    Gone,
    /// The timer: a ping is due, or the client has been silent too long.
    Timer,
    /// The gateway is shutting down: stop reading.
    Shutdown,
    /// Shutting down, every request read has been answered.
    Drained,
}

/// Waits for every request in flight to be answered.
type Drain = Pin<Box<dyn Future<Output = ()> + Send>>;

impl<'a> Socket<'a> {
    fn new(state: &'a AppState, user_id: &'a str, ws: WebSocket, conn: Conn) -> Self {
        let config = state.config();
        Self {
            state,
            user_id,
            ws,
            conn,
            requests: RequestLimits::new(config),
            ping_due: false,
            unflushed: false,
        }
    }

    /// Reads requests and writes replies and events until the client closes, goes silent, or is
    /// kicked; or until shutdown, and then, no longer reading, until the requests in flight are
    /// answered. Then it closes the socket.
    async fn run(mut self) {
        tracing::debug!("connected");
        let interval = self.state.config().ping_interval;
        let silence = interval * 2;
        // When the client last sent anything, pongs included.
        let mut heard = Instant::now();
        let mut next_ping = heard + interval;
        // One timer for both the pings and the silence: it wakes at whichever comes first.
        let timer = tokio::time::sleep_until(next_ping);
        tokio::pin!(timer);
        let state = self.state;
        let shutdown = state.shutdown().cancelled();
        tokio::pin!(shutdown);
        let mut draining: Option<Drain> = None;
        let close = loop {
            let step = std::future::poll_fn(|cx| {
                self.poll_step(cx, timer.as_mut(), shutdown.as_mut(), draining.as_mut())
            })
            .await;
            match step {
                Step::Read(Some(Ok(message))) => {
                    heard = Instant::now();
                    if self.handle(message).is_break() {
                        break self.ended();
                    }
                }
                Step::Read(Some(Err(error))) => break self.read_failed(error),
                Step::Read(None) => break self.ended(),
                Step::Close(reason) => break Some(reason),
                Step::Gone => break None,
                Step::Timer => {
                    let now = Instant::now();
                    // Not while draining: the socket is not read then, so nothing is heard.
                    if draining.is_none() && now >= heard + silence {
                        self.conn.kick(CLOSE_SILENT, "no answer to pings");
                        continue;
                    }
                    if now >= next_ping {
                        self.ping_due = true;
                        next_ping = now + interval;
                    }
                    let wake = if draining.is_none() {
                        next_ping.min(heard + silence)
                    } else {
                        next_ping
                    };
                    timer.as_mut().reset(wake);
                }
                Step::Shutdown => {
                    let all = u32::try_from(self.state.config().max_in_flight).unwrap_or(u32::MAX);
                    let in_flight = Arc::clone(self.requests.in_flight());
                    // Each call ends by its timeout at the latest.
                    draining = Some(Box::pin(async move {
                        let _ = in_flight.acquire_many_owned(all).await;
                    }));
                }
                Step::Drained => {
                    self.conn
                        .kick(CLOSE_GOING_AWAY, "the gateway is shutting down");
                }
            }
        };
        self.close(close, silence).await;
        tracing::debug!("disconnected");
    }

    /// The client's stream ended: the reason the gateway closes with.
    fn ended(&self) -> Option<CloseReason> {
        Some(if self.state.shutdown().is_cancelled() {
            CloseReason {
                code: CLOSE_GOING_AWAY,
                reason: "the gateway is shutting down",
            }
        } else {
            CloseReason {
                code: 1000,
                reason: "",
            }
        })
    }

    /// Reading failed: a message far over the limit is closed with 1009, anything else (a
    /// connection reset, a protocol error) like an ended stream.
    fn read_failed(&self, error: axum::Error) -> Option<CloseReason> {
        let error = error.into_inner();
        match error.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(_)) => Some(CloseReason {
                code: CLOSE_TOO_BIG,
                reason: "message too big",
            }),
            Some(tungstenite::Error::Utf8(_)) => Some(CloseReason {
                code: CLOSE_NOT_UTF8,
                reason: "text that is not UTF-8",
            }),
            _ => self.ended(),
        }
    }

    fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        timer: Pin<&mut Sleep>,
        shutdown: Pin<&mut WaitForCancellationFuture<'_>>,
        draining: Option<&mut Drain>,
    ) -> Poll<Step> {
        // Asked first, so that a kicked socket stops reading and writing at once. This also
        // registers the task for the next queued frame.
        if let Poll::Ready(reason) = self.conn.outbox().poll_close(cx) {
            return Poll::Ready(Step::Close(reason));
        }
        if self.poll_write(cx).is_err() {
            return Poll::Ready(Step::Gone);
        }
        match draining {
            None => {
                if let Poll::Ready(message) = self.ws.poll_next_unpin(cx) {
                    return Poll::Ready(Step::Read(message));
                }
                if shutdown.poll(cx).is_ready() {
                    return Poll::Ready(Step::Shutdown);
                }
            }
            Some(drain) => {
                if drain.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Step::Drained);
                }
            }
        }
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Step::Timer);
        }
        Poll::Pending
    }

    /// Writes what is due, a ping and then the queued frames, for as long as the socket takes
    /// them, and flushes. A client that does not read leaves the frames queued, where they count
    /// against its bound.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<(), axum::Error> {
        loop {
            match self.ws.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => return Err(error),
                // Woken when the socket can take more.
                Poll::Pending => return Ok(()),
            }
            let message = if std::mem::take(&mut self.ping_due) {
                Message::Ping(Bytes::new())
            } else if let Some(frame) = self.conn.outbox().pop() {
                metrics::counter!(series::WS_MESSAGES_OUT).increment(1);
                Message::Text(frame)
            } else {
                break;
            };
            self.ws.start_send_unpin(message)?;
            self.unflushed = true;
        }
        if self.unflushed {
            match self.ws.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(error)) => return Err(error),
                Poll::Pending => {}
            }
        }
        Ok(())
    }

    /// Sends the Close (after the frames still queued, when shutting down), then gives the
    /// client a moment to answer it, so that it sees the close code rather than a reset
    /// connection. A client that does not read gets `limit` to take the Close.
    async fn close(&mut self, close: Option<CloseReason>, limit: Duration) {
        let outbox = self.conn.outbox();
        if let Some(close) = close {
            // The first reason stands: one the task did not get from the outbox is recorded
            // there, so that nothing more is queued.
            outbox.close(close.code, close.reason);
            if close.code != CLOSE_GOING_AWAY {
                outbox.finish();
            }
            let ws = &mut self.ws;
            let _ = tokio::time::timeout(limit, async {
                // The last replies, queued before the close.
                while let Some(frame) = outbox.pop() {
                    ws.send(Message::Text(frame)).await?;
                }
                let frame = CloseFrame {
                    code: close.code,
                    reason: Utf8Bytes::from_static(close.reason),
                };
                ws.send(Message::Close(Some(frame))).await
            })
            .await;
        }
        outbox.finish();
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            while let Some(Ok(message)) = self.ws.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }

    /// One message from the client: a request is admitted, then answered by the gateway or
    /// handed to its service in a task of its own. Breaks when the client closes.
    fn handle(&self, message: Message) -> ControlFlow<()> {
        metrics::counter!(series::WS_MESSAGES_IN).increment(1);
        match self.requests.admit(message, self.state.config()) {
            Verdict::Call(call) => forward::forward(self.state, &self.conn, self.user_id, call),
            Verdict::Refused(response) => {
                // A full queue closes the socket by itself (4001).
                self.conn.send(response.into());
            }
            Verdict::Ignored => {}
            Verdict::Closed => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    }
}
