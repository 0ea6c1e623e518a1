use async_trait::async_trait;

use super::model::{AccessClaims, DisplayName, Email, UserRecord};
use crate::id::{SessionId, UserId};
use crate::store::StoreError;
use crate::time::Timestamp;

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

/// A signed-in session: its user, the hash of its current refresh token, and when it ends
/// unless refreshed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id (in the session's tokens).
    pub id: SessionId,
    /// Whose session it is.
    pub user: UserId,
    /// Hex SHA-256 of the current refresh token.
    pub refresh_hash: String,
    /// When it ends unless refreshed, in milliseconds.
    pub expires_at: Timestamp,
}

/// How many spent refresh-token hashes a [`SessionStore`] remembers per session, at least:
/// the latest ones, so that their reuse is detected.
pub const SPENT_REFRESH_KEPT: usize = 32;

/// Sessions and their refresh tokens, exact: a rotation, a logout or a revocation holds at once
/// for every later read, from any location. Never an eventually consistent store (Cloudflare
/// KV): two refreshes with the same token must not both succeed.
///
/// Every write is one statement or a batch of statements whose guards are in the statements
/// themselves, so that it runs as is on Cloudflare D1 (`batch()`, no interactive transaction).
/// Times are given by the caller: adapters need no clock.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session.
    ///
    /// # Errors
    /// `StoreError::Conflict("session")` when the id exists; `NotFound` when the user does
    /// not (where storage checks references).
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session, if it is live at `now`: `None` when absent, deleted or expired
    /// (`expires_at <= now`).
    ///
    /// # Errors
    /// Backend failures only.
    async fn session(&self, id: SessionId, now: Timestamp) -> Result<Option<Session>, StoreError>;

    /// Rotates the session's refresh token: if the session is live at `now` and `presented`
    /// is still its current refresh hash, makes `next` current, moves its end to
    /// `expires_at`, and remembers `presented` as spent at `now` with `successor` (an opaque
    /// text, the sealed successor token); all at once, guarded in the write itself. Returns
    /// whether it rotated: `false` changes nothing (the session is gone or expired, or another
    /// rotation spent `presented` first).
    ///
    /// # Errors
    /// Backend failures only.
    async fn rotate_refresh(
        &self,
        id: SessionId,
        presented: &str,
        next: &str,
        successor: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// The `successor` remembered with `hash` when a rotation spent it, if that rotation
    /// happened at or after `since`; `None` otherwise (not spent, spent earlier, or the
    /// session no longer exists).
    ///
    /// # Errors
    /// Backend failures only.
    async fn spent_successor(&self, id: SessionId, hash: &str, since: Timestamp) -> Result<Option<String>, StoreError>;

    /// Whether `hash` is a refresh hash of the session that a rotation has spent (one of the
    /// latest [`SPENT_REFRESH_KEPT`] at least). `false` for a session that no longer exists.
    ///
    /// # Errors
    /// Backend failures only.
    async fn is_spent(&self, id: SessionId, hash: &str) -> Result<bool, StoreError>;

    /// Deletes the session and what it remembers. Deleting an absent session is not an error.
    ///
    /// # Errors
    /// Backend failures only.
    async fn delete_session(&self, id: SessionId) -> Result<(), StoreError>;

    /// Deletes every session of the user and returns how many there were.
    ///
    /// # Errors
    /// Backend failures only.
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError>;
}
