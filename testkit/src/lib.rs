//! What the services' tests share, so that a change to a neighbour's contract or to how tests use
//! Redis is made once. A dev-dependency only: nothing here runs in a deployment.
//!
//! ```text
//! redis.rs    the test Redis, and a key prefix of a test's own that is deleted afterwards
//! store.rs    a store in memory or in that Redis, for scenarios run on both
//! claims.rs   a stand-in for accounts' claims: claim, hand over, release
//! fakes.rs    stand-ins for accounts and sessions as rooms and private rooms meet them
//! faults.rs   faults armed to go off once, and an event journal that fails on demand
//! ```
// Test support: a broken expectation here is a failed test, said as loudly as in the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod claims;
pub mod fakes;
pub mod faults;
pub mod redis;
pub mod store;

pub use claims::FakeClaims;
pub use fakes::Fakes;
pub use faults::{Faults, FlakyJournal};
pub use redis::TestRedis;
pub use store::{Backend, TestStore};

/// A new user id, as auth would issue.
pub fn user() -> String {
    uuid::Uuid::new_v4().to_string()
}
