//! One socket's outgoing frames, and the reason it is to be closed with.
//!
//! Replies and events are queued here by whoever has them (a call's task, the hub) and written by
//! the socket's one task. It takes the place of a channel plus a cancellation token: an idle
//! socket costs the gateway no queue storage at all (a channel allocates a block of slots up
//! front), and a close wakes the socket the same way a frame does. Frames are [`Utf8Bytes`], so
//! one event frame is shared by every socket of its recipient and reaches each without a copy.

use axum::extract::ws::Utf8Bytes;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Why a socket is being closed by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

/// The most bytes queued to one socket. Frames are counted too (`--send-queue`), but frames differ
/// in size by three orders of magnitude: this bounds what a client that stops reading can hold
/// of the gateway's memory whatever it was sent.
pub const SEND_QUEUE_BYTES: usize = 2 * 1024 * 1024;

/// What became of a frame handed to [`Outbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The queue is at its bound in frames or in bytes: the client does not read what it is sent.
    Full,
    /// The socket is closing or closed: the frame will never go out.
    Closed,
}

/// A bounded queue of frames for one socket, with its close reason.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    capacity: usize,
    byte_budget: usize,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    /// The bytes of `frames`.
    bytes: usize,
    close: Option<CloseReason>,
    /// The socket's task stopped taking frames: none is queued any more.
    finished: bool,
    /// The socket's task, to wake for a frame or a close.
    waker: Option<Waker>,
}

impl Outbox {
    /// An empty queue that holds up to `capacity` frames (at least one) and
    /// [`SEND_QUEUE_BYTES`].
    pub fn new(capacity: usize) -> Self {
        Self::with_budget(capacity, SEND_QUEUE_BYTES)
    }

    /// An empty queue that holds up to `capacity` frames and `byte_budget` bytes; one frame is
    /// always taken into an empty queue, however large.
    pub fn with_budget(capacity: usize, byte_budget: usize) -> Self {
        Self {
            state: Mutex::default(),
            capacity: capacity.max(1),
            byte_budget,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        warren_bus::lock(&self.state)
    }

    /// Queues a frame unless the queue is full or the socket is closing.
    pub fn push(&self, frame: Utf8Bytes) -> Pushed {
        let mut state = self.state();
        if state.finished || state.close.is_some() {
            return Pushed::Closed;
        }
        let over_budget =
            !state.frames.is_empty() && state.bytes.saturating_add(frame.len()) > self.byte_budget;
        if state.frames.len() >= self.capacity || over_budget {
            return Pushed::Full;
        }
        state.bytes += frame.len();
        state.frames.push_back(frame);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Pushed::Queued
    }

    /// Asks the socket to close with `code`; the first reason given is the one sent.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut state = self.state();
        if state.close.is_none() {
            state.close = Some(CloseReason { code, reason });
        }
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Why the socket is closing, once it is.
    pub fn closing(&self) -> Option<CloseReason> {
        self.state().close
    }

    /// The oldest queued frame.
    pub fn pop(&self) -> Option<Utf8Bytes> {
        let mut state = self.state();
        let frame = state.frames.pop_front()?;
        state.bytes -= frame.len();
        Some(frame)
    }

    /// Ready with the close reason once the socket is to close; either way, the calling task is
    /// woken by the next frame or close. Call it before [`Outbox::pop`] finds the queue empty, so
    /// that a frame queued in between is not missed.
    pub fn poll_close(&self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        let mut state = self.state();
        if let Some(reason) = state.close {
            return Poll::Ready(reason);
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The socket's task is done with the queue: frames still in it and any queued later are
    /// dropped.
    pub fn finish(&self) {
        let mut state = self.state();
        state.finished = true;
        state.frames = VecDeque::new();
        state.bytes = 0;
        state.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn frames_go_out_in_order_up_to_the_bound() {
        let outbox = Outbox::new(2);
        assert_eq!(outbox.push("a".into()), Pushed::Queued);
        assert_eq!(outbox.push("b".into()), Pushed::Queued);
        assert_eq!(outbox.push("c".into()), Pushed::Full);
        assert_eq!(outbox.pop().as_deref(), Some("a"));
        assert_eq!(outbox.push("c".into()), Pushed::Queued);
        assert_eq!(outbox.pop().as_deref(), Some("b"));
        assert_eq!(outbox.pop().as_deref(), Some("c"));
        assert_eq!(outbox.pop(), None);
    }

    #[test]
    fn the_byte_budget_bounds_the_queue_too() {
        let outbox = Outbox::with_budget(100, 10);
        let big = "x".repeat(25);
        assert_eq!(
            outbox.push(big.as_str().into()),
            Pushed::Queued,
            "an empty queue takes any one frame"
        );
        assert_eq!(outbox.push("y".into()), Pushed::Full);
        assert_eq!(outbox.pop().as_deref(), Some(big.as_str()));
        for _ in 0..10 {
            assert_eq!(outbox.push("z".into()), Pushed::Queued);
        }
        assert_eq!(outbox.push("z".into()), Pushed::Full, "11 bytes over 10");
        outbox.pop();
        assert_eq!(
            outbox.push("z".into()),
            Pushed::Queued,
            "a pop frees its bytes"
        );
    }

    #[test]
    fn a_frame_or_a_close_wakes_the_socket_and_the_first_reason_stands() {
        let outbox = Outbox::new(4);
        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(outbox.poll_close(&mut cx).is_pending());
        outbox.push("a".into());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        outbox.push("b".into());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "woken once until polled again"
        );
        assert!(outbox.poll_close(&mut cx).is_pending());
        outbox.close(4001, "slow");
        outbox.close(1000, "");
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        let reason = CloseReason {
            code: 4001,
            reason: "slow",
        };
        assert_eq!(outbox.poll_close(&mut cx), Poll::Ready(reason));
        assert_eq!(outbox.push("c".into()), Pushed::Closed);
        assert_eq!(
            outbox.pop().as_deref(),
            Some("a"),
            "queued before the close"
        );
        outbox.finish();
        assert_eq!(outbox.pop(), None);
    }
}
