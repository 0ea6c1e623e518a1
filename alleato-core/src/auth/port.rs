use async_trait::async_trait;

use super::model::{AccessClaims, DisplayName, Email, UserRecord};
use crate::id::UserId;
use crate::store::StoreError;

/// Durable storage of users.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new user.
    ///
    /// # Errors
    /// `StoreError::Conflict("email")` when another user has the same email.
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError>;

    /// The user with this id, or `None`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;

    /// The user with this (normalised) email, or `None`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError>;

    /// Turns the guest `id` into a regular user with these credentials, keeping its id and
    /// everything it owns.
    ///
    /// # Errors
    /// `StoreError::NotFound` when no guest has this id (a regular user is not a guest);
    /// `StoreError::Conflict("email")` when another user has the email.
    async fn upgrade_guest(
        &self,
        id: UserId,
        email: &Email,
        name: Option<&DisplayName>,
        password_hash: &str,
    ) -> Result<(), StoreError>;
}

/// The error of a [`PasswordHasher`].
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(pub String);

/// Hashes and verifies passwords as PHC strings.
///
/// Hashing is deliberately slow; adapters run it where it does not stall other requests.
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    /// A new PHC string for `password`, with a fresh salt.
    ///
    /// # Errors
    /// When the hashing backend fails.
    async fn hash(&self, password: &str) -> Result<String, HashError>;

    /// Whether `password` matches `phc`. A malformed `phc` is an error, not `false`.
    ///
    /// # Errors
    /// When `phc` cannot be parsed or the backend fails.
    async fn verify(&self, password: &str, phc: &str) -> Result<bool, HashError>;
}

/// Why a token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is malformed, forged, or signed with another key or algorithm.
    #[error("invalid token")]
    Invalid,
    /// Signing failed.
    #[error("token signing failed: {0}")]
    Signing(String),
}

/// Signs and verifies access tokens.
///
/// `decode` checks the signature and the algorithm only; the expiry is checked by the auth
/// service against its clock, since the platform clock is not available everywhere.
pub trait TokenCodec: Send + Sync + 'static {
    /// The signed token for `claims`.
    ///
    /// # Errors
    /// `TokenError::Signing` when signing fails.
    fn encode(&self, claims: &AccessClaims) -> Result<String, TokenError>;

    /// The claims of a token this codec signed.
    ///
    /// # Errors
    /// `TokenError::Invalid` for any token it did not sign (wrong key, `alg: none`, garbage).
    fn decode(&self, token: &str) -> Result<AccessClaims, TokenError>;
}
