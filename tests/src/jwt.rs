//! Forged access tokens. Each starts from a real token's claims (so `sub` and `sid` name a live
//! session) and changes one thing, so that a rejection can only be for that thing.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

/// The claims of `token`, read without checking its signature.
///
/// # Panics
/// When `token` is not a JWT with a JSON object payload.
pub fn claims(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_else(|e| panic!("JWT payload is not base64url ({e}): {token}"));
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => map,
        other => panic!("JWT payload is not a JSON object ({other:?}): {token}"),
    }
}

/// Signs `claims` with HS256 and `secret`.
pub fn sign(claims: &Map<String, Value>, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("signing a JWT")
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("a sane clock")
}

/// The same claims, signed again with `secret` (a control: with the server's secret this works).
pub fn resigned(token: &str, secret: &str) -> String {
    sign(&claims(token), secret.as_bytes())
}

/// The same claims with `iat` two hours and `exp` one hour in the past, signed with `secret`.
pub fn expired(token: &str, secret: &str) -> String {
    let mut claims = claims(token);
    let now = now();
    claims.insert("iat".into(), json!(now - 7200));
    claims.insert("exp".into(), json!(now - 3600));
    if claims.contains_key("nbf") {
        claims.insert("nbf".into(), json!(now - 7200));
    }
    sign(&claims, secret.as_bytes())
}

/// The same claims with an unsigned header: `{"alg":"none"}` and an empty signature.
pub fn alg_none(token: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(token)).expect("claims serialise"));
    format!("{header}.{payload}.")
}
