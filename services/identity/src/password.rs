//! bcrypt password hashing off the async workers, with bounded concurrency.
//!
//! bcrypt reads at most 72 bytes, so every password is first reduced to
//! `base64(SHA-256(password))` (44 bytes, no NUL): two passwords that differ
//! anywhere, even after byte 72, hash differently.
//!
//! Hashes run on a small pool of dedicated threads, one per core, whose
//! scheduling priority is lowered (nice 10): they use every idle cycle, yet
//! the async workers serving other requests always run first, so a login
//! storm does not slow `/health` or token checks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, TryAcquireError, oneshot};

type Job = Box<dyn FnOnce() + Send>;

/// Niceness of the hashing threads.
const HASH_THREAD_NICE: i32 = 10;

/// Dedicated low-priority threads for CPU-heavy hashing.
struct HashPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl HashPool {
    fn new(threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || {
                    lower_thread_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            jobs: Mutex::new(tx),
        })
    }

    fn submit(&self, job: Job) -> anyhow::Result<()> {
        self.jobs
            .lock()
            .map_err(|_| anyhow::anyhow!("hash pool poisoned"))?
            .send(job)
            .map_err(|_| anyhow::anyhow!("hash pool stopped"))
    }
}

#[cfg(target_os = "linux")]
fn lower_thread_priority() {
    // On Linux the nice value is per thread, so naming this thread's id affects only
    // the calling hashing thread. Failure leaves the default priority.
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASH_THREAD_NICE);
}

#[cfg(not(target_os = "linux"))]
fn lower_thread_priority() {}

/// Why a hash could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the waiting queue is full.
    #[error("password hashing is saturated")]
    Busy,
    /// The hashing threads stopped, or bcrypt failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Seconds a client turned away by a full queue should wait.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Hashes and verifies passwords on the hashing threads: at most `threads`
/// at a time and `queue` more waiting; the rest are refused at once, so a
/// login storm costs bounded memory and latency instead of an endless wait.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    pool: Arc<HashPool>,
    verifications: Arc<AtomicU64>,
    /// A hash of a random password: verified against for unknown users so
    /// that "no such user" costs the same time as "wrong password".
    dummy_hash: Arc<str>,
}

fn prehash(password: &str) -> String {
    STANDARD.encode(Sha256::digest(password.as_bytes()))
}

impl PasswordHasher {
    /// A hasher with bcrypt `cost`, `threads` hashing threads and room for
    /// `queue` hashes waiting for one.
    pub fn new(cost: u32, threads: usize, queue: usize) -> anyhow::Result<Self> {
        let threads = threads.max(1);
        let random: [u8; 16] = rand::random();
        let dummy = bcrypt::hash(prehash(&STANDARD.encode(random)), cost)?;
        Ok(Self {
            cost,
            running: Arc::new(Semaphore::new(threads)),
            admitted: Arc::new(Semaphore::new(threads + queue)),
            pool: Arc::new(HashPool::new(threads)?),
            verifications: Arc::new(AtomicU64::new(0)),
            dummy_hash: dummy.into(),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _admitted = self.admitted.try_acquire().map_err(|e| match e {
            TryAcquireError::NoPermits => HashError::Busy,
            TryAcquireError::Closed => HashError::Failed(anyhow::anyhow!("hasher closed")),
        })?;
        let _running = self
            .running
            .acquire()
            .await
            .map_err(|e| HashError::Failed(e.into()))?;
        let (tx, rx) = oneshot::channel();
        let span = tracing::debug_span!("bcrypt");
        self.pool.submit(Box::new(move || {
            let _ = tx.send(span.in_scope(f));
        }))?;
        rx.await.map_err(|e| HashError::Failed(e.into()))
    }

    /// Hash a password for storage.
    pub async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let pre = prehash(password.expose_secret());
        let cost = self.cost;
        self.blocking(move || bcrypt::hash(pre, cost))
            .await?
            .map_err(|e| HashError::Failed(e.into()))
    }

    /// Verify a password against a stored hash, or against the dummy hash
    /// when there is no user (always false then, in the same time).
    pub async fn verify(
        &self,
        password: &SecretString,
        hash: Option<&str>,
    ) -> Result<bool, HashError> {
        let pre = prehash(password.expose_secret());
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy_hash.to_string());
        let verifications = self.verifications.clone();
        let ok = self
            .blocking(move || {
                verifications.fetch_add(1, Ordering::Relaxed);
                bcrypt::verify(pre, &hash).unwrap_or(false)
            })
            .await?;
        Ok(ok && known)
    }

    /// How many verifications have run (what throttling must bound).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_string())
    }

    #[tokio::test]
    async fn long_passwords_differing_after_byte_72_do_not_match() {
        let h = PasswordHasher::new(4, 2, 8).unwrap();
        let base = "x".repeat(72);
        let hash = h.hash(&s(&format!("{base}A"))).await.unwrap();
        assert!(
            h.verify(&s(&format!("{base}A")), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&s(&format!("{base}B")), Some(&hash))
                .await
                .unwrap()
        );
        assert!(!h.verify(&s(&base), Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let h = PasswordHasher::new(4, 1, 8).unwrap();
        assert!(!h.verify(&s("whatever1"), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let h = PasswordHasher::new(4, 1, 0).unwrap();
        let held = h.admitted.try_acquire().unwrap();
        assert!(matches!(
            h.verify(&s("whatever1"), None).await,
            Err(HashError::Busy)
        ));
        drop(held);
        assert!(!h.verify(&s("whatever1"), None).await.unwrap());
        assert_eq!(h.verifications(), 1);
    }

    #[tokio::test]
    async fn garbage_hash_is_false_not_error() {
        let h = PasswordHasher::new(4, 1, 8).unwrap();
        assert!(!h.verify(&s("whatever1"), Some("not-a-hash")).await.unwrap());
    }
}
