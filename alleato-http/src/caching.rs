//! HTTP caching conventions: `ETag` and `304 Not Modified` on JSON reads, `Cache-Control:
//! no-store` on whatever a credential was sent for, and (natively) compression.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The largest JSON body tagged; bigger ones (none of this API's reads) go untagged.
const TAG_LIMIT: usize = 4 * 1024 * 1024;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.split(';').next().is_some_and(|e| e.trim() == "application/json"))
}

/// A weak tag of the body: the same JSON whatever the content coding.
fn tag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("W/\"{hex}\"")).expect("hex is a valid header value")
}

/// Whether `If-None-Match` names `tag` (weak comparison, as RFC 9110 asks for this header).
fn none_match(if_none_match: &HeaderValue, tag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let Ok(tag) = tag.to_str() else {
        return false;
    };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    list.split(',').any(|t| t.trim() == "*" || opaque(t) == opaque(tag))
}

/// Tags successful JSON answers to `GET` (a chat, its messages, a public chat, the OpenAPI
/// document, lists) with an `ETag`, and answers `304 Not Modified` without a body when the
/// client's `If-None-Match` names it.
pub async fn etag(req: Request, next: Next) -> Response {
    let conditional = req.headers().get(header::IF_NONE_MATCH).cloned();
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let res = next.run(req).await;
    if res.status() != StatusCode::OK || !is_json(res.headers()) || res.headers().contains_key(header::ETAG) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, TAG_LIMIT).await {
        Ok(b) => b,
        Err(e) => return crate::ApiError::internal(&e).into_response(),
    };
    let tag = tag_of(&bytes);
    parts.headers.insert(header::ETAG, tag.clone());
    if conditional.is_some_and(|c| none_match(&c, &tag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether the request carries a credential: its answer is for this caller alone.
pub(crate) fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-api-key")
}

/// `Cache-Control: no-store` for answers to requests that carried a credential, unless the
/// route chose its own (event streams say `no-cache`, as the AI SDK expects).
pub(crate) fn no_store(res: &mut Response) {
    res.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// Compression of answers with gzip or brotli, as the client accepts: JSON, the OpenAPI
/// document, exports. Never event streams (each event must reach the client when it is sent),
/// nor bodies too small to gain.
#[cfg(not(target_arch = "wasm32"))]
pub fn compression() -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    tower_http::compression::CompressionLayer::new()
        .gzip(true)
        .br(true)
        .compress_when(
            SizeAbove::new(256)
                .and(NotForContentType::const_new("text/event-stream"))
                .and(NotForContentType::IMAGES),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly() {
        let tag = tag_of(b"{}");
        let hv = |s: &str| HeaderValue::from_str(s).unwrap();
        let bare = tag.to_str().unwrap().trim_start_matches("W/").to_owned();
        assert!(none_match(&tag, &tag));
        assert!(none_match(&hv(&bare), &tag));
        assert!(none_match(&hv(&format!("\"x\", {bare}")), &tag));
        assert!(none_match(&hv("*"), &tag));
        assert!(!none_match(&hv("\"other\""), &tag));
        assert_ne!(tag_of(b"{}"), tag_of(b"[]"));
    }
}
