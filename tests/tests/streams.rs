//! Streams: `/api/v1/streams`, ordered append-only event logs with live followers, and the streams
//! that generations write.

use std::time::Duration;

use alleato_contract_tests::sse::{OpenSse, SseEvent, SseStream};
use alleato_contract_tests::ui_stream::{assert_finished_answer, echo_deltas, text_message};
use alleato_contract_tests::{Api, Fetch, TestUser, assert_keys, assert_problem, assert_timestamp, assert_uuid};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use uuid::Uuid;

/// How long a follower must stay silent for the test to believe nothing more is coming.
const QUIET: Duration = Duration::from_millis(300);

/// Opens a stream for `user` with `body`, expecting `201`; returns the `stream` object.
async fn create_stream(api: &Api, user: &TestUser, body: Value) -> Value {
    let resp = api
        .post("/api/v1/streams")
        .bearer_auth(&user.access)
        .json(&body)
        .fetch()
        .await;
    let body = resp.expect(201);
    assert_keys(&body, &["stream"], "the create response");
    body["stream"].clone()
}

/// Opens a stream without a chat; returns its id.
async fn new_stream(api: &Api, user: &TestUser) -> String {
    let stream = create_stream(api, user, json!({})).await;
    stream["id"].as_str().expect("stream.id is a string").to_owned()
}

/// Appends `data`, expecting `200 {seq}`; returns the seq.
async fn append_ok(api: &Api, user: &TestUser, id: &str, data: Value) -> u64 {
    let body = api
        .post(&format!("/api/v1/streams/{id}/append"))
        .bearer_auth(&user.access)
        .json(&json!({"data": data}))
        .fetch()
        .await
        .expect(200);
    assert_keys(&body, &["seq"], "the append response");
    body["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("seq is not a number: {body}"))
}

/// Follows stream `id` as `user`, from `after` (sent as `Last-Event-ID`) when given.
async fn follow(api: &Api, user: &TestUser, id: &str, last_event_id: Option<&str>) -> SseStream {
    let mut request = api.get(&format!("/api/v1/streams/{id}")).bearer_auth(&user.access);
    if let Some(after) = last_event_id {
        request = request.header("last-event-id", after);
    }
    let stream = request.sse().await;
    assert_eq!(stream.header("x-alleato-stream-id"), Some(id), "{stream:?}");
    assert_eq!(stream.header("cache-control"), Some("no-cache"), "{stream:?}");
    stream
}

async fn close(api: &Api, user: &TestUser, id: &str) {
    let body = api
        .delete(&format!("/api/v1/streams/{id}"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    assert_eq!(body, json!({"success": true}));
}

/// The `(seq, data)` of each event but a final `[DONE]`, which must be there and be alone.
#[track_caller]
fn replayed(events: &[SseEvent]) -> Vec<(u64, Value)> {
    let (last, rest) = events.split_last().expect("no events at all");
    assert!(
        last.is_done() && last.id.is_none(),
        "the stream does not end with `data: [DONE]`: {events:#?}"
    );
    rest.iter().map(|e| (e.seq(), e.json())).collect()
}

// --- create ---

#[tokio::test]
async fn creating_a_stream_opens_it() {
    let api = Api::shared();
    let user = api.register().await;
    for body in [None, Some(json!({}))] {
        let mut request = api.post("/api/v1/streams").bearer_auth(&user.access);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let resp = request.fetch().await;
        let stream = resp.expect(201)["stream"].clone();
        let object = stream.as_object().unwrap_or_else(|| panic!("stream: {resp:?}"));
        for key in object.keys() {
            assert!(
                ["id", "chatId", "status", "createdAt"].contains(&key.as_str()),
                "an undocumented field `{key}`: {stream}"
            );
        }
        assert_uuid(&stream["id"], "stream.id");
        assert!(stream["chatId"].is_null(), "a stream without a chat: {stream}");
        assert_eq!(stream["status"], "open");
        assert_timestamp(&stream["createdAt"], "stream.createdAt");
    }
}

#[tokio::test]
async fn a_stream_may_belong_to_one_of_the_callers_chats() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let stream = create_stream(&api, &user, json!({"chatId": chat})).await;
    assert_keys(&stream, &["id", "chatId", "status", "createdAt"], "stream");
    assert_eq!(stream["chatId"], chat.as_str());
    assert_eq!(stream["status"], "open");
}

#[tokio::test]
async fn a_stream_for_another_users_chat_is_not_found() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.new_chat_id(&alice).await;
    let resp = api
        .post("/api/v1/streams")
        .bearer_auth(&bob.access)
        .json(&json!({"chatId": chat}))
        .fetch()
        .await;
    assert_problem(&resp, 404, "not_found");
    let missing = api
        .post("/api/v1/streams")
        .bearer_auth(&bob.access)
        .json(&json!({"chatId": Uuid::new_v4()}))
        .fetch()
        .await;
    assert_problem(&missing, 404, "not_found");
}

#[tokio::test]
async fn creating_a_stream_requires_authentication() {
    let api = Api::shared();
    let resp = api.post("/api/v1/streams").json(&json!({})).fetch().await;
    assert_problem(&resp, 401, "unauthorized");
}

// --- append and follow ---

#[tokio::test]
async fn appends_are_numbered_from_zero() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    for expected in 0..3 {
        assert_eq!(append_ok(&api, &user, &id, json!({"n": expected})).await, expected);
    }
    // Each stream counts on its own.
    let other = new_stream(&api, &user).await;
    assert_eq!(append_ok(&api, &user, &other, json!("first")).await, 0);
}

#[tokio::test]
async fn appended_data_is_any_json_and_comes_back_as_sent() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    let values = [
        json!({"type": "note", "nested": {"list": [1, 2.5, "three"], "ok": true}}),
        json!([1, "two", null]),
        json!("a string with\nnewlines\r\nand unicode 😀 é"),
        json!(42),
        json!(-0.5),
        json!(true),
        json!(null),
        json!(""),
        json!({}),
    ];
    for value in &values {
        append_ok(&api, &user, &id, value.clone()).await;
    }
    close(&api, &user, &id).await;
    let events = follow(&api, &user, &id, None).await.all().await;
    let expected: Vec<(u64, Value)> = (0..).zip(values.iter().cloned()).collect();
    assert_eq!(replayed(&events), expected);
}

#[tokio::test]
async fn concurrent_appends_get_distinct_consecutive_seqs() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    let appends = (0..20).map(|n| append_ok(&api, &user, &id, json!({"n": n})));
    let mut seqs = futures_util::future::join_all(appends).await;
    seqs.sort_unstable();
    assert_eq!(seqs, (0..20).collect::<Vec<u64>>());
    close(&api, &user, &id).await;
    let events = follow(&api, &user, &id, None).await.all().await;
    let replay = replayed(&events);
    let mut values: Vec<u64> = replay.iter().map(|(_, data)| data["n"].as_u64().unwrap()).collect();
    values.sort_unstable();
    assert_eq!(values, (0..20).collect::<Vec<u64>>(), "every append is in the log once");
}

#[tokio::test]
async fn following_an_open_stream_replays_it_then_waits() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    append_ok(&api, &user, &id, json!("zero")).await;
    append_ok(&api, &user, &id, json!("one")).await;
    let mut follower = follow(&api, &user, &id, None).await;
    for (seq, data) in [(0, "zero"), (1, "one")] {
        let event = follower.next_event().await.expect("an event");
        assert_eq!((event.seq(), event.json()), (seq, json!(data)));
    }
    assert_eq!(follower.poll_event(QUIET).await, None, "an open stream has no end yet");
}

#[tokio::test]
async fn a_follower_receives_later_appends_live() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    let mut follower = follow(&api, &user, &id, None).await;
    assert_eq!(follower.poll_event(QUIET).await, None);
    for seq in 0..3 {
        append_ok(&api, &user, &id, json!({"live": seq})).await;
        let event = follower
            .next_event_within(Duration::from_secs(5))
            .await
            .expect("an event");
        assert_eq!((event.seq(), event.json()), (seq, json!({"live": seq})));
    }
}

#[tokio::test]
async fn every_follower_receives_every_event() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    let mut followers = Vec::new();
    for _ in 0..3 {
        followers.push(follow(&api, &user, &id, None).await);
    }
    for seq in 0..4 {
        append_ok(&api, &user, &id, json!(seq)).await;
    }
    close(&api, &user, &id).await;
    for follower in followers {
        let events = follower.all().await;
        assert_eq!(replayed(&events), (0..4).map(|n| (n, json!(n))).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn following_after_last_event_id_skips_the_earlier_events() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    for n in 0..5 {
        append_ok(&api, &user, &id, json!(n)).await;
    }
    let mut follower = follow(&api, &user, &id, Some("2")).await;
    let first = follower.next_event().await.expect("an event");
    assert_eq!((first.seq(), first.json()), (3, json!(3)));
    close(&api, &user, &id).await;
    let events = follower.all().await;
    assert_eq!(replayed(&events), [(3, json!(3)), (4, json!(4))]);
}

#[tokio::test]
async fn following_with_an_after_query_skips_the_earlier_events() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    for n in 0..5 {
        append_ok(&api, &user, &id, json!(n)).await;
    }
    close(&api, &user, &id).await;
    let events = api
        .get(&format!("/api/v1/streams/{id}"))
        .bearer_auth(&user.access)
        .query(&[("after", "3")])
        .sse()
        .await
        .all()
        .await;
    assert_eq!(replayed(&events), [(4, json!(4))]);
    // After the last event, only the end remains.
    let events = follow(&api, &user, &id, Some("4")).await.all().await;
    assert_eq!(replayed(&events), []);
}

#[tokio::test]
async fn an_idle_follower_gets_ping_comments() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "an_idle_follower_gets_ping_comments",
        &[("ALLEATO_SSE_KEEP_ALIVE_SECS", "1")],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    let mut follower = follow(&api, &user, &id, None).await;
    assert_eq!(follower.poll_event(Duration::from_millis(2000)).await, None);
    assert!(follower.comments() >= 1, "no comment in 2 s of silence: {follower:?}");
    append_ok(&api, &user, &id, json!("still there")).await;
    let event = follower.next_event().await.expect("an event");
    assert_eq!(event.json(), json!("still there"));
}

// --- close ---

#[tokio::test]
async fn closing_a_stream_ends_its_followers() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    append_ok(&api, &user, &id, json!("before")).await;
    let mut follower = follow(&api, &user, &id, None).await;
    assert_eq!(follower.next_event().await.expect("an event").json(), json!("before"));
    assert_eq!(follower.poll_event(QUIET).await, None);
    close(&api, &user, &id).await;
    let done = follower
        .next_event_within(Duration::from_secs(5))
        .await
        .expect("the end marker");
    assert!(done.is_done(), "{done:?}");
    assert_eq!(follower.next_event().await, None, "the response ends after [DONE]");
}

#[tokio::test]
async fn appending_to_a_closed_stream_is_a_conflict() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    append_ok(&api, &user, &id, json!(0)).await;
    close(&api, &user, &id).await;
    let resp = api
        .post(&format!("/api/v1/streams/{id}/append"))
        .bearer_auth(&user.access)
        .json(&json!({"data": "too late"}))
        .fetch()
        .await;
    assert_problem(&resp, 409, "conflict");
    let events = follow(&api, &user, &id, None).await.all().await;
    assert_eq!(replayed(&events), [(0, json!(0))]);
}

#[tokio::test]
async fn a_closed_stream_replays_and_ends() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    for n in 0..3 {
        append_ok(&api, &user, &id, json!({"n": n})).await;
    }
    close(&api, &user, &id).await;
    for _ in 0..2 {
        let events = follow(&api, &user, &id, None).await.all().await;
        assert_eq!(
            replayed(&events),
            (0..3).map(|n| (n, json!({"n": n}))).collect::<Vec<_>>()
        );
    }
    let empty = new_stream(&api, &user).await;
    close(&api, &user, &empty).await;
    let events = follow(&api, &user, &empty, None).await.all().await;
    assert_eq!(replayed(&events), []);
}

// --- access and validation ---

#[tokio::test]
async fn another_users_stream_is_not_found_on_every_route() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let id = new_stream(&api, &alice).await;
    append_ok(&api, &alice, &id, json!("private")).await;
    let path = format!("/api/v1/streams/{id}");
    let append_path = format!("{path}/append");
    let body = json!({"data": "intrusion"});
    assert_problem(&api.get(&path).bearer_auth(&bob.access).fetch().await, 404, "not_found");
    assert_problem(
        &api.post(&append_path)
            .bearer_auth(&bob.access)
            .json(&body)
            .fetch()
            .await,
        404,
        "not_found",
    );
    assert_problem(
        &api.delete(&path).bearer_auth(&bob.access).fetch().await,
        404,
        "not_found",
    );
    // Without a token: unauthenticated.
    assert_problem(&api.get(&path).fetch().await, 401, "unauthorized");
    assert_problem(&api.post(&append_path).json(&body).fetch().await, 401, "unauthorized");
    assert_problem(&api.delete(&path).fetch().await, 401, "unauthorized");
    // Untouched: still open, still one event.
    assert_eq!(append_ok(&api, &alice, &id, json!("mine")).await, 1);
}

#[tokio::test]
async fn an_unknown_stream_is_not_found() {
    let api = Api::shared();
    let user = api.register().await;
    for id in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let path = format!("/api/v1/streams/{id}");
        assert_problem(
            &api.get(&path).bearer_auth(&user.access).fetch().await,
            404,
            "not_found",
        );
        let append = api
            .post(&format!("{path}/append"))
            .bearer_auth(&user.access)
            .json(&json!({"data": 1}))
            .fetch()
            .await;
        assert_problem(&append, 404, "not_found");
        assert_problem(
            &api.delete(&path).bearer_auth(&user.access).fetch().await,
            404,
            "not_found",
        );
    }
}

#[tokio::test]
async fn append_takes_only_json() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    let path = format!("/api/v1/streams/{id}/append");
    let text = api
        .post(&path)
        .bearer_auth(&user.access)
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"data": 1}"#)
        .fetch()
        .await;
    assert_problem(&text, 415, "unsupported_media_type");
    let malformed = api
        .post(&path)
        .bearer_auth(&user.access)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"data": "#)
        .fetch()
        .await;
    assert_problem(&malformed, 400, "bad_request");
    assert_eq!(
        append_ok(&api, &user, &id, json!("first")).await,
        0,
        "nothing was appended"
    );
}

#[tokio::test]
async fn append_without_data_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    for body in [json!({}), json!({"date": 1})] {
        let resp = api
            .post(&format!("/api/v1/streams/{id}/append"))
            .bearer_auth(&user.access)
            .json(&body)
            .fetch()
            .await;
        assert_problem(&resp, 422, "validation_failed");
    }
    assert_eq!(
        append_ok(&api, &user, &id, json!("first")).await,
        0,
        "nothing was appended"
    );
}

#[tokio::test]
async fn an_append_body_that_is_not_an_object_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    let id = new_stream(&api, &user).await;
    // `[1]` has no `data` field: it must not be read as `{"data": 1}`.
    for body in [json!([1]), json!(1), json!("data"), json!(null)] {
        let resp = api
            .post(&format!("/api/v1/streams/{id}/append"))
            .bearer_auth(&user.access)
            .json(&body)
            .fetch()
            .await;
        assert_problem(&resp, 422, "validation_failed");
    }
    assert_eq!(
        append_ok(&api, &user, &id, json!("first")).await,
        0,
        "nothing was appended"
    );
}

#[tokio::test]
async fn deleting_a_chat_deletes_its_streams() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let own = create_stream(&api, &user, json!({"chatId": chat})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    append_ok(&api, &user, &own, json!("in the chat")).await;
    let generation = api
        .send_request(&user, &chat, &text_message(&format!("Gone soon {}", Uuid::new_v4())))
        .sse()
        .await;
    let generated = generation
        .header("x-alleato-stream-id")
        .expect("a stream id")
        .to_owned();
    generation.all().await;
    api.delete(&format!("/api/v1/chats/{chat}"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    let mut outcomes = Vec::new();
    for (what, id) in [("the chat's own stream", &own), ("the generation's stream", &generated)] {
        let path = format!("/api/v1/streams/{id}");
        // A deadline of its own, so that a hanging answer fails quickly and says so.
        let read = tokio::time::timeout(QUIET * 10, api.get(&path).bearer_auth(&user.access).fetch()).await;
        let append = api
            .post(&format!("{path}/append"))
            .bearer_auth(&user.access)
            .json(&json!({"data": 1}))
            .fetch()
            .await;
        let read = read.map_or_else(|_| "no answer within 3 s".to_owned(), |r| r.status.to_string());
        outcomes.push(format!("{what}: GET {read}, append {}", append.status));
    }
    assert_eq!(
        outcomes,
        [
            "the chat's own stream: GET 404 Not Found, append 404 Not Found",
            "the generation's stream: GET 404 Not Found, append 404 Not Found",
        ]
    );
}

#[tokio::test]
async fn deleting_a_chat_ends_the_followers_of_its_streams() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let id = create_stream(&api, &user, json!({"chatId": chat})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    append_ok(&api, &user, &id, json!("before")).await;
    let mut follower = follow(&api, &user, &id, None).await;
    assert_eq!(follower.next_event().await.expect("an event").json(), json!("before"));
    api.delete(&format!("/api/v1/chats/{chat}"))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    let end = tokio::time::timeout(QUIET * 10, follower.rest()).await;
    let end = end.unwrap_or_else(|_| panic!("the follower did not end within 3 s of the chat's deletion"));
    assert!(end.iter().all(SseEvent::is_done) && end.len() <= 1, "{end:?}");
}

// --- the streams of generations ---

#[tokio::test]
async fn a_generations_stream_replays_the_answer() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let text = format!("Replay me {}", Uuid::new_v4().simple());
    let stream = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    let id = stream.header("x-alleato-stream-id").expect("a stream id").to_owned();
    let original = stream.all().await;
    let replay = follow(&api, &user, &id, None).await.all().await;
    assert_eq!(replay, original);
    assert_eq!(assert_finished_answer(&replay).deltas, echo_deltas(&text));
    let tail = follow(&api, &user, &id, Some("4")).await.all().await;
    assert_eq!(tail, original[5..]);
}

#[tokio::test]
async fn a_running_generations_stream_cannot_be_appended_to_or_closed() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "a_running_generations_stream_cannot_be_appended_to_or_closed",
        &[("ALLEATO_ECHO_DELAY_MS", "20")],
    ) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let words: Vec<String> = (1..=60).map(|i| format!("w{i}")).collect();
    let text = words.join(" ");
    let mut generation = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    let id = generation
        .header("x-alleato-stream-id")
        .expect("a stream id")
        .to_owned();
    generation.next_event().await.expect("the start");
    let resp = api
        .post(&format!("/api/v1/streams/{id}/append"))
        .bearer_auth(&user.access)
        .json(&json!({"data": {"type": "text-delta", "id": "0", "delta": "injected "}}))
        .fetch()
        .await;
    assert_problem(&resp, 409, "conflict");
    let resp = api
        .delete(&format!("/api/v1/streams/{id}"))
        .bearer_auth(&user.access)
        .fetch()
        .await;
    assert_problem(&resp, 409, "conflict");
    let follower = follow(&api, &user, &id, None).await;
    let original = generation.all().await;
    let answer = assert_finished_answer(&original);
    assert_eq!(answer.deltas, echo_deltas(&text), "the generation went on untouched");
    assert_eq!(follower.all().await, original);
}

#[tokio::test]
async fn a_generations_stream_is_not_found_for_other_users() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    let chat = api.new_chat_id(&alice).await;
    let stream = api
        .send_request(&alice, &chat, &text_message(&format!("Mine {}", Uuid::new_v4())))
        .sse()
        .await;
    let id = stream.header("x-alleato-stream-id").expect("a stream id").to_owned();
    stream.all().await;
    let path = format!("/api/v1/streams/{id}");
    assert_problem(&api.get(&path).bearer_auth(&bob.access).fetch().await, 404, "not_found");
    assert_problem(
        &api.delete(&path).bearer_auth(&bob.access).fetch().await,
        404,
        "not_found",
    );
}
