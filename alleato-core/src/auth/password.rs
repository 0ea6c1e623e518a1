use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;

use super::port::{HashError, PasswordHasher};
use crate::ports::Rng;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP's recommended minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    pub const RECOMMENDED: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// The cheapest valid parameters, for tests only.
    pub const INSECURE_FAST: Self = Self {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
}

/// Argon2id hashing as PHC strings, the same bytes on every runtime, so a hash made by the
/// native server verifies on the Worker and back.
///
/// It computes on the calling thread; the native adapter moves it onto a blocking thread.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Argon2Params,
    rng: Arc<dyn Rng>,
}

impl Argon2Hasher {
    /// A hasher with these costs, salting from `rng`.
    pub fn new(params: Argon2Params, rng: Arc<dyn Rng>) -> Self {
        Self { params, rng }
    }

    fn argon2(&self) -> Result<Argon2<'static>, HashError> {
        let p = self.params;
        let params =
            Params::new(p.memory_kib, p.iterations, p.parallelism, None).map_err(|e| HashError(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hashes on the calling thread.
    ///
    /// # Errors
    /// When the parameters are invalid.
    pub fn hash_now(&self, password: &str) -> Result<String, HashError> {
        let mut salt = [0u8; 16];
        self.rng.fill(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
        self.argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Verifies on the calling thread, with the costs recorded in `phc`.
    ///
    /// # Errors
    /// When `phc` is not a valid Argon2 PHC string.
    pub fn verify_now(&self, password: &str, phc: &str) -> Result<bool, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|e| HashError(e.to_string()))?;
        match Argon2::default().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(HashError(e.to_string())),
        }
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, HashError> {
        self.hash_now(password)
    }

    async fn verify(&self, password: &str, phc: &str) -> Result<bool, HashError> {
        self.verify_now(password, phc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SeededRng;

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let h = Argon2Hasher::new(Argon2Params::INSECURE_FAST, Arc::new(SeededRng::new(1)));
        let phc = h.hash_now("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(h.verify_now("correct horse", &phc).unwrap());
        assert!(!h.verify_now("wrong horse", &phc).unwrap());
        assert!(h.verify_now("x", "not a phc").is_err());
        assert_ne!(phc, h.hash_now("correct horse").unwrap(), "salts differ");
    }
}
