//! Accounts, guest users, sessions and tokens.

mod model;
mod password;
mod port;
mod service;
mod successor;

pub use model::{AccessClaims, AuthContext, DisplayName, Email, Password, User, UserKind, UserRecord};
pub use password::{Argon2Hasher, Argon2Params};
pub use port::{
    HashError, PasswordHasher, SPENT_REFRESH_KEPT, Session, SessionStore, TokenCodec, TokenError, UserStore,
};
pub use service::{AuthConfig, AuthError, AuthGrant, AuthService, RefreshGrant, RegisterInput};
