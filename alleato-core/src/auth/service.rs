use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::model::{AccessClaims, AuthContext, DisplayName, Email, Password, User, UserKind, UserRecord};
use super::port::{HashError, PasswordHasher, Session, SessionStore, TokenCodec, TokenError, UserStore};
use super::successor::{refresh_token_of, seal_successor, unseal_successor};
use crate::id::{SessionId, UserId};
use crate::ports::{Clock, Rng};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::validation::{FieldError, Validator};

/// Lifetimes of tokens and sessions.
#[derive(Debug, Clone, Copy)]
pub struct AuthConfig {
    /// How long an access token is valid (15 minutes).
    pub access_ttl: Duration,
    /// How long a session lives without being refreshed (7 days).
    pub session_ttl: Duration,
    /// How long after a refresh the same refresh token still gets the same successor (10
    /// seconds): two tabs refreshing at once both stay signed in. Reuse after it revokes the
    /// session; zero makes every reuse revoke it.
    pub refresh_reuse_interval: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_reuse_interval: Duration::from_secs(10),
        }
    }
}

/// What a client sends to register.
#[derive(Debug, Clone, Default)]
pub struct RegisterInput {
    /// Raw email.
    pub email: String,
    /// Raw password.
    pub password: String,
    /// Optional display name.
    pub name: Option<String>,
}

/// A signed-in user with fresh tokens.
#[derive(Debug, Clone)]
pub struct AuthGrant {
    /// The user.
    pub user: User,
    /// The new token pair.
    pub tokens: RefreshGrant,
}

/// A fresh access token and the refresh token that replaces the one used.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    /// JWT, valid for `expires_in` seconds.
    pub access_token: String,
    /// Opaque, single use.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// The errors of the auth use cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Input fields failed validation.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The email belongs to another user.
    #[error("email is already registered")]
    EmailTaken,
    /// Unknown email or wrong password (deliberately indistinguishable).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// No valid credentials: missing, malformed, forged or revoked.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The access token's time is up; refresh it.
    #[error("access token expired")]
    TokenExpired,
    /// A refresh token was used twice: the session has been revoked.
    #[error("refresh token reused; the session has been revoked")]
    RefreshReused,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Token signing failed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

fn sha256_hex(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Registration, login, guests, token refresh and logout, and the check of every request's token.
pub struct AuthService {
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenCodec>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    config: AuthConfig,
    /// A hash to verify against when the email is unknown, so that both failures cost the same.
    dummy_hash: OnceLock<String>,
}

impl AuthService {
    /// The service over its ports.
    pub fn new(
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn SessionStore>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenCodec>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        config: AuthConfig,
    ) -> Self {
        Self {
            users,
            sessions,
            hasher,
            tokens,
            clock,
            rng,
            config,
            dummy_hash: OnceLock::new(),
        }
    }

    /// Registers a user. When `caller` is a guest, that guest is upgraded in place and keeps
    /// its id and chats.
    ///
    /// # Errors
    /// `Validation` for bad fields, `EmailTaken` when the email is in use.
    pub async fn register(&self, caller: Option<&AuthContext>, input: RegisterInput) -> Result<AuthGrant, AuthError> {
        let mut v = Validator::new();
        let email = v.check("email", Email::parse(&input.email));
        let password = v.check("password", Password::parse(&input.password));
        let name = v.check_opt("name", input.name.as_deref().map(DisplayName::parse));
        v.finish().map_err(AuthError::Validation)?;
        let (Some(email), Some(password), Some(name)) = (email, password, name) else {
            unreachable!("validator reported no error")
        };

        let guest = match caller {
            Some(ctx) => self
                .users
                .user_by_id(ctx.user_id)
                .await?
                .filter(|u| u.user.kind == UserKind::Guest),
            None => None,
        };
        let hash = self.hasher.hash(password.expose()).await?;
        let record = if let Some(guest) = guest {
            self.users
                .upgrade_guest(guest.user.id, &email, name.as_ref(), &hash)
                .await
                .map_err(conflict_is_taken)?;
            UserRecord {
                user: User {
                    email: Some(email),
                    name,
                    kind: UserKind::Regular,
                    ..guest.user
                },
                password_hash: Some(hash),
                ..guest
            }
        } else {
            let record = UserRecord {
                user: User {
                    id: UserId::generate(&*self.clock, &*self.rng),
                    email: Some(email),
                    name,
                    kind: UserKind::Regular,
                    created_at: self.clock.now(),
                },
                password_hash: Some(hash),
                daily_message_limit: None,
            };
            self.users.insert_user(&record).await.map_err(conflict_is_taken)?;
            record
        };
        let tokens = self.open_session(record.user.id).await?;
        // An upgraded guest gets a new session: the guest's tokens, which may have been seen
        // on a shared device, stop working.
        if let Some(ctx) = caller
            && ctx.user_id == record.user.id
        {
            self.sessions.delete_session(ctx.session_id).await?;
        }
        Ok(AuthGrant {
            user: record.user,
            tokens,
        })
    }

    /// Signs in with email and password.
    ///
    /// # Errors
    /// `InvalidCredentials` for an unknown email or a wrong password alike, after the same work.
    pub async fn login(&self, email: &str, password: &str) -> Result<AuthGrant, AuthError> {
        let record = match Email::parse(email) {
            Ok(email) => self.users.user_by_email(&email).await?,
            Err(_) => None,
        };
        let stored = record.as_ref().and_then(|r| r.password_hash.as_deref());
        // Always run one verification, so that unknown emails answer in the same time.
        let phc = match stored {
            Some(phc) => phc.to_owned(),
            None => self.dummy_hash().await?,
        };
        // Anything longer than a valid password cannot match; still verify a bounded prefix.
        let candidate: String = password.chars().take(Password::MAX_CHARS + 1).collect();
        let ok = self.hasher.verify(&candidate, &phc).await?;
        match record {
            Some(record) if ok && stored.is_some() && candidate.chars().count() <= Password::MAX_CHARS => {
                let tokens = self.open_session(record.user.id).await?;
                Ok(AuthGrant {
                    user: record.user,
                    tokens,
                })
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Creates a guest user and signs it in.
    ///
    /// # Errors
    /// Backend failures only.
    pub async fn guest(&self) -> Result<AuthGrant, AuthError> {
        let record = UserRecord {
            user: User {
                id: UserId::generate(&*self.clock, &*self.rng),
                email: None,
                name: None,
                kind: UserKind::Guest,
                created_at: self.clock.now(),
            },
            password_hash: None,
            daily_message_limit: None,
        };
        self.users.insert_user(&record).await?;
        let tokens = self.open_session(record.user.id).await?;
        Ok(AuthGrant {
            user: record.user,
            tokens,
        })
    }

    /// Trades a refresh token for a new pair. The old refresh token is spent; presented again
    /// within the reuse interval (two tabs refreshing at once) it gets the same successor and a
    /// new access token of the same session; presented again after it, the whole session is
    /// revoked.
    ///
    /// # Errors
    /// `Unauthorized` for unknown tokens or dead sessions; `RefreshReused` on reuse.
    pub async fn refresh(&self, refresh_token: &str) -> Result<RefreshGrant, AuthError> {
        let sid = parse_refresh_sid(refresh_token).ok_or(INVALID_REFRESH)?;
        let now = self.clock.now();
        let session = self.sessions.session(sid, now).await?.ok_or(INVALID_REFRESH)?;
        let presented = sha256_hex(refresh_token);
        if !ct_eq(&presented, &session.refresh_hash) {
            return self
                .refresh_again(&session, refresh_token, &presented, false, now)
                .await;
        }
        if self.users.user_by_id(session.user).await?.is_none() {
            self.sessions.delete_session(sid).await?;
            return Err(INVALID_REFRESH);
        }
        let (next, secret) = self.new_refresh_token(sid);
        let sealed = seal_successor(refresh_token, &secret);
        let rotated = self
            .sessions
            .rotate_refresh(sid, &presented, &sha256_hex(&next), &sealed, self.session_end(now), now)
            .await?;
        if !rotated {
            // Spent by another refresh since it was read (or the session ended meanwhile).
            return self.refresh_again(&session, refresh_token, &presented, true, now).await;
        }
        let access_token = self.access_token(session.user, sid)?;
        Ok(RefreshGrant {
            access_token,
            refresh_token: next,
            expires_in: self.config.access_ttl.as_secs(),
        })
    }

    /// A refresh with a token that is not the session's current one: within the reuse
    /// interval of its rotation, the successor that rotation made; otherwise, when it was
    /// spent (or `raced`, spent under this very refresh), theft: the session is revoked.
    async fn refresh_again(
        &self,
        session: &Session,
        token: &str,
        presented: &str,
        raced: bool,
        now: Timestamp,
    ) -> Result<RefreshGrant, AuthError> {
        let sid = session.id;
        let interval = i64::try_from(self.config.refresh_reuse_interval.as_millis()).unwrap_or(i64::MAX / 2);
        if interval > 0
            && let Some(sealed) = self
                .sessions
                .spent_successor(sid, presented, now.plus_millis(-interval))
                .await?
            && let Some(refresh_token) = unseal_successor(sid, token, &sealed)
        {
            let access_token = self.access_token(session.user, sid)?;
            return Ok(RefreshGrant {
                access_token,
                refresh_token,
                expires_in: self.config.access_ttl.as_secs(),
            });
        }
        if raced || self.sessions.is_spent(sid, presented).await? {
            self.sessions.delete_session(sid).await?;
            return Err(AuthError::RefreshReused);
        }
        Err(INVALID_REFRESH)
    }

    /// Ends the caller's session, and the session of `refresh_token` when it is given and valid.
    /// Either an authenticated caller or a valid refresh token is needed.
    ///
    /// # Errors
    /// `Unauthorized` when neither identifies a live session.
    pub async fn logout(&self, caller: Option<&AuthContext>, refresh_token: Option<&str>) -> Result<(), AuthError> {
        let mut ended = false;
        if let Some(ctx) = caller {
            self.sessions.delete_session(ctx.session_id).await?;
            ended = true;
        }
        if let Some((token, sid)) = refresh_token.and_then(|t| Some((t, parse_refresh_sid(t)?)))
            && let Some(session) = self.sessions.session(sid, self.clock.now()).await?
            && ct_eq(&sha256_hex(token), &session.refresh_hash)
        {
            self.sessions.delete_session(sid).await?;
            ended = true;
        }
        if ended {
            Ok(())
        } else {
            Err(AuthError::Unauthorized("no session to end"))
        }
    }

    /// Checks a bearer token: signature, expiry, and that its session is still alive.
    ///
    /// # Errors
    /// `TokenExpired` for an expired token; `Unauthorized` for anything else wrong.
    pub async fn authenticate(&self, bearer: &str) -> Result<AuthContext, AuthError> {
        let claims = self
            .tokens
            .decode(bearer)
            .map_err(|_| AuthError::Unauthorized("invalid access token"))?;
        if self.clock.now().as_secs() >= claims.exp {
            return Err(AuthError::TokenExpired);
        }
        match self.sessions.session(claims.sid, self.clock.now()).await? {
            Some(s) if s.user == claims.sub => Ok(AuthContext {
                user_id: claims.sub,
                session_id: claims.sid,
            }),
            _ => Err(AuthError::Unauthorized("session has ended")),
        }
    }

    /// The caller's user record.
    ///
    /// # Errors
    /// `Unauthorized` when the user no longer exists.
    pub async fn me(&self, caller: &AuthContext) -> Result<UserRecord, AuthError> {
        self.users
            .user_by_id(caller.user_id)
            .await?
            .ok_or(AuthError::Unauthorized("user no longer exists"))
    }

    async fn open_session(&self, uid: UserId) -> Result<RefreshGrant, AuthError> {
        let sid = SessionId::generate(&*self.clock, &*self.rng);
        let (refresh_token, _) = self.new_refresh_token(sid);
        let session = Session {
            id: sid,
            user: uid,
            refresh_hash: sha256_hex(&refresh_token),
            expires_at: self.session_end(self.clock.now()),
        };
        self.sessions.create_session(&session).await?;
        let access_token = self.access_token(uid, sid)?;
        Ok(RefreshGrant {
            access_token,
            refresh_token,
            expires_in: self.config.access_ttl.as_secs(),
        })
    }

    fn access_token(&self, uid: UserId, sid: SessionId) -> Result<String, AuthError> {
        let iat = self.clock.now().as_secs();
        let exp = iat + i64::try_from(self.config.access_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let mut jti = [0u8; 12];
        self.rng.fill(&mut jti);
        let jti = URL_SAFE_NO_PAD.encode(jti);
        Ok(self.tokens.encode(&AccessClaims {
            sub: uid,
            sid,
            iat,
            exp,
            jti,
        })?)
    }

    /// A new refresh token of the session, and its secret part.
    fn new_refresh_token(&self, sid: SessionId) -> (String, [u8; 32]) {
        let mut secret = [0u8; 32];
        self.rng.fill(&mut secret);
        (refresh_token_of(sid, &secret), secret)
    }

    /// When a session opened or refreshed at `now` ends unless refreshed again.
    fn session_end(&self, now: Timestamp) -> Timestamp {
        now.plus_millis(i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX))
    }

    async fn dummy_hash(&self) -> Result<String, AuthError> {
        if let Some(h) = self.dummy_hash.get() {
            return Ok(h.clone());
        }
        let mut random = [0u8; 24];
        self.rng.fill(&mut random);
        let hash = self.hasher.hash(&URL_SAFE_NO_PAD.encode(random)).await?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }
}

const INVALID_REFRESH: AuthError = AuthError::Unauthorized("invalid refresh token");

fn parse_refresh_sid(token: &str) -> Option<SessionId> {
    if token.len() > 200 {
        return None;
    }
    token.split_once('.')?.0.parse().ok()
}

fn conflict_is_taken(e: StoreError) -> AuthError {
    match e {
        StoreError::Conflict(_) => AuthError::EmailTaken,
        other => AuthError::Store(other),
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::auth::{Argon2Hasher, Argon2Params};
    use crate::memory::{ManualClock, MemorySessions, MemoryStore, SeededRng};

    /// Signs nothing: the tests read refresh tokens only.
    struct Unsigned;

    impl TokenCodec for Unsigned {
        fn encode(&self, claims: &AccessClaims) -> Result<String, TokenError> {
            Ok(format!("{}:{}", claims.sid, claims.jti))
        }
        fn decode(&self, _: &str) -> Result<AccessClaims, TokenError> {
            Err(TokenError::Invalid)
        }
    }

    fn service(reuse_secs: u64) -> (AuthService, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let rng = Arc::new(SeededRng::new(7));
        let auth = AuthService::new(
            Arc::new(MemoryStore::new()),
            Arc::new(MemorySessions::new()),
            Arc::new(Argon2Hasher::new(Argon2Params::INSECURE_FAST, rng.clone())),
            Arc::new(Unsigned),
            clock.clone(),
            rng,
            AuthConfig {
                refresh_reuse_interval: Duration::from_secs(reuse_secs),
                ..AuthConfig::default()
            },
        );
        (auth, clock)
    }

    #[test]
    fn a_token_reused_within_the_interval_gets_the_same_successor() {
        let (auth, clock) = service(10);
        let first = block_on(auth.guest()).unwrap().tokens.refresh_token;
        let a = block_on(auth.refresh(&first)).unwrap();
        clock.advance(Duration::from_secs(9));
        let b = block_on(auth.refresh(&first)).unwrap();
        assert_eq!(a.refresh_token, b.refresh_token);
        assert_ne!(
            a.access_token, b.access_token,
            "each refresh gets an access token of its own"
        );
        // The successor carries on.
        let next = block_on(auth.refresh(&a.refresh_token)).unwrap();
        assert_ne!(next.refresh_token, a.refresh_token);
    }

    #[test]
    fn a_token_reused_after_the_interval_revokes_the_session() {
        let (auth, clock) = service(10);
        let first = block_on(auth.guest()).unwrap().tokens.refresh_token;
        let a = block_on(auth.refresh(&first)).unwrap();
        clock.advance(Duration::from_millis(10_001));
        assert!(matches!(block_on(auth.refresh(&first)), Err(AuthError::RefreshReused)));
        assert!(matches!(
            block_on(auth.refresh(&a.refresh_token)),
            Err(AuthError::Unauthorized(_))
        ));
    }

    #[test]
    fn with_no_interval_any_reuse_revokes() {
        let (auth, _) = service(0);
        let first = block_on(auth.guest()).unwrap().tokens.refresh_token;
        block_on(auth.refresh(&first)).unwrap();
        assert!(matches!(block_on(auth.refresh(&first)), Err(AuthError::RefreshReused)));
    }
}
