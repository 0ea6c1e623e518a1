//! Per-user caps on what one account may hold: open streams, the size of each stream and of all
//! of them, and chats. Guests get lower caps than registered users, since anyone can make one.
//!
//! The caps are checked by the use cases before they write, so every runtime enforces them the
//! same way. A check reads the current usage and then writes: requests racing each other may
//! overshoot a cap by the writes in flight, never more.

use std::fmt;
use std::sync::Arc;

use crate::auth::{UserKind, UserStore};
use crate::id::UserId;
use crate::store::StoreError;

/// The caps of one kind of user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLimits {
    /// Streams open at once (a generation's stream counts while it runs).
    pub open_streams: u64,
    /// Events in one stream.
    pub events_per_stream: u64,
    /// Bytes of events in one stream.
    pub bytes_per_stream: u64,
    /// Bytes of events in all of the user's streams, closed ones included until they are purged.
    pub stream_bytes: u64,
    /// Chats.
    pub chats: u64,
}

impl UserLimits {
    /// The default caps of a registered user.
    pub const REGULAR: Self = Self {
        open_streams: 32,
        events_per_stream: 10_000,
        bytes_per_stream: 8 * 1024 * 1024,
        stream_bytes: 64 * 1024 * 1024,
        chats: 10_000,
    };

    /// The default caps of a guest.
    pub const GUEST: Self = Self {
        open_streams: 4,
        events_per_stream: 1_000,
        bytes_per_stream: 1024 * 1024,
        stream_bytes: 4 * 1024 * 1024,
        chats: 100,
    };

    fn cap(&self, limit: Limit) -> u64 {
        match limit {
            Limit::OpenStreams => self.open_streams,
            Limit::StreamEvents => self.events_per_stream,
            Limit::StreamBytes => self.bytes_per_stream,
            Limit::UserStreamBytes => self.stream_bytes,
            Limit::Chats => self.chats,
        }
    }
}

/// The caps of guests and of registered users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Guests' caps.
    pub guest: UserLimits,
    /// Registered users' caps.
    pub regular: UserLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            guest: UserLimits::GUEST,
            regular: UserLimits::REGULAR,
        }
    }
}

/// Which cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`UserLimits::open_streams`].
    OpenStreams,
    /// [`UserLimits::events_per_stream`].
    StreamEvents,
    /// [`UserLimits::bytes_per_stream`].
    StreamBytes,
    /// [`UserLimits::stream_bytes`].
    UserStreamBytes,
    /// [`UserLimits::chats`].
    Chats,
}

impl Limit {
    /// The cap's stable name, as problem responses and logs give it.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenStreams => "open_streams",
            Self::StreamEvents => "events_per_stream",
            Self::StreamBytes => "bytes_per_stream",
            Self::UserStreamBytes => "stream_bytes",
            Self::Chats => "chats",
        }
    }

    /// Whether the cap bounds a size (of a stream or of all of them) rather than a number of
    /// things held at once: the HTTP shell answers `413` for the former and `429` for the latter.
    pub fn is_size(self) -> bool {
        matches!(self, Self::StreamEvents | Self::StreamBytes | Self::UserStreamBytes)
    }

    fn what(self) -> &'static str {
        match self {
            Self::OpenStreams => "open streams",
            Self::StreamEvents => "events in one stream",
            Self::StreamBytes => "bytes in one stream",
            Self::UserStreamBytes => "bytes in all streams",
            Self::Chats => "chats",
        }
    }
}

/// A write refused because it would take the user past a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct LimitExceeded {
    /// Which cap.
    pub limit: Limit,
    /// Its value for this user.
    pub max: u64,
    /// Whether the user is a guest (whose caps are lower).
    pub guest: bool,
}

impl LimitExceeded {
    fn describe(&self) -> impl fmt::Display + '_ {
        struct D<'a>(&'a LimitExceeded);
        impl fmt::Display for D<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let who = if self.0.guest { "a guest" } else { "a user" };
                write!(
                    f,
                    "limit {} reached: {who} may have at most {} {}",
                    self.0.limit.name(),
                    self.0.max,
                    self.0.limit.what()
                )?;
                if self.0.guest {
                    f.write_str("; register for higher limits")?;
                }
                Ok(())
            }
        }
        D(self)
    }
}

/// The caps as they apply to each user: looks up whether the user is a guest.
pub struct LimitPolicy {
    users: Arc<dyn UserStore>,
    limits: Limits,
}

impl LimitPolicy {
    /// The policy of `limits`, telling guests by the user store.
    pub fn new(users: Arc<dyn UserStore>, limits: Limits) -> Self {
        Self { users, limits }
    }

    /// The caps of `user`. A user that no longer exists gets the guests' (lower) caps.
    ///
    /// # Errors
    /// When the user store fails.
    pub async fn of(&self, user: UserId) -> Result<UserCaps, StoreError> {
        let guest = match self.users.user_by_id(user).await? {
            Some(record) => record.user.kind == UserKind::Guest,
            None => true,
        };
        Ok(UserCaps {
            caps: if guest { self.limits.guest } else { self.limits.regular },
            guest,
        })
    }
}

impl fmt::Debug for LimitPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitPolicy")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// One user's caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCaps {
    /// The caps.
    pub caps: UserLimits,
    /// Whether the user is a guest.
    pub guest: bool,
}

impl UserCaps {
    /// Checks that having `after` of `limit` stays within the cap.
    ///
    /// # Errors
    /// `LimitExceeded` when `after` is past the cap.
    pub fn check(&self, limit: Limit, after: u64) -> Result<(), LimitExceeded> {
        let max = self.caps.cap(limit);
        if after > max {
            Err(LimitExceeded {
                limit,
                max,
                guest: self.guest,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_allows_up_to_its_value_and_names_itself_when_passed() {
        let caps = UserCaps {
            caps: UserLimits::GUEST,
            guest: true,
        };
        assert!(caps.check(Limit::OpenStreams, 4).is_ok());
        let e = caps.check(Limit::OpenStreams, 5).unwrap_err();
        assert_eq!(e.max, 4);
        assert_eq!(
            e.to_string(),
            "limit open_streams reached: a guest may have at most 4 open streams; register for higher limits"
        );
        assert!(Limit::StreamBytes.is_size() && !Limit::Chats.is_size());
    }
}
