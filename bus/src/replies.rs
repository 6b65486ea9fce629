//! Replies remembered by request, so that a request delivered again is answered, not applied
//! again.
//!
//! The broker delivers a request again when the instance handling it dies before acknowledging
//! it. If that instance had finished the work, running the handler again would apply it twice
//! (a second room, a relay command sent twice). So a server remembers each successful reply of a
//! method that changes something (see `Method::REMEMBER_REPLY`), by service, method, request id and
//! parameters, for [`REMEMBER_FOR`]; a redelivered request finds it and gets the same answer.
//! Errors are not remembered: a refused request changed nothing and may run again.
//!
//! The in-memory store is here; the Redis one, shared by a service's instances, is in
//! `warren-runtime`.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;
use warren_contracts::event::now_millis;

/// How long a reply is remembered: longer than any caller waits for one.
pub const REMEMBER_FOR: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
#[error("reply store unavailable: {0}")]
pub struct ReplyStoreError(pub String);

#[async_trait::async_trait]
pub trait ReplyStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ReplyStoreError>;
    async fn put(&self, key: &str, reply: &[u8]) -> Result<(), ReplyStoreError>;
}

/// The key a reply is remembered under: the same request id with other parameters (a handler
/// making several calls for one client request) is another request.
pub fn key(service: &str, method: &str, request_id: &str, params: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    params.hash(&mut hasher);
    format!("{service}:{method}:{request_id}:{:016x}", hasher.finish())
}

/// Replies in this process's memory, forgotten after [`REMEMBER_FOR`].
#[derive(Debug, Default)]
pub struct MemoryReplies {
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    replies: HashMap<String, Vec<u8>>,
    /// Keys by when they were remembered, to forget them in order.
    order: VecDeque<(u64, String)>,
}

impl MemoryReplies {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl ReplyStore for MemoryReplies {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ReplyStoreError> {
        Ok(crate::lock(&self.inner).replies.get(key).cloned())
    }

    async fn put(&self, key: &str, reply: &[u8]) -> Result<(), ReplyStoreError> {
        let now = now_millis();
        let forget_before =
            now.saturating_sub(u64::try_from(REMEMBER_FOR.as_millis()).unwrap_or(0));
        let mut inner = crate::lock(&self.inner);
        while inner
            .order
            .front()
            .is_some_and(|(at, _)| *at < forget_before)
        {
            if let Some((_, old)) = inner.order.pop_front() {
                inner.replies.remove(&old);
            }
        }
        inner.replies.insert(key.to_owned(), reply.to_vec());
        inner.order.push_back((now, key.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RequestContext, Router};
    use serde::{Deserialize, Serialize};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use warren_contracts::{Method, WireError};

    #[derive(Debug, Serialize, Deserialize)]
    struct Amount {
        n: u32,
    }

    struct Add;
    impl Method for Add {
        const SERVICE: &'static str = "counter";
        const NAME: &'static str = "counter.add";
        type Params = Amount;
        type Result = Amount;
    }

    struct Read;
    impl Method for Read {
        const SERVICE: &'static str = "counter";
        const NAME: &'static str = "counter.read";
        type Params = Amount;
        type Result = Amount;
        const REMEMBER_REPLY: bool = false;
    }

    fn counter() -> (Router, Arc<AtomicU32>) {
        let total = Arc::new(AtomicU32::new(0));
        let (adds, reads) = (Arc::clone(&total), Arc::clone(&total));
        let router = Router::new("counter")
            .method::<Add, _, _>(move |_, amount: Amount| {
                let total = Arc::clone(&adds);
                async move {
                    if amount.n == 0 {
                        return Err(WireError::new(
                            warren_contracts::ErrorCode::InvalidParams,
                            "add something",
                        ));
                    }
                    let n = total.fetch_add(amount.n, Ordering::SeqCst) + amount.n;
                    Ok(Amount { n })
                }
            })
            .method::<Read, _, _>(move |_, _: Amount| {
                let total = Arc::clone(&reads);
                async move {
                    let n = total.fetch_add(1, Ordering::SeqCst) + 1;
                    Ok(Amount { n })
                }
            })
            .remembering(Arc::new(MemoryReplies::new()));
        (router, total)
    }

    fn request(method: &str, request_id: &str, redelivered: bool) -> RequestContext {
        RequestContext {
            method: method.into(),
            request_id: Some(request_id.into()),
            user_id: None,
            client_addr: None,
            deadline_ms: u64::MAX,
            redelivered,
            trace: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_redelivered_request_gets_its_first_reply_and_is_not_applied_again() {
        let (router, total) = counter();
        let body = br#"{"n":5}"#.to_vec();
        let first = router
            .dispatch(request("counter.add", "r1", false), body.clone())
            .await;
        let again = router
            .dispatch(request("counter.add", "r1", true), body.clone())
            .await;
        assert_eq!(first, again);
        assert_eq!(total.load(Ordering::SeqCst), 5, "applied once");
        // Another request, or the same id with other parameters, is applied.
        router
            .dispatch(request("counter.add", "r2", true), body)
            .await;
        router
            .dispatch(request("counter.add", "r1", true), br#"{"n":1}"#.to_vec())
            .await;
        assert_eq!(total.load(Ordering::SeqCst), 11);
    }

    #[tokio::test]
    async fn errors_and_reads_are_not_remembered() {
        let (router, total) = counter();
        let refused = router
            .dispatch(request("counter.add", "r1", false), br#"{"n":0}"#.to_vec())
            .await;
        assert!(refused.starts_with(br#"{"error""#));
        let body = br#"{"n":2}"#.to_vec();
        router
            .dispatch(request("counter.add", "r1", true), body.clone())
            .await;
        assert_eq!(
            total.load(Ordering::SeqCst),
            2,
            "the refused request changed nothing"
        );
        router
            .dispatch(request("counter.read", "r3", false), body.clone())
            .await;
        router
            .dispatch(request("counter.read", "r3", true), body)
            .await;
        assert_eq!(total.load(Ordering::SeqCst), 4, "reads run again");
    }
}
