//! Holding up under abuse: what one user can learn of or do to another's data, and bodies and
//! names built to mislead.

use std::time::Duration;

use alleato_contract_tests::sse::{OpenSse, SseEvent};
use alleato_contract_tests::ui_stream::{assert_finished_answer, message_text, text_message};
use alleato_contract_tests::{Api, Fetch, PASSWORD, TestUser, assert_problem, assert_validation_failed};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

/// `prefix` and a unique word, so that no two tests (nor two runs) send the same text.
fn unique(prefix: &str) -> String {
    format!("{prefix} {}", uuid::Uuid::new_v4().simple())
}

// --- the response cache is per user ---

#[tokio::test]
async fn another_users_identical_message_is_not_answered_from_their_cache() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let text = unique("My secret question");
    api.send_in_new_chat(&alice, &text, "MISS").await;
    // Another user sending the same message is not served alice's answer…
    api.send_in_new_chat(&bob, &text, "MISS").await;
    // …while the same user sending it again still gets the cached one.
    api.send_in_new_chat(&alice, &text, "HIT").await;
}

#[tokio::test]
async fn a_shared_response_cache_is_an_explicit_setting() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "a_shared_response_cache_is_an_explicit_setting",
        &[
            ("ALLEATO_RESPONSE_CACHE_SHARED", "true"),
            ("ALLEATO_ECHO_DELAY_MS", "0"),
        ],
    ) else {
        return;
    };
    let api = server.api();
    let alice = api.register().await;
    let bob = api.register().await;
    let text = unique("A common question");
    api.send_in_new_chat(&alice, &text, "MISS").await;
    let (chat, _) = api.send_in_new_chat(&bob, &text, "HIT").await;
    let stored = api.messages(&bob, &chat).await;
    assert_eq!(message_text(&stored[1]), format!("Echo: {text}"));
}

// --- bodies ---

#[tokio::test]
async fn a_json_body_with_trailing_data_is_a_bad_request() {
    let api = Api::shared();
    let user = api.register().await;
    for body in [
        r#"{"title":"a"} xyz"#,
        r#"{"title":"a"}{"title":"b"}"#,
        r#"{"title":"a"} 1"#,
    ] {
        let resp = api
            .post("/api/v1/chats")
            .bearer_auth(&user.access)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .fetch()
            .await;
        assert_problem(&resp, 400, "bad_request");
    }
    // Whitespace after the object is fine.
    let resp = api
        .post("/api/v1/chats")
        .bearer_auth(&user.access)
        .header(CONTENT_TYPE, "application/json")
        .body("{\"title\":\"a\"}  \n")
        .fetch()
        .await;
    resp.expect(201);
    let chats = api.list_chats(&user, &[]).await.expect(200);
    assert_eq!(chats["chats"].as_array().map(Vec::len), Some(1), "{chats}");
}

// --- invisible characters ---

#[tokio::test]
async fn an_email_with_zero_width_or_bidi_characters_is_refused() {
    let api = Api::shared();
    let real = api.register().await;
    let (local, domain) = real.email.split_once('@').expect("an email");
    for lookalike in [
        format!("{local}\u{200B}@{domain}"),
        format!("\u{FEFF}{local}@{domain}"),
        format!("{local}@\u{202E}{domain}"),
        format!("{local}\u{2066}@{domain}"),
    ] {
        let resp = api
            .register_with(json!({"email": lookalike, "password": PASSWORD}))
            .await;
        assert_validation_failed(&resp, "email");
    }
}

#[tokio::test]
async fn zero_width_and_bidi_characters_are_removed_from_titles() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api
        .create_chat_titled(&user, "Pay\u{200B}ment \u{202E}fdp.exe\u{202C}")
        .await;
    assert_eq!(chat["title"], "Payment fdp.exe", "{chat}");
    let id = chat["id"].as_str().unwrap();
    let resp = api
        .patch(&format!("/api/v1/chats/{id}"))
        .bearer_auth(&user.access)
        .json(&json!({"title": "\u{200B}\u{2060}"}))
        .fetch()
        .await;
    assert_validation_failed(&resp, "title");
}

// --- client-chosen chat ids (`POST /chat`) ---

/// The body `useChat` posts to `POST /api/v1/chat` for a new message in chat `id`.
fn ai_sdk_body(id: &str, text: &str) -> Value {
    json!({
        "id": id,
        "trigger": "submit-message",
        "messages": [{"id": uuid::Uuid::new_v4().to_string(), "role": "user",
                      "parts": [{"type": "text", "text": text}]}],
    })
}

async fn post_chat(api: &Api, user: &TestUser, id: &str, text: &str) -> alleato_contract_tests::Resp {
    api.post("/api/v1/chat")
        .bearer_auth(&user.access)
        .json(&ai_sdk_body(id, text))
        .fetch()
        .await
}

#[tokio::test]
async fn a_deleted_chats_id_cannot_be_claimed_through_post_chat() {
    let api = Api::shared();
    let alice = api.register().await;
    let mallory = api.register().await;
    let id = uuid::Uuid::new_v4().to_string();
    let resp = post_chat(&api, &alice, &id, &unique("Shared later")).await;
    assert_eq!(resp.status.as_u16(), 200, "{resp:?}");
    api.patch(&format!("/api/v1/chats/{id}"))
        .bearer_auth(&alice.access)
        .json(&json!({"visibility": "public"}))
        .fetch()
        .await
        .expect(200);
    api.delete(&format!("/api/v1/chats/{id}"))
        .bearer_auth(&alice.access)
        .fetch()
        .await
        .expect(200);

    // Nobody gets the id again: not another user, not its first owner.
    assert_problem(
        &post_chat(&api, &mallory, &id, "Now it is mine").await,
        404,
        "not_found",
    );
    assert_problem(&post_chat(&api, &alice, &id, "Back again").await, 404, "not_found");
    // The old share link shows nothing.
    assert_problem(
        &api.get(&format!("/api/v1/public/chats/{id}")).fetch().await,
        404,
        "not_found",
    );
    let list = api.list_chats(&mallory, &[]).await.expect(200);
    assert_eq!(list["chats"], json!([]), "{list}");
}

#[tokio::test]
async fn the_nil_and_max_uuids_are_refused_as_chat_ids() {
    let api = Api::shared();
    let user = api.register().await;
    for id in [
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ] {
        assert_validation_failed(&post_chat(&api, &user, id, "hello").await, "id");
    }
    let list = api.list_chats(&user, &[]).await.expect(200);
    assert_eq!(list["chats"], json!([]), "{list}");
}

#[tokio::test]
async fn a_post_chat_refused_by_the_quota_creates_no_chat() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "a_post_chat_refused_by_the_quota_creates_no_chat",
        &[("ALLEATO_REGULAR_DAILY_MESSAGES", "1"), ("ALLEATO_ECHO_DELAY_MS", "0")],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let first = uuid::Uuid::new_v4().to_string();
    let stream = api
        .post("/api/v1/chat")
        .bearer_auth(&user.access)
        .json(&ai_sdk_body(&first, &unique("The one message of today")))
        .sse()
        .await;
    assert_finished_answer(&stream.all().await);

    let second = uuid::Uuid::new_v4().to_string();
    assert_problem(
        &post_chat(&api, &user, &second, "One too many").await,
        429,
        "quota_exceeded",
    );
    let list = api.list_chats(&user, &[]).await.expect(200);
    let ids: Vec<&str> = list["chats"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![first.as_str()], "the refused send left a chat behind: {list}");
    assert_problem(
        &api.get(&format!("/api/v1/chats/{second}"))
            .bearer_auth(&user.access)
            .fetch()
            .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn a_post_chat_refused_as_invalid_creates_no_chat() {
    let api = Api::shared();
    let user = api.register().await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut body = ai_sdk_body(&id, "hello");
    body["model"] = json!("no-such-model");
    let resp = api
        .post("/api/v1/chat")
        .bearer_auth(&user.access)
        .json(&body)
        .fetch()
        .await;
    assert_validation_failed(&resp, "model");
    let list = api.list_chats(&user, &[]).await.expect(200);
    assert_eq!(list["chats"], json!([]), "{list}");
    // The id stays free for the client's next try.
    let resp = post_chat(&api, &user, &id, &unique("Second try")).await;
    assert_eq!(resp.status.as_u16(), 200, "{resp:?}");
}

// --- sessions ---

#[tokio::test]
async fn upgrading_a_guest_ends_the_guest_session() {
    let api = Api::shared();
    let guest = api.guest().await;
    let body = api
        .post("/api/v1/auth/register")
        .bearer_auth(&guest.access)
        .json(&json!({"email": Api::unique_email(), "password": PASSWORD}))
        .fetch()
        .await
        .expect(201);
    assert_eq!(body["user"]["id"], guest.id.as_str());
    // The guest's tokens are dead; the new ones work.
    assert_problem(&api.me(&guest.access).await, 401, "unauthorized");
    assert_problem(&api.refresh(&guest.refresh).await, 401, "unauthorized");
    let access = body["accessToken"].as_str().unwrap();
    let refresh = body["refreshToken"].as_str().unwrap();
    assert_ne!(refresh, guest.refresh);
    api.me(access).await.expect(200);
    api.refresh(refresh).await.expect(200);
}

#[tokio::test]
async fn parallel_refreshes_with_one_token_all_get_the_same_successor() {
    let api = Api::shared();
    let user = api.register().await;
    let refreshes = (0..10).map(|_| {
        let api = api.clone();
        let token = user.refresh.clone();
        async move { api.refresh(&token).await }
    });
    let answers = futures_util::future::join_all(refreshes).await;
    let mut successors = Vec::new();
    for resp in &answers {
        let body = resp.expect(200);
        api.me(body["accessToken"].as_str().unwrap()).await.expect(200);
        successors.push(body["refreshToken"].as_str().unwrap().to_owned());
    }
    successors.dedup();
    assert_eq!(
        successors.len(),
        1,
        "the refreshes got different successors: {successors:?}"
    );
    assert_ne!(successors[0], user.refresh);
    // Both tabs carry on with the successor; the session is alive.
    api.refresh(&successors[0]).await.expect(200);
}

// --- deleting under a running generation ---

/// Slow enough that a 60-word answer is still running when the test acts.
const SLOW_ECHO: (&str, &str) = ("ALLEATO_ECHO_DELAY_MS", "40");

fn long_text() -> String {
    format!("{} {}", unique("Long"), "word ".repeat(60))
}

fn types(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| !e.is_done())
        .map(|e| e.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn deleting_a_chat_mid_answer_ends_its_stream_with_an_error() {
    let api = Api::shared();
    let Some(server) = api.own_server("deleting_a_chat_mid_answer_ends_its_stream_with_an_error", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let mut stream = api.send_request(&user, &chat, &text_message(&long_text())).sse().await;
    // Wait for the answer to be under way.
    loop {
        let event = stream.next_event().await.expect("the answer has started");
        if event.json()["type"] == "text-delta" {
            break;
        }
    }
    api.delete(&format!("/api/v1/chats/{chat}"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    let events = stream.all().await;
    let kinds = types(&events);
    assert!(kinds.iter().any(|t| t == "error"), "no error chunk: {kinds:?}");
    assert!(
        !kinds.iter().any(|t| t == "finish"),
        "a deleted chat's answer finished: {kinds:?}"
    );
    assert!(events.last().is_some_and(SseEvent::is_done), "{events:?}");
}

#[tokio::test]
async fn deleting_an_answer_still_being_generated_is_a_conflict() {
    let api = Api::shared();
    let Some(server) = api.own_server("deleting_an_answer_still_being_generated_is_a_conflict", &[SLOW_ECHO]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let mut stream = api.send_request(&user, &chat, &text_message(&long_text())).sse().await;
    let start = stream.next_event().await.expect("a start chunk").json();
    let answer = start["messageId"]
        .as_str()
        .expect("the start names the answer")
        .to_owned();
    let resp = api
        .delete(&format!("/api/v1/messages/{answer}"))
        .bearer_auth(&user.access)
        .fetch()
        .await;
    assert_problem(&resp, 409, "conflict");
    // The answer goes on and is kept whole.
    assert_finished_answer(&stream.all().await);
    let stored = api.messages(&user, &chat).await;
    assert_eq!(stored.len(), 2, "{stored:#?}");
    assert_eq!(stored[1]["status"], "complete");
    // Once it is done, it can be deleted.
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.delete(&format!("/api/v1/messages/{answer}"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
}
