//! Acknowledges a server channel's requests, several at a time where it can.
//!
//! Acks are a fifth of the broker's work per request (measured: the RPC throughput rises by that
//! much without them). When requests finish in delivery order, one `basic.ack` with `multiple`
//! settles a whole run of them. A request that finishes out of order is acknowledged on its own at
//! once, so a slow or stuck request never holds back the acks of those after it (were the
//! instance to die, they would be redelivered and done twice).

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use std::collections::BTreeMap;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

enum Settle {
    Ack(u64),
    Requeue(u64),
}

/// The acknowledger of one channel's deliveries; every delivery on the channel is settled
/// through it, since delivery tags are per channel and a `multiple` ack covers all below it.
pub(super) struct Acks {
    tx: mpsc::UnboundedSender<Settle>,
    task: JoinHandle<()>,
}

impl Acks {
    pub(super) fn start(channel: Channel) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(channel, rx));
        Self { tx, task }
    }

    pub(super) fn sender(&self) -> AckSender {
        AckSender(self.tx.clone())
    }

    /// Sends what is settled so far and stops; call once no request is in flight.
    pub(super) async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// What a request's task holds to settle its delivery.
#[derive(Clone)]
pub(super) struct AckSender(mpsc::UnboundedSender<Settle>);

impl AckSender {
    pub(super) fn ack(&self, tag: u64) {
        let _ = self.0.send(Settle::Ack(tag));
    }

    /// Gives the request back to the queue, for another instance to handle.
    pub(super) fn requeue(&self, tag: u64) {
        let _ = self.0.send(Settle::Requeue(tag));
    }
}

async fn run(channel: Channel, mut rx: mpsc::UnboundedReceiver<Settle>) {
    // Delivery tags start at 1 on every channel.
    let mut next = 1;
    // Finished tags at or past `next`; `true` once settled on their own.
    let mut finished: BTreeMap<u64, bool> = BTreeMap::new();
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 1024).await > 0 {
        // Let the requests finishing alongside this one report too: more of them per ack.
        tokio::task::yield_now().await;
        while let Ok(settle) = rx.try_recv() {
            batch.push(settle);
        }
        for settle in batch.drain(..) {
            match settle {
                Settle::Ack(tag) => {
                    finished.insert(tag, false);
                }
                Settle::Requeue(tag) => {
                    let requeue = BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    };
                    if let Err(error) = channel.basic_nack(tag, requeue).await {
                        tracing::debug!(%error, tag, "could not requeue a request");
                    }
                    finished.insert(tag, true);
                }
            }
        }
        // The run of finished tags from `next` on: one ack settles all still outstanding in it.
        let mut upto = None;
        while let Some(settled) = finished.remove(&next) {
            if !settled {
                upto = Some(next);
            }
            next += 1;
        }
        if let Some(tag) = upto {
            send_ack(&channel, tag, true).await;
        }
        // The rest finished out of order: settle each now.
        for (tag, settled) in &mut finished {
            if !*settled {
                send_ack(&channel, *tag, false).await;
                *settled = true;
            }
        }
    }
}

async fn send_ack(channel: &Channel, tag: u64, multiple: bool) {
    if let Err(error) = channel.basic_ack(tag, BasicAckOptions { multiple }).await {
        // The channel is gone; the broker requeues what it had not seen acked.
        tracing::debug!(%error, tag, "could not acknowledge requests");
    }
}
