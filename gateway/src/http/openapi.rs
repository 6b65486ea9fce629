//! The OpenAPI 3 document at `/v1/openapi.json`, generated from the handlers' annotations.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
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
    modifiers(&BearerAuth, &StandardErrors),
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

/// The errors every route can answer, added to each operation from what it is rather than listed
/// by hand, so the document cannot forget one: any call may find its service not running (503),
/// out of time (504) or failing (500); a body may not be JSON (400) or not of the right shape
/// (422); a route behind `Authorization: Bearer` refuses a missing, bad or ended token (401).
/// A route's own annotations describe its specific answers; these fill in what they leave out.
struct StandardErrors;

/// A standard answer: status, description, and which operations can give it.
type Standard = (&'static str, &'static str, fn(&Operation) -> bool);

const STANDARD: [Standard; 6] = [
    ("400", "the body is not JSON (`invalid_params`)", has_body),
    (
        "401",
        "no access token, a bad or expired one, or one whose login ended (`unauthorized`)",
        needs_token,
    ),
    (
        "422",
        "JSON of the wrong shape, or values out of bounds (`invalid_params`)",
        has_body,
    ),
    ("500", "an internal failure (`internal`)", always),
    (
        "503",
        "the service that answers is not running, or a backend is away (`unavailable`)",
        always,
    ),
    (
        "504",
        "the service did not answer in time (`timeout`)",
        always,
    ),
];

fn has_body(operation: &Operation) -> bool {
    operation.request_body.is_some()
}

fn needs_token(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|s| !s.is_empty())
}

fn always(_: &Operation) -> bool {
    true
}

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, description, applies) in STANDARD {
                    if !applies(operation) || operation.responses.responses.contains_key(status) {
                        continue;
                    }
                    let response = ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .insert(status.to_owned(), response.into());
                }
            }
        }
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation documents the answers any call can give, and those its body and token can.
    #[test]
    fn every_operation_documents_its_standard_errors() {
        let document = ApiDoc::openapi();
        let mut seen = 0;
        for (path, item) in &document.paths.paths {
            let operations = [&item.get, &item.post, &item.patch, &item.delete, &item.put];
            for operation in operations.into_iter().flatten() {
                seen += 1;
                let documented = &operation.responses.responses;
                let mut wanted = vec!["500", "503", "504"];
                if has_body(operation) {
                    wanted.extend(["400", "422"]);
                }
                if needs_token(operation) {
                    wanted.push("401");
                }
                for status in wanted {
                    assert!(documented.contains_key(status), "{path}: no {status}");
                }
            }
        }
        assert_eq!(seen, 9, "every route of /v1");
    }
}
