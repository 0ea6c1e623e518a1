use std::fmt;

use crate::id::{SessionId, UserId};
use crate::time::Timestamp;

/// A normalised email address: trimmed, lower-cased, checked for shape.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The longest address accepted (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// Trims, lower-cases and checks an address.
    ///
    /// # Errors
    /// When it is not of the form `local@domain.tld`, has spaces or control characters, or is
    /// longer than 254 bytes.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const MSG: &str = "must be an email address";
        let email = raw.trim().to_lowercase();
        if email.is_empty() || email.len() > Self::MAX_LEN {
            return Err(MSG);
        }
        // Invisible characters would make an address that looks like another's.
        if email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || crate::validation::is_invisible(c))
        {
            return Err(MSG);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(MSG)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(MSG);
        }
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if !domain.contains('.') || !labels_ok {
            return Err(MSG);
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that meets the length rule (8–128 characters). Its `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Fewest characters.
    pub const MIN_CHARS: usize = 8;
    /// Most characters.
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password's length (in Unicode scalar values, not bytes).
    ///
    /// # Errors
    /// When it has fewer than 8 or more than 128 characters.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            Err("must be at least 8 characters")
        } else if n > Self::MAX_CHARS {
            Err("must be at most 128 characters")
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A user's display name: 1–100 characters once trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Most characters.
    pub const MAX_CHARS: usize = 100;

    /// Trims and checks a name.
    ///
    /// # Errors
    /// When it is empty, longer than 100 characters or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        // Invisible characters are dropped: they would make a name look like another.
        let name = crate::validation::strip_invisible(raw);
        let name = name.trim();
        if name.is_empty() {
            return Err("must not be empty");
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a user registered or is a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// Registered with an email and a password.
    Regular,
    /// Anonymous; can be upgraded in place by registering.
    Guest,
}

impl UserKind {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regular => "regular",
            Self::Guest => "guest",
        }
    }

    /// Reads a stored kind.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "regular" => Some(Self::Regular),
            "guest" => Some(Self::Guest),
            _ => None,
        }
    }
}

/// A user as the rest of the system sees it: never with a password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Email; `None` for guests.
    pub email: Option<Email>,
    /// Display name, when given.
    pub name: Option<DisplayName>,
    /// Regular or guest.
    pub kind: UserKind,
    /// When the account was made.
    pub created_at: Timestamp,
}

/// A user as stored, with the secrets and settings only the services see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The public part.
    pub user: User,
    /// Argon2id PHC string; `None` for guests.
    pub password_hash: Option<String>,
    /// A per-user override of the daily message quota.
    pub daily_message_limit: Option<u32>,
}

/// What an access token asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user (`sub`).
    pub sub: UserId,
    /// The session (`sid`), checked against the cache on every request.
    pub sid: SessionId,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// A random id of this token, so that two tokens issued in the same second differ.
    pub jti: String,
}

/// An authenticated caller: a user acting through a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthContext {
    /// Who.
    pub user_id: UserId,
    /// Through which session.
    pub session_id: SessionId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@.com",
            "ada@exa..com",
            "ada\u{0}@example.com",
            "ad\u{200B}a@example.com",
            "ada@exam\u{202E}ple.com",
            "\u{FEFF}ada@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn password_length_counts_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("ééééééé").is_err());
        assert!(Password::parse("éééééééé").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secretpassword").unwrap()),
            "Password(<redacted>)"
        );
    }
}
