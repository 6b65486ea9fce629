//! Each process on a broker user of its own. A sessions instance forwards a player's change to
//! the session's owner as a service, since only the gateway's broker user may speak for a player.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BrokerUser, Vhost};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warren_bus::{Bus, CallOptions, ConnectOptions, ServeOptions};
use warren_contracts::sessions::{Command as SessionCommand, Create, NewSession, SendCommand};

/// Two sessions instances on one broker user, trusting another as the gateway's: a player's
/// command that reaches the instance that does not own the session is forwarded to the owner,
/// as a service, and applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_players_change_is_forwarded_to_the_owner_as_a_service() {
    let vhost = Vhost::create();
    let gateway = BrokerUser::create(&vhost, "gateway");
    let sessions = BrokerUser::create(&vhost, "sessions");
    let options =
        ConnectOptions::new(sessions.url(), "sessions").gateway_user(Some(gateway.name.clone()));
    let store: Arc<dyn warren_sessions::SessionStore> =
        Arc::new(warren_sessions::MemoryStore::new());
    let shutdown = CancellationToken::new();
    let start = |bus: Bus| {
        let (store, shutdown) = (Arc::clone(&store), shutdown.child_token());
        async move {
            let games = warren_sessions::Games::builtin();
            let grace = Duration::from_secs(30);
            warren_sessions::start(&bus, store, games, grace, ServeOptions::default(), shutdown)
                .await
                .unwrap()
        }
    };

    // The owner creates the session, then stops taking the service's shared queue.
    let owner_bus = Bus::connect_with(&options).await.unwrap();
    let owner = start(owner_bus.clone()).await;
    let client = Bus::connect(&gateway.url(), "gateway").await.unwrap();
    let players = vec!["ada".to_owned(), "bob".to_owned()];
    let new = NewSession {
        mode: "relay".into(),
        players,
    };
    let session = client
        .call::<Create>(&new, CallOptions::default())
        .await
        .unwrap();
    let other_bus = Bus::connect_with(&options).await.unwrap();
    let other = start(other_bus.clone()).await;
    owner.server.stop().await;

    // From the gateway for ada, not routed: the other instance takes it and forwards it.
    let command = SessionCommand {
        session_id: session.session_id.clone(),
        command: json!({"hello": "bob"}),
    };
    let as_ada = CallOptions::default()
        .timeout(Duration::from_secs(10))
        .user_id("ada");
    client
        .call::<SendCommand>(&command, as_ada)
        .await
        .expect("the forwarded command is applied");

    other.server.stop().await;
    shutdown.cancel();
    owner.background.await.unwrap();
    other.background.await.unwrap();
    for bus in [client, owner_bus, other_bus] {
        bus.shutdown().await;
    }
}
