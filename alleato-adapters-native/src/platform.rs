//! The platform ports on a server: the system clock, the OS random source, and password
//! hashing moved off the async workers.

use std::time::{SystemTime, UNIX_EPOCH};

use alleato_core::Timestamp;
use alleato_core::auth::{Argon2Hasher, HashError, PasswordHasher};
use alleato_core::ports::{Clock, Rng};
use async_trait::async_trait;

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            // A clock set before 1970: keep the sign rather than fail.
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        };
        Timestamp::from_millis(ms)
    }
}

/// The operating system's secure random source, through `getrandom`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRng;

impl Rng for OsRng {
    /// # Panics
    /// When the operating system cannot provide randomness, which on supported systems does
    /// not happen once the system is booted; ids and salts cannot be made without it.
    fn fill(&self, dest: &mut [u8]) {
        if let Err(e) = getrandom::fill(dest) {
            panic!("the operating system's random source failed: {e}");
        }
    }
}

/// Argon2id hashing on tokio's blocking threads, so that a login (tens of milliseconds of
/// CPU) never stalls the requests sharing its async worker.
#[derive(Clone)]
pub struct BlockingHasher {
    inner: Argon2Hasher,
}

impl BlockingHasher {
    /// Runs `hasher` on blocking threads.
    pub fn new(hasher: Argon2Hasher) -> Self {
        Self { inner: hasher }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Argon2Hasher) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let hasher = self.inner.clone();
        match tokio::task::spawn_blocking(move || f(&hasher)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(HashError(format!("the hashing task was cancelled: {e}"))),
        }
    }
}

impl std::fmt::Debug for BlockingHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingHasher").finish_non_exhaustive()
    }
}

#[async_trait]
impl PasswordHasher for BlockingHasher {
    async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        self.run(move |h| h.hash_now(&password)).await
    }

    async fn verify(&self, password: &str, phc: &str) -> Result<bool, HashError> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move |h| h.verify_now(&password, &phc)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use alleato_core::auth::Argon2Params;

    use super::*;

    #[test]
    fn system_clock_reads_the_present() {
        // 2024-01-01 and 2200-01-01: a sanity range, not a timing assertion.
        let now = SystemClock.now().as_millis();
        assert!((1_704_067_200_000..7_258_118_400_000).contains(&now), "{now}");
    }

    #[test]
    fn os_rng_fills_with_varying_bytes() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        OsRng.fill(&mut a);
        OsRng.fill(&mut b);
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn blocking_hasher_hashes_and_verifies() {
        let h = BlockingHasher::new(Argon2Hasher::new(Argon2Params::INSECURE_FAST, Arc::new(OsRng)));
        let phc = h.hash("correct horse").await.unwrap();
        assert!(h.verify("correct horse", &phc).await.unwrap());
        assert!(!h.verify("wrong horse", &phc).await.unwrap());
        assert!(h.verify("x", "not a phc").await.is_err());
    }
}
