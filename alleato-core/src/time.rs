//! Timestamps: milliseconds since the Unix epoch, shown as RFC 3339 UTC strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, in whole milliseconds since 1970-01-01T00:00:00Z.
///
/// The core never reads the system clock (it panics on wasm32); a [`crate::ports::Clock`] gives
/// the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant plus `ms` milliseconds (saturating).
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z`, the form this type prints.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = s.get(r)?;
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut millis = 0;
        let rest = &s[19..];
        let rest = if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let mut ms = 0i64;
            for (i, c) in frac.bytes().take(3).enumerate().take(digits) {
                ms += i64::from(c - b'0') * [100, 10, 1][i];
            }
            millis = ms;
            &frac[digits..]
        } else {
            rest
        };
        if rest != "Z" || !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Self(((days * 24 + hour) * 60 + min) * 60_000 + sec * 1000 + millis))
    }
}

impl Timestamp {
    /// The RFC 3339 text, `YYYY-MM-DDTHH:MM:SS.mmmZ`, written digit by digit (every chat and
    /// message in a response carries two of these; `core::fmt` took 6 % of the chat list's
    /// CPU). `None` outside the years 0000–9999.
    fn rfc3339_bytes(self) -> Option<[u8; 24]> {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        if !(0..=9999).contains(&y) {
            return None;
        }
        let mut text = *b"0000-00-00T00:00:00.000Z";
        for (range, value) in [
            (0..4, y),
            (5..7, m),
            (8..10, d),
            (11..13, sod / 3600),
            (14..16, (sod / 60) % 60),
            (17..19, sod % 60),
            (20..23, ms),
        ] {
            let mut v = value;
            for digit in text[range].iter_mut().rev() {
                *digit = b'0' + u8::try_from(v % 10).expect("a digit");
                v /= 10;
            }
        }
        Some(text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = self.rfc3339_bytes() {
            return f.write_str(std::str::from_utf8(&text).expect("ASCII digits and separators"));
        }
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339_bytes() {
            Some(text) => s.serialize_str(std::str::from_utf8(&text).expect("ASCII digits and separators")),
            None => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_rfc3339(&s).ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 UTC timestamp"))
    }
}

// Howard Hinnant's days-from-civil algorithms (public domain), proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_rfc3339_with_milliseconds() {
        assert_eq!(Timestamp::from_millis(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp::from_millis(1_795_860_000_123).to_string(),
            "2026-11-28T10:00:00.123Z"
        );
    }

    #[test]
    fn the_digit_by_digit_text_matches_the_formatted_one() {
        let formatted = |t: Timestamp| {
            let (ms, secs) = (t.0.rem_euclid(1000), t.0.div_euclid(1000));
            let sod = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
                sod / 3600,
                (sod / 60) % 60,
                sod % 60
            )
        };
        // Leap days, year ends, the epoch, before it, and the last millisecond of year 9999.
        let mut samples = vec![0, -1, 951_782_400_000, 253_402_300_799_999, -62_167_219_200_000];
        samples.extend((0..2000).map(|i: i64| i * 7_919_993_377 + 1_234));
        for ms in samples {
            let t = Timestamp::from_millis(ms);
            assert_eq!(t.to_string(), formatted(t), "{ms}");
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{}\"", formatted(t)));
        }
        // Outside four-digit years the general path answers.
        let far = Timestamp::from_millis(253_402_300_800_000);
        assert_eq!(far.rfc3339_bytes(), None);
        assert_eq!(far.to_string(), formatted(far));
    }

    #[test]
    fn parses_what_it_prints() {
        for ms in [0, 1, 999, 1_795_860_000_123, 951_782_400_000, -86_400_000] {
            let t = Timestamp::from_millis(ms);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Some(t));
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-22T10:00:00Z"),
            Timestamp::parse_rfc3339("2026-11-22T10:00:00.000Z")
        );
        assert_eq!(Timestamp::parse_rfc3339("2026-13-22T10:00:00Z"), None);
        assert_eq!(Timestamp::parse_rfc3339("nonsense"), None);
    }
}
