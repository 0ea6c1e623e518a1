//! Cursor pagination: `?limit=` (1–100, default 20) and an opaque `?cursor=`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::time::Timestamp;

/// How many items a page holds: 1 to 100, 20 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    /// The largest page.
    pub const MAX: u32 = 100;
    /// The page size when the client names none.
    pub const DEFAULT: Limit = Limit(20);

    /// Checks a client's limit.
    ///
    /// # Errors
    /// When it is not within 1–100.
    pub fn new(n: i64) -> Result<Self, &'static str> {
        match u32::try_from(n) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err("must be between 1 and 100"),
        }
    }

    /// The number of items.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A position in a list ordered by (time, id): the last item of the previous page.
///
/// On the wire it is opaque (base64url); clients must not build one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The ordering timestamp of the last item seen.
    pub at: Timestamp,
    /// The id of the last item seen, breaking ties between equal timestamps.
    pub id: Uuid,
}

impl Cursor {
    /// The opaque form sent to clients.
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(24);
        raw.extend_from_slice(&self.at.as_millis().to_be_bytes());
        raw.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a cursor a client sent back.
    ///
    /// # Errors
    /// When the text is not a cursor this server made.
    pub fn decode(s: &str) -> Result<Self, &'static str> {
        const INVALID: &str = "is not a valid cursor";
        if s.len() > 64 {
            return Err(INVALID);
        }
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| INVALID)?;
        if raw.len() != 24 {
            return Err(INVALID);
        }
        let at = i64::from_be_bytes(raw[..8].try_into().map_err(|_| INVALID)?);
        let id = Uuid::from_slice(&raw[8..]).map_err(|_| INVALID)?;
        Ok(Self {
            at: Timestamp::from_millis(at),
            id,
        })
    }
}

/// A request for one page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size.
    pub limit: Limit,
    /// Where the previous page ended; `None` for the first page.
    pub after: Option<Cursor>,
}

/// One page of items and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor for the next page, or `None` when this is the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items fetched from storage: the extra item only tells
    /// that another page exists.
    pub fn from_overfetch(mut items: Vec<T>, limit: Limit, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let more = items.len() > limit.get() as usize;
        items.truncate(limit.get() as usize);
        let next_cursor = if more {
            items.last().map(|last| cursor_of(last).encode())
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            at: Timestamp::from_millis(1_700_000_000_000),
            id: Uuid::from_u128(42),
        };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        assert!(Cursor::decode("abc").is_err());
        assert!(Cursor::decode("!!!").is_err());
        assert!(Cursor::decode(&"A".repeat(500)).is_err());
    }

    #[test]
    fn limit_bounds() {
        assert!(Limit::new(0).is_err());
        assert!(Limit::new(101).is_err());
        assert!(Limit::new(-1).is_err());
        assert_eq!(Limit::new(100).map(Limit::get), Ok(100));
    }
}
