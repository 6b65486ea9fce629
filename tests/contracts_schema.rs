//! The client-facing contracts as the TypeScript client sees them: the JSON Schema committed at
//! `clients/typescript/schema/contracts.json` (its types are generated from it) is the one the
//! Rust types give today, and it names exactly the methods and events docs/protocol.md documents.
//!
//! After changing a client-facing type, write the file again and regenerate the TypeScript:
//! `WARREN_UPDATE_SCHEMA=1 cargo test --test contracts_schema`, then
//! `npm run generate` in `clients/typescript/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use warren_contracts::schema::{EVENTS, document, document_text};

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/typescript/schema/contracts.json")
}

#[test]
fn the_committed_schema_is_the_one_the_types_give() {
    let current = document_text();
    if std::env::var_os("WARREN_UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(committed().parent().unwrap()).unwrap();
        std::fs::write(committed(), &current).unwrap();
    }
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk == current,
        "clients/typescript/schema/contracts.json is stale: run \
         `WARREN_UPDATE_SCHEMA=1 cargo test --test contracts_schema`, then `npm run generate` \
         in clients/typescript/"
    );
}

/// The names in the first column of the protocol document's tables under headings that contain
/// `heading`, written as code spans with a dot (`rooms.create`, `room.updated`).
fn documented(heading: &str) -> BTreeSet<String> {
    let protocol = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/protocol.md");
    let text = std::fs::read_to_string(protocol).unwrap();
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with('#') {
            inside = line.contains(heading);
        } else if inside && line.starts_with("| `") {
            let name = line.split('`').nth(1).unwrap();
            if name.contains('.') {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_schema_has_every_documented_method_and_event() {
    let schema = document();
    let methods: BTreeSet<String> = schema["properties"]["methods"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut expected = documented("Methods");
    expected.extend(documented("Public rooms"));
    expected.extend(documented("Private rooms"));
    expected.extend(documented("Matchmaking"));
    expected.extend(documented("Resuming"));
    // The gateway answers `events.resume` itself; it is not a service's method.
    expected.remove("events.resume");
    assert_eq!(
        methods, expected,
        "client methods in the schema vs docs/protocol.md"
    );

    let events: BTreeSet<String> = EVENTS.iter().map(|e| e.name.to_owned()).collect();
    let documented_events = documented("events");
    assert_eq!(
        events, documented_events,
        "events in the schema vs docs/protocol.md"
    );
}
