//! Typed ids: UUID v7 newtypes, so that they sort by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ports::{Clock, Rng};

/// A fresh UUID v7 from the clock and the random source.
pub fn new_uuid_v7(clock: &dyn Clock, rng: &dyn Rng) -> Uuid {
    let mut random = [0u8; 10];
    rng.fill(&mut random);
    let millis = u64::try_from(clock.now().as_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// The error of parsing an id that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn generate(clock: &dyn Clock, rng: &dyn Rng) -> Self {
                Self(new_uuid_v7(clock, rng))
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

typed_id!(
    /// A user's id.
    UserId
);
typed_id!(
    /// A chat's id.
    ChatId
);
typed_id!(
    /// A login session's id (the `sid` claim of access tokens).
    SessionId
);
typed_id!(
    /// A stream's id.
    StreamId
);
typed_id!(
    /// A message's id.
    MessageId
);
