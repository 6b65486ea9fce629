//! Noticing that a consumed queue is gone when the broker does not say so. On a cluster, a
//! transient queue whose node dies is removed with it; a consumer that had just declared it
//! again through another node may be left consuming nothing, with no cancel and no channel error
//! (seen on RabbitMQ 3.10 under load: a service's `.rpc` queue missing for minutes while both of
//! its instances believed they served it). So each consumer asks now and then, with a passive
//! declare, whether its queue still exists.

use lapin::Channel;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use std::time::Duration;

/// How often a consumer asks: the longest a lost queue goes unnoticed.
const EVERY: Duration = Duration::from_secs(3);

/// Resolves once `queue` does not exist (or `channel` can no longer ask): the caller then sets
/// its queue up again. A passive declare that fails closes the channel, which the caller is
/// replacing anyway.
pub(crate) async fn queue_gone(channel: &Channel, queue: &str) {
    loop {
        tokio::time::sleep(EVERY).await;
        let asked = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        if let Err(error) = asked {
            tracing::warn!(%error, queue, "the consumed queue is gone");
            return;
        }
    }
}
