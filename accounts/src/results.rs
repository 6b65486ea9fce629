//! Finished games change ratings: the consumer of the `sessions` service's events.
//!
//! Accounts reads the `sessions` service's events through the durable queue [`RESULTS_QUEUE`], so
//! results published while no instance runs wait for the next one. Delivery is at least once and
//! several instances compete for the queue; [`AccountStore::apply_result`] applies each player's
//! share of a session once, so a redelivered or duplicated result changes nothing the second time
//! and a retry completes one that stopped after some players.
//!
//! For each `session.finished`: release the session's claim on its players
//! (`departures.rs`); read the players' ratings, compute the Elo deltas ([`crate::elo`]),
//! apply them with the session id, and tell each player whose share that call applied
//! `rating.changed` `{session_id, rating, delta}`; then acknowledge. A `session.player_left` releases that player.
//! Other events are acknowledged and passed over. A store that cannot serve now leaves the event
//! unacknowledged (the broker hands it out again) and the consumer backs off, 100 ms doubling to
//! 5 s ([`warren_runtime::consumer`]). What can never succeed (unreadable data, a damaged record) is logged and acknowledged, so
//! that it does not block the queue.

use crate::store::{AccountStore, RatingChange, StoreError};
use crate::{departures, elo};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, BusError, Delivery, SubscribeOptions, Subscription};
use warren_contracts::Event;
use warren_contracts::accounts::{Account, INITIAL_RATING, RATING_CHANGED, RatingChanged};
use warren_contracts::sessions::{FINISHED, Finished, PLAYER_LEFT};
use warren_runtime::consumer;

/// The durable queue accounts reads finished games from, shared by every instance.
pub const RESULTS_QUEUE: &str = "accounts.results";

/// Attempts to publish one `rating.changed` while the broker is away (about 3 s in all).
const PUBLISH_ATTEMPTS: u32 = 6;

/// Binds the durable queue [`RESULTS_QUEUE`] to the events sessions publishes for services
/// (`sessions.results.events`: finished games and players who left, not every move). Every
/// event published after this returns is kept for a consumer.
pub async fn subscribe(bus: &Bus) -> Result<Subscription, BusError> {
    let options = SubscribeOptions::durable(RESULTS_QUEUE, [warren_contracts::sessions::RESULTS]);
    bus.subscribe(options).await
}

/// Applies the finished games in `events` to the accounts in `store` until `shutdown` is
/// cancelled or the subscription ends (the bus shut down). A result being handled when
/// `shutdown` comes is finished first.
pub async fn run(
    bus: Bus,
    store: Arc<dyn AccountStore>,
    events: Subscription,
    shutdown: CancellationToken,
) {
    let results = Results {
        bus,
        store,
        shutdown: shutdown.clone(),
    };
    consumer::consume("accounts results", &results, events, &shutdown).await;
    tracing::info!("stopped applying game results");
}

/// What applying a result needs; the shutdown token cuts short retries of a publish.
struct Results {
    bus: Bus,
    store: Arc<dyn AccountStore>,
    shutdown: CancellationToken,
}

impl consumer::Handle for Results {
    type Error = StoreError;

    async fn handle(&self, delivery: &Delivery) -> Result<(), StoreError> {
        handle(&self.bus, self.store.as_ref(), delivery, &self.shutdown).await
    }
}

/// Handles one delivery. `Err` only when the store is unavailable and the event should come again.
async fn handle(
    bus: &Bus,
    store: &dyn AccountStore,
    delivery: &Delivery,
    shutdown: &CancellationToken,
) -> Result<(), StoreError> {
    let event = &delivery.event;
    match event.kind.as_str() {
        FINISHED => match serde_json::from_value::<Finished>(event.data.clone()) {
            Ok(finished) => {
                departures::finished(store, &finished).await?;
                finish(bus, store, &finished, delivery.redelivered, shutdown).await
            }
            Err(error) => {
                tracing::error!(event_id = %event.id, %error, "unreadable session.finished dropped");
                Ok(())
            }
        },
        PLAYER_LEFT => departures::player_left(store, event).await,
        kind => {
            tracing::debug!(kind, "nothing for accounts; ignored");
            Ok(())
        }
    }
}

/// `accounts.record_result`: a finished game applied now, for the service that ended it; the
/// same work as a `session.finished` from the queue, which then finds it applied.
pub(crate) async fn record(
    service: Arc<crate::handlers::Service>,
    ctx: warren_bus::RequestContext,
    finished: Finished,
) -> Result<warren_contracts::Empty, warren_contracts::WireError> {
    ctx.service_only()?;
    let store = service.store.as_ref();
    let unavailable = |error: StoreError| {
        warren_contracts::WireError::new(
            warren_contracts::ErrorCode::Unavailable,
            format!("accounts are unavailable: {error}"),
        )
    };
    departures::finished(store, &finished)
        .await
        .map_err(unavailable)?;
    finish(
        &service.bus,
        store,
        &finished,
        false,
        &CancellationToken::new(),
    )
    .await
    .map_err(unavailable)?;
    Ok(warren_contracts::Empty {})
}

/// Why a result was not applied.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// The result contradicts itself; it would fail the same way every time.
    #[error("invalid result: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies one finished game and announces the new ratings. `Err` only when the store is
/// unavailable.
#[tracing::instrument(
    name = "accounts.apply_result",
    skip_all,
    fields(session_id = %finished.session_id, redelivered = redelivered)
)]
async fn finish(
    bus: &Bus,
    store: &dyn AccountStore,
    finished: &Finished,
    redelivered: bool,
    shutdown: &CancellationToken,
) -> Result<(), StoreError> {
    match apply(store, finished).await {
        Ok(Some(accounts)) => {
            announce(bus, &finished.session_id, &accounts, shutdown).await;
            Ok(())
        }
        Ok(None) => {
            tracing::info!("result applied before; nothing to do");
            Ok(())
        }
        Err(Failure::Store(StoreError::Unavailable(error))) => {
            tracing::warn!(%error, "account store unavailable; the result comes again");
            Err(StoreError::Unavailable(error))
        }
        Err(error) => {
            tracing::error!(%error, "result cannot be applied; dropped");
            Ok(())
        }
    }
}

/// Computes and applies the game's rating changes. Each player counts once (in the order first
/// named). A player whose account is gone is skipped, but the others still played against them:
/// their rating counts as the initial rating. `Ok(None)`: applied before.
async fn apply(
    store: &dyn AccountStore,
    finished: &Finished,
) -> Result<Option<Vec<(Account, f64)>>, Failure> {
    let mut players: Vec<&str> = Vec::with_capacity(finished.players.len());
    for player in &finished.players {
        if !players.contains(&player.as_str()) {
            players.push(player);
        }
    }
    let winner = finished.winner.as_deref();
    let winner_index = winner.and_then(|w| players.iter().position(|p| *p == w));
    if winner.is_some() && winner_index.is_none() {
        return Err(Failure::Invalid(format!(
            "winner {winner:?} is not one of the players"
        )));
    }
    let mut ratings = Vec::with_capacity(players.len());
    for player in &players {
        let rating = match store.get(player).await? {
            Some(account) => account.rating,
            None => {
                tracing::info!(user_id = player, "no account any more; skipped");
                INITIAL_RATING
            }
        };
        ratings.push(rating);
    }
    let deltas = elo::deltas(&ratings, winner_index);
    let changes: Vec<RatingChange> = players
        .iter()
        .zip(&deltas)
        .enumerate()
        .map(|(index, (player, delta))| RatingChange {
            user_id: (*player).to_owned(),
            delta: *delta,
            won: winner_index == Some(index),
        })
        .collect();
    let Some(accounts) = store.apply_result(&finished.session_id, &changes).await? else {
        return Ok(None);
    };
    let with_deltas = accounts
        .into_iter()
        .filter_map(|account| {
            let change = changes.iter().find(|c| c.user_id == account.user_id)?;
            Some((account, change.delta))
        })
        .collect();
    tracing::info!(players = players.len(), winner, "result applied");
    Ok(Some(with_deltas))
}

/// Tells each player their new rating. Ratings are applied already, so a publish that keeps
/// failing is logged and given up rather than retried by redelivery (which would find the result
/// applied and publish nothing).
async fn announce(
    bus: &Bus,
    session_id: &str,
    accounts: &[(Account, f64)],
    shutdown: &CancellationToken,
) {
    for (account, delta) in accounts {
        let data = RatingChanged {
            session_id: session_id.to_owned(),
            rating: account.rating,
            delta: *delta,
        };
        let data = match serde_json::to_value(&data) {
            Ok(data) => data,
            Err(error) => {
                tracing::error!(%error, "cannot encode rating.changed");
                continue;
            }
        };
        let event = Event::new(RATING_CHANGED, vec![account.user_id.clone()], data);
        publish(bus, &event, shutdown).await;
    }
}

/// Publishes `event`, retrying a few times while the broker is away.
async fn publish(bus: &Bus, event: &Event, shutdown: &CancellationToken) {
    let service = warren_contracts::accounts::SERVICE;
    let mut backoff = consumer::Backoff::default();
    for attempt in 1..=PUBLISH_ATTEMPTS {
        match bus.publish(service, event).await {
            Ok(()) => return,
            Err(error) if attempt == PUBLISH_ATTEMPTS || shutdown.is_cancelled() => {
                tracing::error!(%error, recipients = ?event.recipients, "rating.changed not sent");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, attempt, "cannot publish rating.changed yet");
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(backoff.next_pause()) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rating_changed_has_the_documented_fields() {
        let data = RatingChanged {
            session_id: "s-1".into(),
            rating: 1016.0,
            delta: 16.0,
        };
        assert_eq!(
            serde_json::to_value(&data).unwrap(),
            serde_json::json!({"session_id": "s-1", "rating": 1016.0, "delta": 16.0})
        );
    }
}
