//! Expiry: a room that has not started closes its time to live after its last join.
//!
//! Every instance sweeps; the store hands each due room to one of them. The sweeper closes the
//! room with a compare-and-set like any other change, so a join that lands first keeps the room
//! alive (the store's take puts a room due later back in the schedule at its new expiry), and a start
//! under way is left alone: the start ends the room itself (see [`crate::start`]), or, refused,
//! puts it back in the schedule.
//!
//! If an instance dies between taking a room and closing it, the room's Redis keys expire a
//! little later by themselves, and the claims they leave behind are found stale and replaced.

use crate::service::{Change, Service};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::CallOptions;
use warren_contracts::event::now_millis;
use warren_contracts::rooms::CloseReason;

/// Rooms taken from the schedule at a time; more wait for the next tick.
const BATCH: usize = 100;

/// Runs the sweeper until `shutdown`.
pub(crate) fn start(service: Arc<Service>, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(service.config.sweep_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            sweep(&service).await;
        }
    })
}

/// Closes the rooms due now; how many it closed.
pub(crate) async fn sweep(service: &Service) -> usize {
    let now = now_millis();
    let due = match service.store.take_due(now, BATCH).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "cannot read the private room expiry schedule");
            return 0;
        }
    };
    let mut closed = 0;
    for room_id in due {
        closed += usize::from(expire(service, &room_id, now).await);
    }
    closed
}

async fn expire(service: &Service, room_id: &str, now: u64) -> bool {
    let outcome = service
        .update(room_id, |record| {
            // Its players wait on the start, which ends the room or, undone, reschedules it.
            if record.start.is_some() {
                return Ok(Change::Unchanged);
            }
            // Due later: a join (or a start) came since, and its write rescheduled the room.
            if record.due_at() > now {
                return Ok(Change::Unchanged);
            }
            Ok(Change::Delete)
        })
        .await;
    match outcome {
        Ok((record, Change::Delete)) => {
            tracing::info!(room_id, "private room expired");
            service
                .closed(&record, CloseReason::Expired, &CallOptions::default())
                .await;
            true
        }
        Ok(_) => false,
        Err(error) if error.code == warren_contracts::ErrorCode::NotFound => false,
        Err(error) => {
            tracing::warn!(%error, room_id, "could not expire a private room");
            false
        }
    }
}
