//! HS256 access tokens, the `TokenCodec` of every runtime.
//!
//! Written on `hmac` and `sha2` rather than a JWT library: only HS256 is ever accepted, and the
//! libraries pull RSA and elliptic-curve code (and an OS random source) that the Worker's wasm
//! would carry for nothing.

use alleato_core::auth::{AccessClaims, TokenCodec, TokenError};
use alleato_core::id::{SessionId, UserId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    sid: SessionId,
    iat: i64,
    exp: i64,
    jti: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// `{"alg":"HS256","typ":"JWT"}`, base64url-encoded: the header of every token signed here.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Longest token read; anything longer is refused before any decoding.
const MAX_TOKEN_LEN: usize = 4096;

/// Signs and checks HS256 JWTs with one secret. Only HS256 is accepted: `alg: none` and every
/// other algorithm are refused.
pub struct JwtCodec {
    key: Hmac<Sha256>,
}

impl JwtCodec {
    /// Shortest secret accepted, in bytes.
    pub const MIN_SECRET_LEN: usize = 32;

    /// A codec over `secret`.
    ///
    /// # Errors
    /// When the secret is shorter than 32 bytes.
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(format!(
                "the JWT secret must be at least {} bytes",
                Self::MIN_SECRET_LEN
            ));
        }
        let key = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| e.to_string())?;
        Ok(Self { key })
    }

    fn mac(&self, signing_input: &str) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(signing_input.as_bytes());
        mac
    }
}

impl std::fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtCodec(<secret>)")
    }
}

impl TokenCodec for JwtCodec {
    fn encode(&self, c: &AccessClaims) -> Result<String, TokenError> {
        let claims = Claims {
            sub: c.sub,
            sid: c.sid,
            iat: c.iat,
            exp: c.exp,
            jti: c.jti.clone(),
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        let mut token = format!("{HEADER}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = self.mac(&token).finalize().into_bytes();
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }

    fn decode(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Invalid)?;
        // The signature first, compared in constant time; nothing unsigned is parsed further.
        self.mac(signing_input)
            .verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| TokenError::Invalid)?;
        let header: Header = serde_json::from_slice(&header).map_err(|_| TokenError::Invalid)?;
        if header.alg != "HS256" {
            return Err(TokenError::Invalid);
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Invalid)?;
        let c: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        Ok(AccessClaims {
            sub: c.sub,
            sid: c.sid,
            iat: c.iat,
            exp: c.exp,
            jti: c.jti,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn claims() -> AccessClaims {
        AccessClaims {
            sub: UserId::from_uuid(Uuid::from_u128(1)),
            sid: SessionId::from_uuid(Uuid::from_u128(2)),
            iat: 1,
            exp: 2,
            jti: "j".into(),
        }
    }

    fn sign(secret: &[u8], header: &str, payload: &str) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn round_trips_and_refuses_other_keys_and_alg_none() {
        let codec = JwtCodec::new(&[7u8; 32]).unwrap();
        let token = codec.encode(&claims()).unwrap();
        assert_eq!(codec.decode(&token).unwrap(), claims());
        let other = JwtCodec::new(&[8u8; 32]).unwrap();
        assert_eq!(other.decode(&token), Err(TokenError::Invalid));
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(codec.decode(&none), Err(TokenError::Invalid));
        assert!(JwtCodec::new(b"short").is_err());
    }

    #[test]
    fn tokens_are_standard_hs256_jwts() {
        // A token signed by any HS256 implementation with the same key is read, and the
        // header this codec writes is the standard one.
        let secret = [9u8; 32];
        let payload = r#"{"sub":"00000000-0000-0000-0000-000000000001","sid":"00000000-0000-0000-0000-000000000002","iat":1,"exp":2,"jti":"j"}"#;
        let token = sign(&secret, r#"{"typ":"JWT","alg":"HS256"}"#, payload);
        let codec = JwtCodec::new(&secret).unwrap();
        assert_eq!(codec.decode(&token).unwrap(), claims());
        let header = URL_SAFE_NO_PAD.decode(HEADER).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn refuses_other_algorithms_tampering_and_garbage() {
        let secret = [9u8; 32];
        let codec = JwtCodec::new(&secret).unwrap();
        let payload = r#"{"sub":"00000000-0000-0000-0000-000000000001","sid":"00000000-0000-0000-0000-000000000002","iat":1,"exp":2,"jti":"j"}"#;
        // Signed with the right key but claiming another algorithm.
        let hs512 = sign(&secret, r#"{"alg":"HS512"}"#, payload);
        assert_eq!(codec.decode(&hs512), Err(TokenError::Invalid));
        // A payload changed after signing.
        let token = codec.encode(&claims()).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(payload.replace("\"exp\":2", "\"exp\":9999999999"));
        parts[1] = &forged;
        assert_eq!(codec.decode(&parts.join(".")), Err(TokenError::Invalid));
        for garbage in ["", ".", "..", "a.b.c", "a.b", &"x".repeat(5000)] {
            assert_eq!(codec.decode(garbage), Err(TokenError::Invalid), "{garbage:.20}");
        }
    }
}
