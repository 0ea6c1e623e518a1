//! HTTP conventions for caches and transfer: `ETag` and `304`, `Cache-Control: no-store` on
//! answers for a signed-in caller, compression, and `Retry-After`.

use alleato_contract_tests::sse::OpenSse;
use alleato_contract_tests::ui_stream::{assert_finished_answer, text_message};
use alleato_contract_tests::{Api, Capability, Fetch, Resp, assert_problem};
use reqwest::header::{ACCEPT_ENCODING, IF_NONE_MATCH};
use serde_json::json;

/// Asserts that `path` (read as `token`'s user, or anonymously) carries an `ETag`, and that
/// sending it back gives `304` with no body; returns the tag.
async fn assert_revalidates(api: &Api, path: &str, token: Option<&str>) -> String {
    let get = || {
        let req = api.get(path);
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    };
    let first = get().fetch().await;
    first.expect(200);
    let tag = first
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {first:?}"))
        .to_owned();
    let again = get().header(IF_NONE_MATCH, &tag).fetch().await;
    assert_eq!(again.status.as_u16(), 304, "{again:?}");
    assert!(again.body.is_empty(), "a 304 with a body: {again:?}");
    assert_eq!(again.header("etag"), Some(tag.as_str()), "{again:?}");
    let other = get().header(IF_NONE_MATCH, "\"something-else\"").fetch().await;
    assert_eq!(other.status.as_u16(), 200, "{other:?}");
    tag
}

#[tokio::test]
async fn reads_carry_an_etag_and_answer_304_when_unchanged() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Tagged").await;
    let id = chat["id"].as_str().unwrap();
    let before = assert_revalidates(&api, &format!("/api/v1/chats/{id}"), Some(&user.access)).await;
    assert_revalidates(&api, &format!("/api/v1/chats/{id}/messages"), Some(&user.access)).await;
    assert_revalidates(&api, "/api/v1/openapi.json", None).await;

    // A change makes a new tag: the old one no longer matches.
    api.patch(&format!("/api/v1/chats/{id}"))
        .bearer_auth(&user.access)
        .json(&json!({"title": "Retitled", "visibility": "public"}))
        .fetch()
        .await
        .expect(200);
    let resp = api
        .get(&format!("/api/v1/chats/{id}"))
        .bearer_auth(&user.access)
        .header(IF_NONE_MATCH, &before)
        .fetch()
        .await;
    assert_eq!(resp.expect(200)["chat"]["title"], "Retitled");
    assert_revalidates(&api, &format!("/api/v1/public/chats/{id}"), None).await;
}

#[tokio::test]
async fn answers_for_a_signed_in_caller_are_not_stored_by_caches() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Private").await;
    let id = chat["id"].as_str().unwrap();
    let reads = [
        api.me(&user.access).await,
        api.get(&format!("/api/v1/chats/{id}"))
            .bearer_auth(&user.access)
            .fetch()
            .await,
        api.list_chats(&user, &[]).await,
        api.get("/api/v1/chats/not-a-chat")
            .bearer_auth(&user.access)
            .fetch()
            .await,
    ];
    for resp in &reads {
        assert_eq!(resp.header("cache-control"), Some("no-store"), "{resp:?}");
    }
    let refreshed = api.refresh(&user.refresh).await;
    assert_eq!(refreshed.header("cache-control"), Some("no-store"), "{refreshed:?}");
}

fn assert_encoded(resp: &Resp, encoding: &str) {
    assert_eq!(resp.status.as_u16(), 200, "{resp:?}");
    assert_eq!(resp.header("content-encoding"), Some(encoding), "{resp:?}");
    assert!(
        !resp.body.starts_with(b"{"),
        "the body claims {encoding} but is plain JSON: {resp:?}"
    );
}

#[tokio::test]
async fn json_and_the_openapi_document_are_compressed_but_event_streams_never() {
    let api = Api::shared();
    if !api.supports(
        Capability::Compression,
        "json_and_the_openapi_document_are_compressed_but_event_streams_never",
    ) {
        return;
    }
    for encoding in ["gzip", "br"] {
        let doc = api
            .get("/api/v1/openapi.json")
            .header(ACCEPT_ENCODING, encoding)
            .fetch()
            .await;
        assert_encoded(&doc, encoding);
    }
    let user = api.register().await;
    for i in 0..3 {
        api.create_chat_titled(&user, &format!("A chat with a title long enough to compress {i}"))
            .await;
    }
    let list = api
        .get("/api/v1/chats")
        .bearer_auth(&user.access)
        .header(ACCEPT_ENCODING, "gzip")
        .fetch()
        .await;
    assert_encoded(&list, "gzip");
    // Without Accept-Encoding, plain.
    let plain = api.get("/api/v1/openapi.json").fetch().await;
    assert_eq!(plain.header("content-encoding"), None, "{plain:?}");
    plain.json();

    let chat = api.new_chat_id(&user).await;
    let stream = api
        .send_request(&user, &chat, &text_message("Stream me plainly, please"))
        .header(ACCEPT_ENCODING, "gzip, br")
        .sse()
        .await;
    assert_eq!(stream.header("content-encoding"), None, "{stream:?}");
    assert_finished_answer(&stream.all().await);
}

#[tokio::test]
async fn every_429_says_when_to_retry() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "every_429_says_when_to_retry",
        &[
            ("ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE", "1"),
            ("ALLEATO_GUEST_DAILY_MESSAGES", "0"),
        ],
    ) else {
        return;
    };
    let api = server.api();
    let guest = api.guest().await;
    let over_quota = api
        .send_request(&guest, &api.new_chat_id(&guest).await, &text_message("hi"))
        .fetch()
        .await;
    let over_limit = api.post("/api/v1/auth/guest").fetch().await;
    for (resp, code) in [(over_quota, "quota_exceeded"), (over_limit, "rate_limited")] {
        assert_problem(&resp, 429, code);
        let secs: u64 = resp
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After in seconds: {resp:?}"));
        assert!(secs >= 1, "{resp:?}");
    }
}
