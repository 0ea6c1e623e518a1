//! Per-user caps: open streams, events and bytes per stream, bytes of all of a user's streams,
//! and chats. A refused write is a problem response naming the cap (`413` for sizes, `429` for
//! counts, `code` `limit_exceeded`, a `type` of the cap's own), and nothing is written.

use alleato_contract_tests::{Api, Fetch, TestUser, assert_problem};
use serde_json::{Value, json};

/// Asserts a `limit_exceeded` problem for `limit`, whose `type` and `detail` name it.
#[track_caller]
fn assert_limit(resp: &alleato_contract_tests::Resp, status: u16, limit: &str) -> Value {
    let body = assert_problem(resp, status, "limit_exceeded");
    let kind = body["type"].as_str().unwrap_or_default();
    assert!(
        kind != "about:blank" && kind.ends_with(&format!("/{limit}")),
        "the problem type does not name {limit}: {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(limit), "the detail does not name {limit}: {body}");
    body
}

async fn open_stream(api: &Api, user: &TestUser) -> alleato_contract_tests::Resp {
    api.post("/api/v1/streams")
        .bearer_auth(&user.access)
        .json(&json!({}))
        .fetch()
        .await
}

async fn append(api: &Api, user: &TestUser, id: &str, data: Value) -> alleato_contract_tests::Resp {
    api.post(&format!("/api/v1/streams/{id}/append"))
        .bearer_auth(&user.access)
        .json(&json!({ "data": data }))
        .fetch()
        .await
}

fn id_of(stream: &Value) -> String {
    stream["stream"]["id"].as_str().expect("stream.id").to_owned()
}

#[tokio::test]
async fn a_guest_cannot_open_more_streams_than_the_cap_until_one_closes() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "a_guest_cannot_open_more_streams_than_the_cap_until_one_closes",
        &[("ALLEATO_GUEST_OPEN_STREAMS", "2")],
    ) else {
        return;
    };
    let api = server.api();
    let guest = api.guest().await;
    let first = id_of(&open_stream(&api, &guest).await.expect(201));
    open_stream(&api, &guest).await.expect(201);
    let body = assert_limit(&open_stream(&api, &guest).await, 429, "open_streams");
    assert!(body["detail"].as_str().unwrap_or_default().contains('2'), "{body}");
    // Another user is not affected; a registered user has the higher cap.
    let other = api.guest().await;
    open_stream(&api, &other).await.expect(201);
    let user = api.register().await;
    for _ in 0..3 {
        open_stream(&api, &user).await.expect(201);
    }
    // Closing a stream makes room.
    api.delete(&format!("/api/v1/streams/{first}"))
        .bearer_auth(&guest.access)
        .fetch()
        .await
        .expect(200);
    open_stream(&api, &guest).await.expect(201);
}

#[tokio::test]
async fn appends_past_a_streams_event_or_byte_cap_are_refused_and_not_written() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "appends_past_a_streams_event_or_byte_cap_are_refused_and_not_written",
        &[
            ("ALLEATO_GUEST_STREAM_EVENTS", "3"),
            ("ALLEATO_GUEST_STREAM_BYTES", "100"),
        ],
    ) else {
        return;
    };
    let api = server.api();
    let guest = api.guest().await;

    let counted = id_of(&open_stream(&api, &guest).await.expect(201));
    for n in 0..3 {
        append(&api, &guest, &counted, json!(n)).await.expect(200);
    }
    assert_limit(
        &append(&api, &guest, &counted, json!(3)).await,
        413,
        "events_per_stream",
    );

    let sized = id_of(&open_stream(&api, &guest).await.expect(201));
    // `"…"` is the text plus its two quotes: 60 + 2 bytes, then 36 + 2 = 100 in all.
    append(&api, &guest, &sized, json!("x".repeat(60))).await.expect(200);
    assert_limit(
        &append(&api, &guest, &sized, json!("y".repeat(37))).await,
        413,
        "bytes_per_stream",
    );
    assert_eq!(
        append(&api, &guest, &sized, json!("z".repeat(36))).await.expect(200)["seq"],
        1
    );

    // The refused events were never written: the log holds exactly what was accepted.
    api.delete(&format!("/api/v1/streams/{counted}"))
        .bearer_auth(&guest.access)
        .fetch()
        .await
        .expect(200);
    let text = api
        .get(&format!("/api/v1/streams/{counted}"))
        .bearer_auth(&guest.access)
        .fetch()
        .await
        .text();
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data, ["0", "1", "2", "[DONE]"], "{text}");
}

#[tokio::test]
async fn the_bytes_of_all_a_users_streams_are_capped_closed_ones_included() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "the_bytes_of_all_a_users_streams_are_capped_closed_ones_included",
        &[("ALLEATO_REGULAR_TOTAL_STREAM_BYTES", "1000")],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let a = id_of(&open_stream(&api, &user).await.expect(201));
    append(&api, &user, &a, json!("a".repeat(598))).await.expect(200);
    api.delete(&format!("/api/v1/streams/{a}"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    let b = id_of(&open_stream(&api, &user).await.expect(201));
    assert_limit(
        &append(&api, &user, &b, json!("b".repeat(499))).await,
        413,
        "stream_bytes",
    );
    append(&api, &user, &b, json!("b".repeat(398))).await.expect(200);
}

#[tokio::test]
async fn a_user_cannot_create_more_chats_than_the_cap() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "a_user_cannot_create_more_chats_than_the_cap",
        &[("ALLEATO_GUEST_CHATS", "2")],
    ) else {
        return;
    };
    let api = server.api();
    let guest = api.guest().await;
    let first = api.create_chat(&guest, json!({})).await;
    api.create_chat(&guest, json!({})).await;
    let resp = api
        .post("/api/v1/chats")
        .bearer_auth(&guest.access)
        .json(&json!({}))
        .fetch()
        .await;
    assert_limit(&resp, 429, "chats");
    // The AI SDK endpoint creates chats too, under the same cap.
    let resp = api
        .post("/api/v1/chat")
        .bearer_auth(&guest.access)
        .json(&json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "trigger": "submit-message",
            "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
        }))
        .fetch()
        .await;
    assert_limit(&resp, 429, "chats");
    assert_eq!(
        api.list_chats(&guest, &[]).await.expect(200)["chats"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Deleting one makes room.
    let id = first["id"].as_str().expect("chat.id");
    api.delete(&format!("/api/v1/chats/{id}"))
        .bearer_auth(&guest.access)
        .fetch()
        .await
        .expect(200);
    api.create_chat(&guest, json!({})).await;
}
