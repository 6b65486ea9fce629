//! What the handlers, the matcher, the sweeper and the presence consumer share: the bus, the
//! store, the settings, and the things they all do: keep the users' claims in `accounts` in step
//! with their tickets, tell players, and turn store failures into answers.

use crate::MatchmakerConfig;
use crate::store::{StoreError, TicketRecord, TicketStore};
use serde_json::json;
use std::sync::Arc;
use warren_bus::{Bus, CallError, CallOptions};
use warren_contracts::activity::{Activity, ActivityKind};
use warren_contracts::matchmaker::{CANCELLED, CancelReason, Ended, SERVICE};
use warren_contracts::{ErrorCode, Event, WireError};
use warren_runtime::Claims;

pub(crate) struct Service {
    pub(crate) bus: Bus,
    pub(crate) store: Arc<dyn TicketStore>,
    pub(crate) config: MatchmakerConfig,
    /// This instance's name as a pool lease holder.
    pub(crate) instance: String,
    claims: Claims,
}

impl Service {
    pub(crate) fn new(bus: Bus, store: Arc<dyn TicketStore>, config: MatchmakerConfig) -> Self {
        let claims = Claims::new(bus.clone(), ActivityKind::Ticket);
        Self {
            bus,
            store,
            config,
            instance: uuid::Uuid::new_v4().to_string(),
            claims,
        }
    }

    /// Whether the store holds `ticket_id` for `user`, in any state: what `matchmaker.holds`
    /// answers, and what decides whether a ticket claim in the way is stale.
    pub(crate) async fn holds(&self, ticket_id: &str, user: &str) -> Result<bool, WireError> {
        Ok(self
            .store
            .get(ticket_id)
            .await
            .map_err(store_failure)?
            .is_some_and(|ticket| ticket.user_id == user))
    }

    /// Claims `user` for the ticket in `accounts`, so that they are in no room, session or other
    /// search while it lasts. A claim by another ticket that this store does not hold for them is
    /// stale (this service is its owner, so accounts leaves that check to us) and is replaced.
    ///
    /// Callers store the ticket before they claim (as pending): then a ticket claim stands only
    /// for a ticket the store holds, and a second start at the same moment finds the first's
    /// ticket in its way rather than a claim it would take for stale.
    pub(crate) async fn claim(
        &self,
        call: &CallOptions,
        user: &str,
        ticket_id: &str,
    ) -> Result<(), WireError> {
        let holds = |stale: String| async move { self.holds(&stale, user).await };
        self.claims.claim(call, user, ticket_id, holds).await
    }

    /// Frees `user` from the ticket in `accounts`.
    pub(crate) async fn release(&self, call: &CallOptions, user: &str, ticket_id: &str) {
        self.claims
            .release(call, vec![user.to_owned()], ticket_id)
            .await;
    }

    /// Moves `user`'s claim from their ticket to the session it was matched into.
    pub(crate) async fn hand_over(
        &self,
        call: &CallOptions,
        user: &str,
        ticket_id: &str,
        session_id: &str,
    ) -> Result<(), CallError> {
        self.claims
            .try_hand_over(call, vec![user.to_owned()], ticket_id, session_id)
            .await
    }

    /// Tells `recipients`; a failed publish is logged, the change stands.
    pub(crate) async fn announce(
        &self,
        kind: &str,
        recipients: Vec<String>,
        data: serde_json::Value,
    ) {
        if recipients.is_empty() {
            return;
        }
        let event = Event::new(kind, recipients, data);
        if let Err(error) = self.bus.publish(SERVICE, &event).await {
            tracing::error!(%error, kind, "could not publish a matchmaker event");
        }
    }

    /// After `ticket` was removed for `reason`: its user is free and hears the search is over.
    pub(crate) async fn cancelled(
        &self,
        call: &CallOptions,
        ticket: &TicketRecord,
        reason: CancelReason,
    ) {
        self.release(call, &ticket.user_id, &ticket.ticket_id).await;
        let ended = Ended {
            ticket_id: ticket.ticket_id.clone(),
            reason: Some(reason),
        };
        self.announce(CANCELLED, vec![ticket.user_id.clone()], json!(ended))
            .await;
        tracing::info!(ticket_id = %ticket.ticket_id, user_id = %ticket.user_id, ?reason, "search cancelled");
    }

    /// `ticket_ttl` in milliseconds.
    pub(crate) fn ttl_ms(&self) -> u64 {
        millis(self.config.ticket_ttl)
    }

    /// `matching_deadline` in milliseconds.
    pub(crate) fn matching_deadline_ms(&self) -> u64 {
        millis(self.config.matching_deadline)
    }
}

pub(crate) fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn ticket_activity(ticket_id: &str) -> Activity {
    Activity::new(ActivityKind::Ticket, ticket_id)
}

pub(crate) fn store_failure(error: StoreError) -> WireError {
    tracing::error!(%error, "ticket store failed");
    match error {
        StoreError::Unavailable(_) => WireError::new(
            ErrorCode::Unavailable,
            "matchmaking is unavailable; try again",
        ),
        StoreError::Corrupt(_) => WireError::new(ErrorCode::Internal, "internal error"),
    }
}
