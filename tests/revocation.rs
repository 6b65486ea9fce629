//! Revocation that reaches everything, as a client sees it, embedded and over RabbitMQ and
//! Redis: logging out everywhere, deleting the account and replaying a spent refresh token close
//! the sockets opened with the ended logins (4003) and make their access tokens useless at once,
//! on every gateway, including one that starts afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, PASSWORD, Player, TestSystem, WAIT, start};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The close code of a socket whose login ended.
const LOGIN_ENDED: u16 = 4003;

impl TestSystem {
    /// Another login of `player`: a second device.
    async fn login_again(&self, player: &Player) -> (String, String) {
        let (status, tokens) = self
            .post(
                "/v1/auth/login",
                json!({"username": player.username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
        (
            tokens["access_token"].as_str().unwrap().to_owned(),
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn post_as(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The status of a WebSocket upgrade with `token`: 101 when a socket opens.
    async fn upgrade_status(&self, token: &str) -> u16 {
        match common::Ws::connect(&format!("{}/ws?token={token}", self.ws_base)).await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(error) => panic!("unexpected upgrade error: {error}"),
        }
    }
}

async fn logging_out_everywhere_ends_every_login(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let (laptop_access, laptop_refresh) = system.login_again(&ada).await;
    let bob = system.player("bob").await;
    let mut phone = system.connect(&ada.access_token).await;
    let mut laptop = system.connect(&laptop_access).await;
    let mut bystander = system.connect(&bob.access_token).await;
    phone.call("accounts.me", json!({})).await;

    let (status, body) = system
        .post_as("/v1/auth/logout", &ada.access_token, json!({"all": true}))
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(phone.closed(WAIT).await, LOGIN_ENDED);
    assert_eq!(laptop.closed(WAIT).await, LOGIN_ENDED);
    for token in [&ada.access_token, &laptop_access] {
        assert_eq!(system.upgrade_status(token).await, 401);
        let (status, _) = system.get("/v1/accounts/me", Some(token)).await;
        assert_eq!(
            status, 401,
            "an ended login's token is refused over HTTP too"
        );
    }
    let (status, _) = system
        .post("/v1/auth/refresh", json!({"refresh_token": laptop_refresh}))
        .await;
    assert_eq!(status, 401);

    let me = bystander.call("accounts.me", json!({})).await;
    assert_eq!(me["user_id"], bob.user_id, "other users stay connected");
    let (fresh, _) = system.login_again(&ada).await;
    let mut again = system.connect(&fresh).await;
    let me = again.call("accounts.me", json!({})).await;
    assert_eq!(me["user_id"], ada.user_id, "a new login works");
    system.stop().await;
}

async fn logging_out_one_device_leaves_the_others(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let (laptop_access, _) = system.login_again(&ada).await;
    let mut phone = system.connect(&ada.access_token).await;
    let mut laptop = system.connect(&laptop_access).await;
    let (status, body) = system
        .post(
            "/v1/auth/logout",
            json!({"refresh_token": ada.refresh_token}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(phone.closed(WAIT).await, LOGIN_ENDED);
    assert_eq!(system.upgrade_status(&ada.access_token).await, 401);
    let me = laptop.call("accounts.me", json!({})).await;
    assert_eq!(me["user_id"], ada.user_id, "the laptop's login goes on");

    let (status, body) = system.post("/v1/auth/logout", json!({})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("invalid_params")),
        "{body}"
    );
    let (status, body) = system.post("/v1/auth/logout", json!({"all": true})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized")),
        "{body}"
    );
    system.stop().await;
}

async fn deleting_the_account_closes_its_sockets(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let (other_access, _) = system.login_again(&ada).await;
    let mut socket = system.connect(&ada.access_token).await;
    let mut other = system.connect(&other_access).await;
    let response = system
        .http
        .delete(format!("{}/v1/accounts/me", system.base))
        .bearer_auth(&ada.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(socket.closed(WAIT).await, LOGIN_ENDED);
    assert_eq!(other.closed(WAIT).await, LOGIN_ENDED);
    assert_eq!(system.upgrade_status(&ada.access_token).await, 401);
    assert_eq!(system.upgrade_status(&other_access).await, 401);
    system.stop().await;
}

async fn a_replayed_refresh_token_ends_its_login(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let mut socket = system.connect(&ada.access_token).await;
    let (status, rotated) = system
        .post(
            "/v1/auth/refresh",
            json!({"refresh_token": ada.refresh_token}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let rotated_access = rotated["access_token"].as_str().unwrap().to_owned();
    let mut rotated_socket = system.connect(&rotated_access).await;

    // Someone who copied the spent token replays it.
    let (status, _) = system
        .post(
            "/v1/auth/refresh",
            json!({"refresh_token": ada.refresh_token}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(socket.closed(WAIT).await, LOGIN_ENDED);
    assert_eq!(rotated_socket.closed(WAIT).await, LOGIN_ENDED);
    assert_eq!(system.upgrade_status(&rotated_access).await, 401);
    let (status, _) = system
        .post(
            "/v1/auth/refresh",
            json!({"refresh_token": rotated["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 401, "the token that replaced it is dead too");
    system.stop().await;
}

async fn a_gateway_started_afterwards_refuses_ended_logins(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let bob = system.player("bob").await;
    let (status, _) = system
        .post(
            "/v1/auth/logout",
            json!({"refresh_token": ada.refresh_token}),
        )
        .await;
    assert_eq!(status, 204);

    // A second gateway on the same bus, started after the logout was announced.
    let shutdown = CancellationToken::new();
    let state = warren_gateway::AppState::new(
        system.bus().clone(),
        common::gateway_config(),
        shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let served = tokio::spawn(warren_gateway::serve(listener, state.clone()));
    tokio::time::timeout(WAIT, async {
        while !state.revocations().synced() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the new gateway reads the ended logins");
    let late = format!("ws://{address}/ws?token=");
    match common::Ws::connect(&format!("{late}{}", ada.access_token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
        }
        Err(error) => panic!("unexpected upgrade error: {error}"),
        Ok(_) => panic!("a token of an ended login opened a socket on the new gateway"),
    }
    let mut socket = common::Ws::connect(&format!("{late}{}", bob.access_token))
        .await
        .unwrap();
    let me = socket.call("accounts.me", json!({})).await;
    assert_eq!(me["user_id"], bob.user_id);
    drop(socket);
    shutdown.cancel();
    served.await.unwrap().unwrap();
    system.stop().await;
}

both_modes!(
    logging_out_everywhere_ends_every_login,
    logging_out_one_device_leaves_the_others,
    deleting_the_account_closes_its_sockets,
    a_replayed_refresh_token_ends_its_login,
    a_gateway_started_afterwards_refuses_ended_logins,
);
