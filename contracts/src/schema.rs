//! The client-facing contracts as one JSON Schema document: every method a client may call over
//! the WebSocket (its parameters and result), every event it may receive (its data), the HTTP
//! bodies of `/v1`, and the stable error codes.
//!
//! Client libraries generate their types from it (`clients/typescript/schema/contracts.json`,
//! checked against [`document`] by a test), so a field renamed here fails their build instead of
//! a game. Methods come from [`crate::methods`], so a new client method is in the document without
//! being listed twice; events are listed in [`EVENTS`], where their data types are named.

use crate::rpc::{SchemaOf, schema_of};
use crate::{accounts, auth, error, matchmaker, private_rooms, rooms, sessions};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// An event clients may receive: its `type` and the schema of its `data`.
pub struct EventInfo {
    pub name: &'static str,
    pub data: SchemaOf,
}

impl EventInfo {
    const fn of<T: JsonSchema>(name: &'static str) -> Self {
        Self {
            name,
            data: schema_of::<T>,
        }
    }
}

/// `room.updated` carries a public or a private room, whichever the recipient is in.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used.
enum AnyRoom {
    Public(rooms::Room),
    Private(private_rooms::PrivateRoom),
}

/// Every event a client may receive, as docs/protocol.md lists them. `tests/contracts_schema.rs`
/// checks that each event a service publishes to players is here.
pub const EVENTS: &[EventInfo] = &[
    EventInfo::of::<AnyRoom>(rooms::UPDATED),
    EventInfo::of::<rooms::RoomClosed>(rooms::CLOSED),
    EventInfo::of::<private_rooms::Invited>(private_rooms::INVITED),
    EventInfo::of::<matchmaker::MatchFound>(matchmaker::MATCH_FOUND),
    EventInfo::of::<matchmaker::Ended>(matchmaker::CANCELLED),
    EventInfo::of::<matchmaker::Ended>(matchmaker::EXPIRED),
    EventInfo::of::<sessions::SessionStarted>(sessions::STARTED),
    EventInfo::of::<sessions::StateChanged>(sessions::STATE),
    EventInfo::of::<sessions::PlayerLeft>(sessions::PLAYER_LEFT),
    EventInfo::of::<sessions::Finished>(sessions::FINISHED),
    EventInfo::of::<accounts::RatingChanged>(accounts::RATING_CHANGED),
];

/// The bodies clients send to HTTP `/v1`, named as the generated types will be.
const HTTP_REQUESTS: &[(&str, SchemaOf)] = &[
    ("credentials", schema_of::<auth::Credentials>),
    ("refresh", schema_of::<auth::RefreshToken>),
    ("logout", schema_of::<auth::LogoutParams>),
    ("account_update", schema_of::<accounts::AccountUpdate>),
];

/// The bodies HTTP `/v1` answers with.
const HTTP_ANSWERS: &[(&str, SchemaOf)] = &[
    ("registered", schema_of::<auth::Registered>),
    ("tokens", schema_of::<auth::Tokens>),
    ("account", schema_of::<accounts::Account>),
    ("error", schema_of::<error::WireError>),
];

/// The whole document: an object type `WarrenContracts` whose properties `methods`, `events`,
/// `http` and `error_code` reference the named types under `definitions`.
///
/// What clients send is described as the server reads it (a field with a default may be left
/// out); what they receive, as the server writes it (such a field is always there). A type that
/// goes both ways must read as it writes.
pub fn document() -> Value {
    let mut sent = SchemaSettings::draft07().for_deserialize().into_generator();
    let mut received = SchemaSettings::draft07().for_serialize().into_generator();
    let methods: Vec<(&str, Value)> = crate::methods()
        .filter(|method| method.client)
        .map(|method| {
            let params = (method.params)(&mut sent);
            let result = (method.result)(&mut received);
            let types = [("params", params.to_value()), ("result", result.to_value())];
            (method.name, closed_object(&types))
        })
        .collect();
    let events: Vec<(&str, Value)> = EVENTS
        .iter()
        .map(|event| (event.name, (event.data)(&mut received).to_value()))
        .collect();
    let requests = HTTP_REQUESTS
        .iter()
        .map(|(name, schema)| (*name, schema(&mut sent)));
    let answers = HTTP_ANSWERS
        .iter()
        .map(|(name, schema)| (*name, schema(&mut received)));
    let http: Vec<(&str, Value)> = requests
        .chain(answers)
        .map(|(name, schema)| (name, schema.to_value()))
        .collect();
    let error_code = received.subschema_for::<error::ErrorCode>().to_value();
    let mut root = closed_object(&[
        ("methods", closed_object(&methods)),
        ("events", closed_object(&events)),
        ("http", closed_object(&http)),
        ("error_code", error_code),
    ]);
    root["$schema"] = json!("http://json-schema.org/draft-07/schema#");
    root["title"] = json!("WarrenContracts");
    root["description"] = json!(
        "Warren's client-facing contracts, generated from its Rust types: do not edit by hand."
    );
    let mut definitions: BTreeMap<String, Value> =
        received.take_definitions(true).into_iter().collect();
    for (name, schema) in sent.take_definitions(true) {
        if let Some(written) = definitions.get(&name) {
            assert_eq!(
                written, &schema,
                "{name} is sent and received, and reads otherwise than it writes"
            );
        }
        definitions.insert(name, schema);
    }
    root["definitions"] = Value::Object(definitions.into_iter().collect());
    root
}

/// The document as the committed file holds it: pretty JSON with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// An object with exactly these properties, all required: a generated type gets no index
/// signature and no optional member where the protocol always sends one.
fn closed_object(properties: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    let properties: Map<String, Value> = properties
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}
