//! Register, log in, use the account over WebSocket and HTTP, refresh, log out, delete: as a
//! game client would, embedded and over RabbitMQ and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, PASSWORD, start, unique};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use warren_contracts::auth::Claims;

async fn the_whole_account_story(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let bob = system.player("bob").await;

    // Over the WebSocket: the caller's account, and another's public view.
    let mut ws = system.connect(&ada.access_token).await;
    let me = ws.call("accounts.me", json!({})).await;
    assert_eq!(me["user_id"], ada.user_id);
    assert_eq!(me["username"], ada.username);
    assert_eq!(me["display_name"], ada.username);
    assert_eq!(me["rating"], 1000.0);
    assert_eq!(me["games_played"], 0);
    let public = ws
        .call("accounts.get", json!({"user_id": bob.user_id}))
        .await;
    assert_eq!(public["username"], bob.username);

    // Over HTTP: rename, read back, public view.
    let response = system
        .http
        .patch(format!("{}/v1/accounts/me", system.base))
        .bearer_auth(&ada.access_token)
        .json(&json!({"display_name": "Ada L."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let renamed: serde_json::Value = response.json().await.unwrap();
    assert_eq!(renamed["display_name"], "Ada L.");
    let (status, view) = system
        .get(
            &format!("/v1/accounts/{}", ada.user_id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!((status, &view["display_name"]), (200, &json!("Ada L.")));
    let (status, _) = system
        .get(&format!("/v1/accounts/{}", ada.user_id), None)
        .await;
    assert_eq!(status, 401, "the public view needs a logged-in caller");
    let (status, body) = system
        .get("/v1/accounts/no-such-user", Some(&bob.access_token))
        .await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));

    // Refresh rotates; the old refresh token is refused afterwards.
    let (status, pair) = system
        .post(
            "/v1/auth/refresh",
            json!({"refresh_token": ada.refresh_token}),
        )
        .await;
    assert_eq!(status, 200, "{pair}");
    assert_ne!(pair["refresh_token"], json!(ada.refresh_token));
    let (status, body) = system
        .post(
            "/v1/auth/refresh",
            json!({"refresh_token": ada.refresh_token}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );

    // Logout revokes the current refresh token.
    let new_refresh = pair["refresh_token"].as_str().unwrap();
    let response = system
        .http
        .post(format!("{}/v1/auth/logout", system.base))
        .json(&json!({"refresh_token": new_refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = system
        .post("/v1/auth/refresh", json!({"refresh_token": new_refresh}))
        .await;
    assert_eq!(status, 401);

    // That login is over (the spent token's replay ended it): its access token is refused too.
    let (status, _) = system.get("/v1/accounts/me", Some(&ada.access_token)).await;
    assert_eq!(status, 401, "an ended login's access token");
    let (status, tokens) = system
        .post(
            "/v1/auth/login",
            json!({"username": ada.username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();

    // Delete: the account is gone and the credentials stop working.
    let response = system
        .http
        .delete(format!("{}/v1/accounts/me", system.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = system
        .get(
            &format!("/v1/accounts/{}", ada.user_id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = system
        .post(
            "/v1/auth/login",
            json!({"username": ada.username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401, "a deleted account's credentials still work");
    drop(ws);
    system.stop().await;
}

async fn bad_registrations_and_logins_are_refused(mode: Mode) {
    let system = start(mode).await;
    let name = unique("carol");
    let cases = [
        (json!({"username": "ab", "password": PASSWORD}), 422),
        (
            json!({"username": "x".repeat(33), "password": PASSWORD}),
            422,
        ),
        (json!({"username": "no spaces", "password": PASSWORD}), 422),
        (json!({"username": name, "password": "short"}), 422),
        (json!({"username": name}), 422),
        (json!({"username": 5, "password": PASSWORD}), 422),
    ];
    for (body, status) in cases {
        let (got, answer) = system.post("/v1/auth/register", body.clone()).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], "invalid_params", "{body}");
    }
    let response = system
        .http
        .post(format!("{}/v1/auth/register", system.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_params");

    let (status, _) = system
        .post(
            "/v1/auth/register",
            json!({"username": name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = system
        .post(
            "/v1/auth/register",
            json!({"username": name.to_uppercase(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("already_exists"))
    );
    for (username, password) in [(name.as_str(), "wrong password"), ("nobody_here", PASSWORD)] {
        let (status, body) = system
            .post(
                "/v1/auth/login",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (401, &json!("unauthorized"))
        );
    }
    system.stop().await;
}

async fn only_valid_tokens_open_a_socket(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let now = warren_contracts::event::now_millis() / 1000;
    let sign = |secret: &[u8], exp: u64| {
        let claims = Claims::new(ada.user_id.clone(), "a-login", now, exp);
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let forged = sign(b"not-the-secret-not-the-secret", now + 600);
    let expired = sign(common::SECRET, now - 3600);
    for token in ["", "garbage", forged.as_str(), expired.as_str()] {
        let url = format!("{}/ws?token={token}", system.ws_base);
        match common::Ws::connect(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "token {token:?}");
            }
            Err(other) => panic!("token {token:?}: {other}"),
            Ok(_) => panic!("token {token:?} opened a socket"),
        }
    }
    let (status, _) = system.get("/v1/accounts/me", Some(&expired)).await;
    assert_eq!(status, 401);
    // The header works as well as the query.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/ws", system.ws_base)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", ada.access_token).parse().unwrap(),
    );
    let mut ws = common::Ws::connect_request(request).await.unwrap();
    assert_eq!(
        ws.call("accounts.me", json!({})).await["user_id"],
        ada.user_id
    );
    system.stop().await;
}

/// A client bound to one loopback address: the gateway sees it as that address.
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_from(
    system: &common::TestSystem,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{}/v1/auth/login", system.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Five wrong passwords from a stranger's address lock that address out of the name, with
/// `Retry-After`, and not the owner's: usernames are public, so a lock per name alone would let
/// anyone keep anyone out.
async fn a_stranger_cannot_lock_the_owner_out(mode: Mode) {
    let system = start(mode).await;
    let ada = system.player("ada").await;
    let stranger = client_from("127.0.0.2");
    for _ in 0..5 {
        let response = login_from(&system, &stranger, &ada.username, "wrong-password").await;
        assert_eq!(response.status(), 401);
    }
    let locked = login_from(&system, &stranger, &ada.username, PASSWORD).await;
    assert_eq!(locked.status(), 429, "the stranger's address is locked out");
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = locked.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let owner = client_from("127.0.0.1");
    let response = login_from(&system, &owner, &ada.username, PASSWORD).await;
    assert_eq!(response.status(), 200, "the owner logs in from home");
    system.stop().await;
}

both_modes!(
    a_stranger_cannot_lock_the_owner_out,
    the_whole_account_story,
    bad_registrations_and_logins_are_refused,
    only_valid_tokens_open_a_socket,
);
