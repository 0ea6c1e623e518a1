//! HS256 access tokens (`jsonwebtoken`), the `TokenCodec` of every runtime.

use alleato_core::auth::{AccessClaims, TokenCodec, TokenError};
use alleato_core::id::{SessionId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    sid: SessionId,
    iat: i64,
    exp: i64,
    jti: String,
}

/// Signs and checks HS256 JWTs with one secret. Only HS256 is accepted: `alg: none` and every
/// other algorithm are refused.
pub struct JwtCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
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
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked by the auth service against its clock port: the platform clock that
        // jsonwebtoken would read is not available on every runtime.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
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
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    fn decode(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| TokenError::Invalid)?;
        let c = data.claims;
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
}
