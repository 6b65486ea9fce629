//! The brokers a bus may connect to: one URL, or the nodes of a RabbitMQ cluster.
//!
//! A bus holds one connection at a time. It starts at a random node, so that the instances of a
//! deployment spread over the cluster, and when its connection is lost it tries the nodes in turn
//! from the one after, so that a node that is down costs one failed attempt, not a wait.

use super::Link;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) struct Nodes {
    urls: Vec<String>,
    /// The node the next attempt starts with.
    next: AtomicUsize,
}

/// The URLs of a comma-separated list, without blanks around them.
pub(crate) fn split(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect()
}

impl Nodes {
    pub(crate) fn new(list: &str) -> Self {
        let urls: Vec<String> = split(list).into_iter().map(str::to_owned).collect();
        let count = urls.len().max(1);
        let start = usize::try_from(uuid::Uuid::new_v4().as_u128() % count as u128).unwrap_or(0);
        Self {
            urls,
            next: AtomicUsize::new(start),
        }
    }

    /// The first URL: every node of a cluster is reached as the same broker user.
    pub(crate) fn first(&self) -> &str {
        self.urls.first().map_or("", String::as_str)
    }

    /// A link to the first node that answers, each tried once, starting where the last attempt
    /// left off, and that node's URL (for logs); the error names why the last node failed.
    pub(crate) async fn open(&self, name: &str) -> Result<(Arc<Link>, &str), String> {
        let mut last = String::from("no broker URL");
        for _ in 0..self.urls.len() {
            let index = self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len();
            let url = &self.urls[index];
            match Link::open(url, name).await {
                Ok(link) => return Ok((link, url.as_str())),
                Err(error) => {
                    if self.urls.len() > 1 {
                        tracing::warn!(%error, broker = %super::redact(url), "a broker node does not answer");
                    }
                    last = error.to_string();
                }
            }
        }
        Err(last)
    }
}
