//! Changing a record that several requests and instances change at once, without a lock: read it,
//! let the caller decide, and write the outcome only if the record still has the version that was
//! read; if not, read again and decide again, until a deadline. Rooms and private rooms change
//! every room this way; what differs between them (how a room is read, written and deleted) is the
//! [`Versioned`] trait each implements.

use crate::starts::Change;
use std::future::Future;
use std::time::Duration;
use warren_contracts::{ErrorCode, WireError};

/// A store of records changed by compare-and-set on their version.
pub trait Versioned: Send + Sync {
    type Record: Send;
    /// The error a request gets when the record kept changing under it for the whole deadline.
    const TOO_BUSY: &'static str;

    /// The record as it stands, or the error the request gets (`not_found`, `unavailable`).
    fn read(&self, id: &str) -> impl Future<Output = Result<Self::Record, WireError>> + Send;
    /// The version `record` was read at.
    fn version(record: &Self::Record) -> u64;
    /// Writes the changed `record` as the version after `expected`, if the stored one is still
    /// `expected`; `false` if it is not.
    fn write(
        &self,
        record: &mut Self::Record,
        expected: u64,
    ) -> impl Future<Output = Result<bool, WireError>> + Send;
    /// Deletes the record if the stored one is still `expected`; `false` if it is not.
    fn remove(
        &self,
        record: &Self::Record,
        expected: u64,
    ) -> impl Future<Output = Result<bool, WireError>> + Send;
}

/// Reads record `id` from `store`, lets `change` decide, and writes the outcome back if nobody
/// changed the record meanwhile; otherwise reads again and retries until `busy_limit` has passed.
pub async fn update<S, F>(
    store: &S,
    id: &str,
    busy_limit: Duration,
    mut change: F,
) -> Result<(S::Record, Change), WireError>
where
    S: Versioned + ?Sized,
    F: FnMut(&mut S::Record) -> Result<Change, WireError>,
{
    let give_up = tokio::time::Instant::now() + busy_limit;
    while tokio::time::Instant::now() < give_up {
        let mut record = store.read(id).await?;
        let expected = S::version(&record);
        let outcome = change(&mut record)?;
        let written = match outcome {
            Change::Unchanged => true,
            Change::Delete => store.remove(&record, expected).await?,
            Change::Save => store.write(&mut record, expected).await?,
        };
        if written {
            return Ok((record, outcome));
        }
        // Another writer won; let it finish before reading again.
        tokio::task::yield_now().await;
    }
    Err(WireError::new(ErrorCode::Unavailable, S::TOO_BUSY))
}
