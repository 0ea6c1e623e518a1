//! Refresh tokens and their sealed successors: the successor of a spent refresh token is kept
//! only encrypted with a key derived from that token, so that the same token presented again
//! within the reuse interval gets the same successor (docs/decisions/0006).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::id::SessionId;

/// The refresh token of session `sid` with this secret: `<sid>.<base64url secret>`.
pub(super) fn refresh_token_of(sid: SessionId, secret: &[u8; 32]) -> String {
    format!("{sid}.{}", URL_SAFE_NO_PAD.encode(secret))
}

/// The key that seals the successor of `spent`: derived from the spent token itself, which the
/// store never holds (it keeps its SHA-256, a different digest), so only the token's holder can
/// open the successor.
fn successor_key(spent: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"alleato refresh successor\0");
    h.update(spent.as_bytes());
    h.finalize().into()
}

/// The successor's secret, sealed with the key of the token it replaces, as hex.
pub(super) fn seal_successor(spent: &str, secret: &[u8; 32]) -> String {
    let key = successor_key(spent);
    secret.iter().zip(key).map(|(s, k)| format!("{:02x}", s ^ k)).collect()
}

/// The successor token sealed by [`seal_successor`], or `None` when `sealed` is not one.
pub(super) fn unseal_successor(sid: SessionId, spent: &str, sealed: &str) -> Option<String> {
    if sealed.len() != 64 || !sealed.is_ascii() {
        return None;
    }
    let key = successor_key(spent);
    let mut secret = [0u8; 32];
    for (i, out) in secret.iter_mut().enumerate() {
        let byte = u8::from_str_radix(&sealed[2 * i..2 * i + 2], 16).ok()?;
        *out = byte ^ key[i];
    }
    Some(refresh_token_of(sid, &secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spent_token_opens_its_successor() {
        let sid: SessionId = "01936d6e-8f00-7000-8000-000000000001".parse().unwrap();
        let secret = [42u8; 32];
        let sealed = seal_successor("spent-token", &secret);
        assert_eq!(
            unseal_successor(sid, "spent-token", &sealed),
            Some(refresh_token_of(sid, &secret))
        );
        assert_ne!(
            unseal_successor(sid, "another-token", &sealed),
            Some(refresh_token_of(sid, &secret))
        );
        assert_eq!(unseal_successor(sid, "spent-token", "not hex"), None);
        assert!(!sealed.contains(&format!("{:x}", Sha256::digest(b"spent-token"))));
    }
}
