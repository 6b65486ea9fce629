//! A durable queue's consumer, as accounts (game results) and the matchmaker and sessions
//! (presence) run one: each event is acknowledged once handled; while handling fails (the store
//! cannot serve now) the event is handed back to the broker, which delivers it again, and the
//! consumer pauses a little longer after each failure in a row, so that an outage is not met with
//! a tight loop. It stops when the shutdown token is cancelled or the bus closes the subscription;
//! an event being handled then is finished first.
//!
//! Handlers are idempotent: delivery is at least once, and an acknowledgement that does not reach
//! the broker brings the event back.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::{Delivery, Subscription};

/// The first pause after a failure; it doubles with each failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a consumer does with each event.
pub trait Handle: Send + Sync {
    /// Why an event could not be handled now; it comes again.
    type Error: Display + Send;

    /// Handles one delivery. `Err` only when the event should come again: what can never
    /// succeed (unreadable data) is logged and answered `Ok`, so that it does not block the queue.
    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Runs `handler` over `events` until `shutdown` is cancelled or the subscription ends. `name`
/// says in logs which consumer it is.
pub async fn consume<H: Handle>(
    name: &'static str,
    handler: &H,
    mut events: Subscription,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        let delivery = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            delivery = events.next() => match delivery {
                Some(delivery) => delivery,
                None => return,
            },
        };
        match handler.handle(&delivery).await {
            Ok(()) => {
                backoff.reset();
                if let Err(error) = delivery.ack().await {
                    // It comes again, and handling it twice changes nothing.
                    tracing::warn!(%error, consumer = name, "could not acknowledge an event");
                }
            }
            Err(error) => {
                // Dropping the delivery unacknowledged hands it back to the queue.
                drop(delivery);
                let pause = backoff.next_pause();
                tracing::warn!(%error, consumer = name, retry_in = ?pause, "event not handled");
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Pauses that double after each failure in a row, from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`].
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn next_pause(&mut self) -> Duration {
        let pause = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(self.failures));
        self.failures = self.failures.saturating_add(1);
        pause.min(MAX_BACKOFF)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100ms_to_5s_and_resets() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u128> = (0..9).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        for _ in 0..100 {
            backoff.next_pause();
        }
        assert_eq!(backoff.next_pause(), MAX_BACKOFF);
        backoff.reset();
        assert_eq!(backoff.next_pause(), FIRST_BACKOFF);
    }
}
