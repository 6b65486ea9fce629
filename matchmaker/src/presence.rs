//! Disconnects: "a player whose last connection closes loses their ticket".
//!
//! Gateways announce `presence.online` / `presence.offline` per gateway instance on
//! `gateway.events`. The service reads them from the durable queue `matchmaker.presence` (the
//! instances compete, one handles each event), keeps each gateway's newest statement per user in
//! the store, and when a user is offline on every gateway removes their ticket, releases their
//! claim and tells them (`matchmaker.cancelled`, reason `disconnected`). A ticket being matched is
//! marked instead: if its match makes a session the player is in it (and has the session's grace
//! period to come back), and if not the ticket ends then, rather than wait again for an absent
//! player. An event is acknowledged once handled; while the store is unavailable it is
//! handed back and tried again after a growing pause.

use crate::service::Service;
use crate::store::{Removal, StoreError, TicketStatus};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, CallOptions, Delivery, SubscribeOptions, Subscription};
use warren_contracts::matchmaker::CancelReason;
use warren_contracts::presence::{self, Presence};
use warren_runtime::consumer;

/// The durable queue presence events wait in for the matchmaker.
pub const PRESENCE_QUEUE: &str = "matchmaker.presence";

/// Binds the queue (so every event published from now on is kept for the consumer).
pub(crate) async fn subscribe(bus: &Bus) -> Result<Subscription, BusError> {
    bus.subscribe(SubscribeOptions::durable(
        PRESENCE_QUEUE,
        [presence::SERVICE],
    ))
    .await
}

pub(crate) async fn consume(
    service: Arc<Service>,
    events: Subscription,
    shutdown: CancellationToken,
) {
    consumer::consume(
        "matchmaker presence",
        &Presences(service),
        events,
        &shutdown,
    )
    .await;
}

/// Presence events applied to the matchmaker's tickets.
struct Presences(Arc<Service>);

impl consumer::Handle for Presences {
    type Error = StoreError;

    async fn handle(&self, delivery: &Delivery) -> Result<(), StoreError> {
        handle(&self.0, delivery).await
    }
}

async fn handle(service: &Service, delivery: &Delivery) -> Result<(), StoreError> {
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
    let store = &service.store;
    let anywhere = store
        .set_presence(&who.user_id, &who.gateway_id, online, event.published_at)
        .await?;
    if anywhere {
        return Ok(());
    }
    let Some(ticket) = store.find_user(&who.user_id).await? else {
        return Ok(());
    };
    // A ticket being matched is marked: it ends if its match makes no session.
    let allowed = [TicketStatus::Pending, TicketStatus::Waiting];
    let leaving = Some(CancelReason::Disconnected);
    if let Removal::Removed(ticket) = store.remove(&ticket.ticket_id, &allowed, leaving).await? {
        service
            .cancelled(&CallOptions::default(), &ticket, CancelReason::Disconnected)
            .await;
    }
    Ok(())
}
