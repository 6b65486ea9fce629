//! Password hashing as a bounded resource. An argon2id hash fills 19 MiB and tens of milliseconds
//! of a core; run unbounded, a login flood takes the process to gigabytes and every request to
//! its deadline. Here at most `slots` hashes or verifies run at once (each on the blocking pool),
//! each in a memory area kept for the next one, so resident hashing memory stays at
//! `slots × 19 MiB`. A caller waits for a slot for a bounded time and is otherwise told to come
//! back later ([`HashError::Busy`], `rate_limited` with a retry-after hint) instead of queueing
//! towards a timeout.

use crate::password::{self, DUMMY_HASH, PasswordError};
use argon2::Block;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a caller refused a slot is told to wait before trying again: about what a queue of
/// waiters takes to drain on a busy instance.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What is kept back from a wait, for the answer to reach the caller (through the bus and the
/// gateway, past the other requests that arrived at once): a slot found later than this is no
/// use to anyone.
pub const ANSWER_ALLOWANCE: Duration = Duration::from_millis(100);

/// Why a hash or verify was not done (a wrong password is not an error).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No slot came free within the wait allowed; nothing was computed.
    #[error("no hashing slot came free in time")]
    Busy { retry_after: Duration },
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("the hashing task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The memory areas of the slots that are not computing right now.
type Pool = Arc<Mutex<Vec<Vec<Block>>>>;

/// The hashing slots of one auth instance; shared by its handlers.
#[derive(Debug)]
pub struct Hashing {
    /// One permit per slot, held for the whole computation (moved into the blocking task, so a
    /// request that gives up does not free the slot before the CPU work ends).
    slots: Arc<Semaphore>,
    /// Idle memory areas. A task takes one after its permit and puts it back before releasing the
    /// permit, so areas in use plus idle ones never outnumber the slots.
    pool: Pool,
    /// Memory areas ever allocated; at most the number of slots.
    allocated: Arc<AtomicUsize>,
    /// Hashes and verifies computed (for tests and diagnostics).
    computed: Arc<AtomicU64>,
    /// The longest a caller waits for a slot and its computation together.
    queue_timeout: Duration,
    /// How long a computation takes, in µs: a moving average (new = 7/8 old + 1/8 last), 0 before
    /// the first. Kept out of the wait for a slot, so the answer comes within the queue timeout.
    typical_micros: Arc<AtomicU64>,
    capacity: usize,
}

impl Hashing {
    /// `slots` computations at once (at least one); callers wait at most `queue_timeout`.
    pub fn new(slots: usize, queue_timeout: Duration) -> Self {
        let capacity = slots.max(1);
        Self {
            slots: Arc::new(Semaphore::new(capacity)),
            pool: Arc::new(Mutex::new(Vec::with_capacity(capacity))),
            allocated: Arc::new(AtomicUsize::new(0)),
            computed: Arc::new(AtomicU64::new(0)),
            queue_timeout,
            typical_micros: Arc::new(AtomicU64::new(0)),
            capacity,
        }
    }

    /// How many computations may run at once.
    pub fn slots(&self) -> usize {
        self.capacity
    }

    /// Memory areas allocated so far: never more than [`Hashing::slots`], however many callers.
    pub fn memory_areas(&self) -> usize {
        self.allocated.load(Ordering::SeqCst)
    }

    /// Hashes and verifies computed since start.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::SeqCst)
    }

    /// How long a hash or verify typically takes here (zero before the first).
    pub fn typical_computation(&self) -> Duration {
        Duration::from_micros(self.typical_micros.load(Ordering::Relaxed))
    }

    /// Waits for a slot at most the queue timeout less a typical computation and
    /// [`ANSWER_ALLOWANCE`] (so that the answer comes within the timeout), or `deadline_left`
    /// less the allowance, whichever is shorter. A
    /// caller that must do something before it computes (count the attempt) takes the slot
    /// first, so that only attempts about to be computed are counted, never those still waiting.
    pub async fn slot(&self, deadline_left: Duration) -> Result<Slot<'_>, HashError> {
        let wait = self
            .queue_timeout
            .saturating_sub(self.typical_computation())
            .min(deadline_left)
            .saturating_sub(ANSWER_ALLOWANCE);
        let busy = HashError::Busy {
            retry_after: BUSY_RETRY_AFTER,
        };
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                match tokio::time::timeout(wait, Arc::clone(&self.slots).acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    // Timed out, or closed (never: the semaphore is not closed).
                    Ok(Err(_)) | Err(_) => return Err(busy),
                }
            }
        };
        Ok(Slot {
            hashing: self,
            permit,
        })
    }

    /// The PHC string of `password`, with a fresh salt. Waits for a slot as [`Hashing::slot`].
    pub async fn hash(&self, password: &str, deadline_left: Duration) -> Result<String, HashError> {
        self.slot(deadline_left).await?.hash(password).await
    }

    /// Whether `password` matches the PHC string `phc`; waits as [`Hashing::slot`].
    pub async fn verify(
        &self,
        password: &str,
        phc: &str,
        deadline_left: Duration,
    ) -> Result<bool, HashError> {
        self.slot(deadline_left).await?.verify(password, phc).await
    }

    /// An idle memory area, or a new empty one (sized by the first computation in it).
    fn take_memory(&self) -> Vec<Block> {
        if let Some(memory) = lock(&self.pool).pop() {
            return memory;
        }
        self.allocated.fetch_add(1, Ordering::SeqCst);
        Vec::with_capacity(password::default_blocks())
    }
}

/// A hashing slot held: one computation may run in it.
#[derive(Debug)]
pub struct Slot<'a> {
    hashing: &'a Hashing,
    permit: OwnedSemaphorePermit,
}

impl Slot<'_> {
    /// The PHC string of `password`, with a fresh salt.
    pub async fn hash(self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        self.run(move |memory| password::hash_in(&password, memory))
            .await
    }

    /// Whether `password` matches the PHC string `phc`.
    pub async fn verify(self, password: &str, phc: &str) -> Result<bool, HashError> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move |memory| password::verify_in(&password, &phc, memory))
            .await
    }

    /// Spends what a real verification costs, for a name that has no credentials, so the answer's
    /// timing does not tell which names exist.
    pub async fn verify_dummy(self, password: &str) -> Result<(), HashError> {
        self.verify(password, DUMMY_HASH).await.map(|_| ())
    }

    async fn run<T, F>(self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
    {
        let Slot { hashing, permit } = self;
        let mut memory = hashing.take_memory();
        let pool = Arc::clone(&hashing.pool);
        let computed = Arc::clone(&hashing.computed);
        let typical = Arc::clone(&hashing.typical_micros);
        // The permit moves into the task: a request that gives up does not free the slot
        // before the CPU work ends.
        let result = tokio::task::spawn_blocking(move || {
            computed.fetch_add(1, Ordering::SeqCst);
            let started = std::time::Instant::now();
            let result = work(&mut memory);
            let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            // Racing updates may lose one sample; an average does not mind.
            let before = typical.load(Ordering::Relaxed);
            let next = if before == 0 {
                took
            } else {
                before - before / 8 + took / 8
            };
            typical.store(next, Ordering::Relaxed);
            lock(&pool).push(memory);
            drop(permit);
            result
        })
        .await?;
        Ok(result?)
    }
}

/// The pool is only pushed to and popped from under the lock, so a poisoned lock still guards a
/// consistent list.
fn lock(pool: &Pool) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
    warren_bus::lock(pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const LONG: Duration = Duration::from_secs(60);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_stays_at_one_area_per_slot() {
        let hashing = Arc::new(Hashing::new(2, LONG));
        let hash = hashing.hash("correct horse", LONG).await.unwrap();
        let mut checks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (hashing, hash) = (Arc::clone(&hashing), hash.clone());
            checks.spawn(async move { hashing.verify(&format!("guess {i}"), &hash, LONG).await });
        }
        for result in checks.join_all().await {
            assert!(!result.unwrap());
        }
        assert!(hashing.memory_areas() <= 2, "{}", hashing.memory_areas());
        assert_eq!(hashing.computed(), 9);
        assert!(
            hashing.typical_computation() > Duration::ZERO,
            "what a computation takes is known, to keep it out of the wait"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_waits_no_longer_than_the_queue_timeout() {
        let hashing = Arc::new(Hashing::new(1, Duration::from_millis(20)));
        let busy = Arc::clone(&hashing);
        let holder = tokio::spawn(async move { busy.hash("first in line", LONG).await });
        // The first call holds the only slot once it has counted itself.
        while hashing.computed() == 0 {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        let refused = hashing.hash("second", LONG).await;
        assert!(
            matches!(refused, Err(HashError::Busy { .. })),
            "{refused:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        holder.await.unwrap().unwrap();
        assert_eq!(hashing.computed(), 1, "the refused call computed nothing");
    }
}
