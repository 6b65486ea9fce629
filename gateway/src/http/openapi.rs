//! The OpenAPI 3 document at `/v1/openapi.json`, generated from the handlers' annotations.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use warren_contracts::WireError;

/// How every error looks over HTTP.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: WireError,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Warren", description = "Game-lobby backend: HTTP API. The game protocol itself is JSON-RPC over the WebSocket at /ws (see docs/protocol.md)."),
    paths(
        super::auth::register, super::auth::login, super::auth::refresh, super::auth::logout,
        super::accounts::me, super::accounts::update, super::accounts::delete, super::accounts::get,
        super::rooms::list,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "accounts"), (name = "rooms")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
