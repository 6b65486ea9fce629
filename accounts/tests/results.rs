//! Finished games change ratings, end to end: `sessions` publishes `session.finished`, the accounts
//! results consumer applies it to the store and each player gets `rating.changed`; and the game's
//! claim on its players is released, as it is for a player who leaves (`session.player_left`).
//! Every scenario
//! runs over the in-process bus and over RabbitMQ (a vhost of its own, since the queue name is
//! fixed), each with MemoryStore and with RedisStore on a real Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::broker::Vhost;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warren_accounts::{AccountStore, RatingChange, StoreError};
use warren_bus::{Bus, SubscribeOptions, Subscription};
use warren_contracts::Event;
use warren_contracts::accounts::RATING_CHANGED;
use warren_contracts::accounts::{Account, INITIAL_RATING};
use warren_contracts::activity::{Activity, ActivityKind};
use warren_contracts::sessions::{FINISHED, Finished, PLAYER_LEFT, STATE};

/// How long anything the tests wait for may take.
const LIMIT: Duration = Duration::from_secs(15);

type Store = Arc<dyn AccountStore>;

enum Broker {
    InProcess,
    RabbitMq,
}

/// One `rating.changed` as a player gets it.
#[derive(Debug, Clone, PartialEq)]
struct Rated {
    user_id: String,
    session_id: String,
    rating: f64,
    delta: f64,
}

fn rated(user_id: &str, session_id: &str, rating: f64, delta: f64) -> Rated {
    Rated {
        user_id: user_id.to_owned(),
        session_id: session_id.to_owned(),
        rating,
        delta,
    }
}

/// The accounts service's results consumer and the rest of the system around it.
struct World {
    /// The accounts service's connection.
    service: Bus,
    /// Everyone else's: `sessions` publishing, a gateway listening.
    others: Bus,
    store: Store,
    /// Every event on `accounts.events`, read as a gateway would.
    ratings: Subscription,
    /// Deleted last, with everything the test declared in it.
    _vhost: Option<Vhost>,
}

/// A running results consumer.
struct Consumer {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Consumer {
    /// Stops it and waits until it has.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(LIMIT, self.task)
            .await
            .expect("the consumer did not stop")
            .unwrap();
    }
}

impl World {
    async fn new(broker: Broker, store: Store) -> Self {
        let (service, others, vhost) = match broker {
            Broker::InProcess => {
                let bus = Bus::in_process();
                (bus.clone(), bus, None)
            }
            Broker::RabbitMq => {
                let vhost = Vhost::create();
                let connect = |name| {
                    let url = vhost.url();
                    async move {
                        Bus::connect(&url, name)
                            .await
                            .unwrap_or_else(|e| panic!("RabbitMQ must be running at {url}: {e}"))
                    }
                };
                let service = connect("accounts-test").await;
                let others = connect("others-test").await;
                (service, others, Some(vhost))
            }
        };
        let ratings = others
            .subscribe(SubscribeOptions::anonymous([
                warren_contracts::accounts::SERVICE,
            ]))
            .await
            .unwrap();
        Self {
            service,
            others,
            store,
            ratings,
            _vhost: vhost,
        }
    }

    /// Accounts for these users, at the initial rating.
    async fn accounts(&self, user_ids: &[&str]) {
        for user_id in user_ids {
            let account = Account {
                user_id: (*user_id).to_owned(),
                username: (*user_id).to_owned(),
                display_name: (*user_id).to_owned(),
                rating: INITIAL_RATING,
                games_played: 0,
                games_won: 0,
            };
            self.store.create(&account).await.unwrap();
        }
    }

    async fn start(&self) -> Consumer {
        self.start_with(Arc::clone(&self.store)).await
    }

    async fn start_with(&self, store: Store) -> Consumer {
        let shutdown = CancellationToken::new();
        let task = warren_accounts::serve_results(&self.service, store, shutdown.clone())
            .await
            .unwrap();
        Consumer { shutdown, task }
    }

    async fn publish(&self, event: &Event) {
        self.others
            .publish(warren_contracts::sessions::RESULTS, event)
            .await
            .unwrap();
    }

    /// What `sessions` publishes when a game ends.
    fn finished(session_id: &str, players: &[&str], winner: Option<&str>) -> Event {
        let data = Finished {
            session_id: session_id.to_owned(),
            game: if players.len() == 2 {
                "tic-tac-toe"
            } else {
                "relay"
            }
            .to_owned(),
            winner: winner.map(str::to_owned),
            players: players.iter().map(|p| (*p).to_owned()).collect(),
        };
        Event::new(
            FINISHED,
            players.iter().map(|p| (*p).to_owned()).collect(),
            json!(data),
        )
    }

    /// What `sessions` publishes when a player leaves a game for good.
    async fn leave(&self, session_id: &str, user_id: &str) {
        let data = json!({"session_id": session_id, "user_id": user_id});
        let event = Event::new(PLAYER_LEFT, vec![user_id.to_owned()], data);
        self.publish(&event).await;
    }

    /// Puts each of `user_ids` in `activity`, as claims through the service would.
    async fn claim(&self, user_ids: &[&str], activity: &Activity) {
        for user_id in user_ids {
            let blocker = self.store.claim(user_id, activity, &[]).await.unwrap();
            assert_eq!(blocker, None, "{user_id} is elsewhere");
        }
    }

    async fn activity(&self, user_id: &str) -> Option<Activity> {
        self.store.activity(user_id).await.unwrap()
    }

    async fn game(&self, session_id: &str, players: &[&str], winner: Option<&str>) {
        self.publish(&Self::finished(session_id, players, winner))
            .await;
    }

    /// The next `rating.changed`, checked to be for exactly one player.
    async fn next_rating(&mut self) -> Rated {
        let delivery = tokio::time::timeout(LIMIT, self.ratings.next())
            .await
            .expect("no rating.changed in time")
            .expect("the subscription ended");
        let event = &delivery.event;
        assert_eq!(event.kind, RATING_CHANGED);
        assert_eq!(event.recipients.len(), 1, "{event:?}");
        let data = event.data.as_object().expect("data is an object");
        assert_eq!(data.len(), 3, "exactly session_id, rating, delta: {data:?}");
        Rated {
            user_id: event.recipients[0].clone(),
            session_id: data["session_id"].as_str().unwrap().to_owned(),
            rating: data["rating"].as_f64().unwrap(),
            delta: data["delta"].as_f64().unwrap(),
        }
    }

    /// The next `n` ratings, sorted by user id.
    async fn ratings(&mut self, n: usize) -> Vec<Rated> {
        let mut ratings = Vec::with_capacity(n);
        for _ in 0..n {
            ratings.push(self.next_rating().await);
        }
        ratings.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        ratings
    }

    /// A user's (rating, games played, games won).
    async fn stats(&self, user_id: &str) -> (f64, u64, u64) {
        let account = self.store.get(user_id).await.unwrap().expect("no account");
        (account.rating, account.games_played, account.games_won)
    }

    async fn finish(self) {
        self.service.shutdown().await;
        self.others.shutdown().await;
    }
}

async fn a_win_moves_both_ratings(mut world: World) {
    world.accounts(&["ann", "bob"]).await;
    let consumer = world.start().await;
    world.game("s-1", &["ann", "bob"], Some("ann")).await;
    assert_eq!(
        world.ratings(2).await,
        [
            rated("ann", "s-1", 1016.0, 16.0),
            rated("bob", "s-1", 984.0, -16.0)
        ]
    );
    assert_eq!(world.stats("ann").await, (1016.0, 1, 1));
    assert_eq!(world.stats("bob").await, (984.0, 1, 0));
    consumer.stop().await;
    world.finish().await;
}

async fn the_same_result_twice_counts_once(mut world: World) {
    world.accounts(&["ann", "bob", "cat", "dan"]).await;
    let consumer = world.start().await;
    let event = World::finished("s-1", &["ann", "bob"], Some("bob"));
    world.publish(&event).await;
    world.publish(&event).await;
    // The same session again under a new event id, as a second sessions instance might send it.
    world.game("s-1", &["bob", "ann"], Some("bob")).await;
    // Results are handled in order: once this one's ratings come, the repeats have been handled.
    world.game("s-2", &["cat", "dan"], None).await;
    assert_eq!(
        world.ratings(4).await,
        [
            rated("ann", "s-1", 984.0, -16.0),
            rated("bob", "s-1", 1016.0, 16.0),
            rated("cat", "s-2", 1000.0, 0.0),
            rated("dan", "s-2", 1000.0, 0.0),
        ]
    );
    assert_eq!(world.stats("ann").await, (984.0, 1, 0));
    assert_eq!(world.stats("bob").await, (1016.0, 1, 1));
    consumer.stop().await;
    world.finish().await;
}

async fn a_draw_tells_both_players(mut world: World) {
    world.accounts(&["ann", "bob"]).await;
    let consumer = world.start().await;
    world.game("s-draw", &["ann", "bob"], None).await;
    assert_eq!(
        world.ratings(2).await,
        [
            rated("ann", "s-draw", 1000.0, 0.0),
            rated("bob", "s-draw", 1000.0, 0.0)
        ]
    );
    assert_eq!(world.stats("ann").await, (1000.0, 1, 0));
    assert_eq!(world.stats("bob").await, (1000.0, 1, 0));
    consumer.stop().await;
    world.finish().await;
}

async fn a_relay_game_rates_every_player(mut world: World) {
    world.accounts(&["ann", "bob", "cat"]).await;
    let consumer = world.start().await;
    world
        .game("s-relay", &["ann", "bob", "cat"], Some("cat"))
        .await;
    assert_eq!(
        world.ratings(3).await,
        [
            rated("ann", "s-relay", 992.0, -8.0),
            rated("bob", "s-relay", 992.0, -8.0),
            rated("cat", "s-relay", 1016.0, 16.0),
        ]
    );
    assert_eq!(world.stats("cat").await, (1016.0, 1, 1));
    consumer.stop().await;
    world.finish().await;
}

async fn results_wait_for_a_consumer(mut world: World) {
    world.accounts(&["ann", "bob"]).await;
    // A consumer declares the durable queue, then goes away.
    world.start().await.stop().await;
    world.game("s-1", &["ann", "bob"], Some("bob")).await;
    assert_eq!(world.stats("bob").await, (1000.0, 0, 0), "nobody consumes");
    let consumer = world.start().await;
    assert_eq!(
        world.ratings(2).await,
        [
            rated("ann", "s-1", 984.0, -16.0),
            rated("bob", "s-1", 1016.0, 16.0)
        ]
    );
    assert_eq!(world.stats("bob").await, (1016.0, 1, 1));
    consumer.stop().await;
    world.finish().await;
}

async fn a_player_without_an_account_is_skipped(mut world: World) {
    world.accounts(&["ann", "cat", "dan"]).await;
    let consumer = world.start().await;
    // Ghost's account is gone; the game still counts for Ann, against the initial rating.
    world.game("s-1", &["ann", "ghost"], Some("ann")).await;
    world.game("s-2", &["cat", "dan"], Some("dan")).await;
    assert_eq!(
        world.ratings(3).await,
        [
            rated("ann", "s-1", 1016.0, 16.0),
            rated("cat", "s-2", 984.0, -16.0),
            rated("dan", "s-2", 1016.0, 16.0),
        ]
    );
    assert_eq!(world.stats("ann").await, (1016.0, 1, 1));
    assert_eq!(world.store.get("ghost").await.unwrap(), None);
    consumer.stop().await;
    world.finish().await;
}

async fn other_and_unreadable_events_are_passed_over(mut world: World) {
    world.accounts(&["ann", "bob"]).await;
    let consumer = world.start().await;
    let state = json!({"session_id": "s-0", "state": {}, "version": 1});
    world.publish(&Event::new(STATE, vec![], state)).await;
    world
        .publish(&Event::new(FINISHED, vec![], json!({"nope": true})))
        .await;
    let stranger = World::finished("s-bad", &["ann", "bob"], Some("zed"));
    world.publish(&stranger).await;
    world
        .publish(&Event::new(PLAYER_LEFT, vec![], json!({"user_id": 7})))
        .await;
    // Each was acknowledged: had one come back, it would stand before this one for good.
    world.game("s-1", &["ann", "bob"], Some("ann")).await;
    assert_eq!(
        world.ratings(2).await,
        [
            rated("ann", "s-1", 1016.0, 16.0),
            rated("bob", "s-1", 984.0, -16.0)
        ]
    );
    assert_eq!(world.stats("ann").await, (1016.0, 1, 1));
    consumer.stop().await;
    world.finish().await;
}

/// A store that is unavailable for its first few results (and, separately, releases), then
/// recovers.
#[derive(Default)]
struct Flaky {
    inner: Option<Store>,
    failures_left: AtomicU32,
    attempts: AtomicU32,
    release_failures_left: AtomicU32,
    release_attempts: AtomicU32,
}

impl Flaky {
    fn inner(&self) -> &Store {
        self.inner.as_ref().expect("an inner store")
    }
}

/// Takes one failure off `left`; whether there was one to take.
fn fails(left: &AtomicU32) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait::async_trait]
impl AccountStore for Flaky {
    async fn create(&self, account: &Account) -> Result<(), StoreError> {
        self.inner().create(account).await
    }
    async fn get(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.inner().get(user_id).await
    }
    async fn set_display_name(&self, user_id: &str, name: &str) -> Result<Account, StoreError> {
        self.inner().set_display_name(user_id, name).await
    }
    async fn delete(&self, user_id: &str) -> Result<(), StoreError> {
        self.inner().delete(user_id).await
    }
    async fn apply_result(
        &self,
        session_id: &str,
        changes: &[RatingChange],
    ) -> Result<Option<Vec<Account>>, StoreError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if fails(&self.failures_left) {
            return Err(StoreError::Unavailable("down for the test".to_owned()));
        }
        self.inner().apply_result(session_id, changes).await
    }
    async fn activity(&self, user_id: &str) -> Result<Option<Activity>, StoreError> {
        self.inner().activity(user_id).await
    }
    async fn claim(
        &self,
        user_id: &str,
        activity: &Activity,
        replaceable: &[Activity],
    ) -> Result<Option<Activity>, StoreError> {
        self.inner().claim(user_id, activity, replaceable).await
    }
    async fn hand_over(
        &self,
        user_ids: &[String],
        from: &Activity,
        to: &Activity,
    ) -> Result<Vec<String>, StoreError> {
        self.inner().hand_over(user_ids, from, to).await
    }
    async fn release(&self, user_ids: &[String], activity: &Activity) -> Result<usize, StoreError> {
        self.release_attempts.fetch_add(1, Ordering::SeqCst);
        if fails(&self.release_failures_left) {
            return Err(StoreError::Unavailable("down for the test".to_owned()));
        }
        self.inner().release(user_ids, activity).await
    }
}

async fn an_unavailable_store_gets_the_result_again(mut world: World) {
    world.accounts(&["ann", "bob"]).await;
    let flaky = Arc::new(Flaky {
        inner: Some(Arc::clone(&world.store)),
        failures_left: AtomicU32::new(3),
        ..Flaky::default()
    });
    let consumer = world.start_with(Arc::clone(&flaky) as Store).await;
    world.game("s-1", &["ann", "bob"], Some("ann")).await;
    // Backs off 100 + 200 + 400 ms, then applies it.
    assert_eq!(
        world.ratings(2).await,
        [
            rated("ann", "s-1", 1016.0, 16.0),
            rated("bob", "s-1", 984.0, -16.0)
        ]
    );
    assert_eq!(flaky.attempts.load(Ordering::SeqCst), 4);
    assert_eq!(world.stats("ann").await, (1016.0, 1, 1));
    consumer.stop().await;
    world.finish().await;
}

fn session(id: &str) -> Activity {
    Activity::new(ActivityKind::Session, id)
}

async fn a_finished_game_frees_its_players(mut world: World) {
    world.accounts(&["ann", "bob", "cat"]).await;
    world.claim(&["ann", "bob", "cat"], &session("s-1")).await;
    // Cat left the game earlier and is in a room now: the game's end must not free her from it.
    let room = Activity::new(ActivityKind::Room, "r-9");
    world
        .store
        .claim("cat", &room, &[session("s-1")])
        .await
        .unwrap();
    let consumer = world.start().await;
    world.game("s-1", &["ann", "bob", "cat"], Some("ann")).await;
    // Players are freed before ratings are applied: once these come, the claims are gone.
    world.ratings(3).await;
    assert_eq!(world.activity("ann").await, None);
    assert_eq!(world.activity("bob").await, None);
    assert_eq!(world.activity("cat").await, Some(room));
    consumer.stop().await;
    world.finish().await;
}

async fn a_player_who_leaves_is_freed_and_the_others_stay(mut world: World) {
    world.accounts(&["cat", "dan"]).await;
    world.claim(&["ann", "bob"], &session("s-1")).await;
    world.claim(&["eve"], &session("s-2")).await;
    let consumer = world.start().await;
    world.leave("s-1", "ann").await;
    // A late or repeated departure from another session frees nobody from this one.
    world.leave("s-1", "eve").await;
    world.leave("s-1", "ann").await;
    // Events are handled in order: once this game's ratings come, the departures were handled.
    world.game("s-3", &["cat", "dan"], None).await;
    world.ratings(2).await;
    assert_eq!(world.activity("ann").await, None);
    assert_eq!(world.activity("bob").await, Some(session("s-1")));
    assert_eq!(world.activity("eve").await, Some(session("s-2")));
    consumer.stop().await;
    world.finish().await;
}

async fn an_unavailable_store_gets_the_departure_again(world: World) {
    world.claim(&["ann", "bob"], &session("s-1")).await;
    let flaky = Arc::new(Flaky {
        inner: Some(Arc::clone(&world.store)),
        release_failures_left: AtomicU32::new(2),
        ..Flaky::default()
    });
    let consumer = world.start_with(Arc::clone(&flaky) as Store).await;
    world.leave("s-1", "ann").await;
    // Fails twice (backing off 100 + 200 ms), then frees Ann. Nothing is published once she is
    // free, so the test looks; a departure that RabbitMQ hands out again need not come first.
    tokio::time::timeout(LIMIT, async {
        while world.activity("ann").await.is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("Ann was not freed in time");
    assert_eq!(world.activity("bob").await, Some(session("s-1")));
    assert_eq!(flaky.release_attempts.load(Ordering::SeqCst), 3);
    consumer.stop().await;
    world.finish().await;
}

/// Runs each scenario `async fn name(world: World)` over both buses with both stores.
macro_rules! every_setup {
    ($($name:ident),* $(,)?) => {
        mod in_process_memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store = std::sync::Arc::new(warren_accounts::MemoryStore::new());
                    super::$name(super::World::new(super::Broker::InProcess, store).await).await;
                }
            )*
        }
        mod in_process_redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_redis(|redis| async move {
                        let store = std::sync::Arc::new(redis.store());
                        super::$name(super::World::new(super::Broker::InProcess, store).await)
                            .await;
                    })
                    .await;
                }
            )*
        }
        mod rabbitmq_memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store = std::sync::Arc::new(warren_accounts::MemoryStore::new());
                    super::$name(super::World::new(super::Broker::RabbitMq, store).await).await;
                }
            )*
        }
        mod rabbitmq_redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_redis(|redis| async move {
                        let store = std::sync::Arc::new(redis.store());
                        super::$name(super::World::new(super::Broker::RabbitMq, store).await)
                            .await;
                    })
                    .await;
                }
            )*
        }
    };
}

every_setup!(
    a_win_moves_both_ratings,
    the_same_result_twice_counts_once,
    a_draw_tells_both_players,
    a_relay_game_rates_every_player,
    results_wait_for_a_consumer,
    a_player_without_an_account_is_skipped,
    other_and_unreadable_events_are_passed_over,
    an_unavailable_store_gets_the_result_again,
    a_finished_game_frees_its_players,
    a_player_who_leaves_is_freed_and_the_others_stay,
    an_unavailable_store_gets_the_departure_again,
);
