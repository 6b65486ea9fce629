//! The grace period: a player whose last connection closed keeps their seat for a while; back in
//! time, they rejoin and play on; not back, they have left (a tic-tac-toe player forfeits).
//!
//! Gateways announce `presence.online` / `presence.offline` per gateway instance on
//! `gateway.events`; the service reads them from the durable queue `sessions.presence` (one
//! instance handles each), keeps who is online on which gateway in the store, and schedules a
//! deadline for each running session of a player who is now offline everywhere. Every instance
//! sweeps the due deadlines; the store hands each to one of them, and the player's leaving goes to
//! the session's owner like any other change.

use crate::handlers::leave_as;
use crate::owner::Instance;
use crate::store::{Away, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, Delivery, SubscribeOptions, Subscription};
use warren_contracts::event::now_millis;
use warren_contracts::presence::{self, Presence};
use warren_contracts::sessions::Status;
use warren_runtime::consumer;

pub const PRESENCE_QUEUE: &str = "sessions.presence";
/// How often each instance looks for deadlines that have passed.
const SWEEP_EVERY: Duration = Duration::from_millis(200);

/// Subscribes to presence (so no event published afterwards is missed), then runs the consumer
/// and the sweeper until `shutdown`.
pub(crate) async fn start(
    bus: &Bus,
    service: Arc<Instance>,
    grace: Duration,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, BusError> {
    let events = bus
        .subscribe(SubscribeOptions::durable(
            PRESENCE_QUEUE,
            [presence::SERVICE],
        ))
        .await?;
    Ok(tokio::spawn(async move {
        tokio::join!(
            consume(Arc::clone(&service), events, grace, shutdown.clone()),
            sweep(service, shutdown),
        );
    }))
}

async fn consume(
    service: Arc<Instance>,
    events: Subscription,
    grace: Duration,
    shutdown: CancellationToken,
) {
    let presences = Presences { service, grace };
    consumer::consume("sessions presence", &presences, events, &shutdown).await;
}

/// Presence events turned into grace deadlines for the sessions of players who went away.
struct Presences {
    service: Arc<Instance>,
    grace: Duration,
}

impl consumer::Handle for Presences {
    type Error = StoreError;

    async fn handle(&self, delivery: &Delivery) -> Result<(), StoreError> {
        handle(&self.service, delivery, self.grace).await
    }
}

async fn handle(
    service: &Instance,
    delivery: &Delivery,
    grace: Duration,
) -> Result<(), StoreError> {
    let event = &delivery.event;
    let online = match event.kind.as_str() {
        presence::ONLINE => true,
        presence::OFFLINE => false,
        _ => return Ok(()),
    };
    let Ok(who) = serde_json::from_value::<Presence>(event.data.clone()) else {
        tracing::warn!(kind = %event.kind, "unreadable presence event dropped");
        return Ok(());
    };
    let store = service.store();
    let anywhere = store
        .set_presence(&who.user_id, &who.gateway_id, online, event.published_at)
        .await?;
    let sessions = store.user_sessions(&who.user_id).await?;
    for session_id in sessions {
        let away = Away {
            session_id,
            user_id: who.user_id.clone(),
        };
        if anywhere {
            store.cancel_away(&away).await?;
            continue;
        }
        let Some(record) = store.get(&away.session_id).await? else {
            continue;
        };
        let seated = record.remaining().contains(&away.user_id);
        if record.session.status == Status::Running && seated {
            let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
            let deadline = now_millis().saturating_add(grace_ms);
            store.schedule_away(&away, deadline).await?;
            tracing::info!(session_id = %away.session_id, user_id = %away.user_id, ?grace, "player away");
        }
    }
    Ok(())
}

async fn sweep(service: Arc<Instance>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let due = match service.store().take_due(now_millis()).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "cannot read grace deadlines");
                continue;
            }
        };
        for away in due {
            match service.store().is_online(&away.user_id).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "cannot check presence; the seat is kept");
                    continue;
                }
            }
            match leave_as(&service, &away.session_id, &away.user_id).await {
                Ok(()) => tracing::info!(
                    session_id = %away.session_id, user_id = %away.user_id,
                    "grace period over: the player has left"
                ),
                Err(error) => tracing::debug!(%error, "grace period over, nothing to leave"),
            }
        }
    }
}
