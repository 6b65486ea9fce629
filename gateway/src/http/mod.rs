//! HTTP `/v1`: auth, accounts and the room list for tools and web pages, health checks, the
//! OpenAPI document, and the web lobby at `/` ([`web`]). `/metrics` is not here: the admin
//! listener serves it (crate::admin).

pub mod accounts;
pub mod auth;
pub mod client;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod rooms;
pub mod web;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/register", post(auth::register))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route(
            "/v1/accounts/me",
            get(accounts::me)
                .patch(accounts::update)
                .delete(accounts::delete),
        )
        .route("/v1/accounts/{user_id}", get(accounts::get))
        .route("/v1/rooms", get(rooms::list))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
}
