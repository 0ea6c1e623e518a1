//! Shutting down: on SIGTERM the server stops accepting, ends every event stream it serves with a
//! comment and `data: [DONE]` (the client resumes elsewhere from its last event id), lets running
//! answers finish up to `ALLEATO_DRAIN_SECONDS`, saves what still runs as `error` with its partial
//! text, and exits 0.

use std::time::Duration;

use alleato_contract_tests::sse::{OpenSse, SseEvent};
use alleato_contract_tests::ui_stream::{message_text, text_message};
use alleato_contract_tests::{Api, Capability, Fetch, PASSWORD};
use serde_json::json;

/// A generous bound for a prompt exit: the server only has to close idle connections.
const EXIT_WITHIN: Duration = Duration::from_secs(20);

/// How long a follower must stay silent for the test to believe nothing more is coming.
const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn sigterm_ends_an_idle_follower_with_done_and_exits_zero() {
    let api = Api::shared();
    let test = "sigterm_ends_an_idle_follower_with_done_and_exits_zero";
    if !api.supports(Capability::GracefulShutdown, test) {
        return;
    }
    // No pings during the test: the one comment the follower gets is the shutdown's.
    let Some(mut server) = api.own_server(test, &[("ALLEATO_SSE_KEEP_ALIVE_SECS", "600")]) else {
        return;
    };
    let api = server.api();
    let user = api.guest().await;
    let stream = api
        .post("/api/v1/streams")
        .bearer_auth(&user.access)
        .json(&json!({}))
        .fetch()
        .await
        .expect(201);
    let id = stream["stream"]["id"].as_str().expect("stream.id").to_owned();
    api.post(&format!("/api/v1/streams/{id}/append"))
        .bearer_auth(&user.access)
        .json(&json!({"data": {"n": 0}}))
        .fetch()
        .await
        .expect(200);
    let mut follower = api
        .get(&format!("/api/v1/streams/{id}"))
        .bearer_auth(&user.access)
        .sse()
        .await;
    assert_eq!(follower.next_event().await.map(|e| e.seq()), Some(0));
    assert_eq!(follower.poll_event(QUIET).await, None, "the stream is open and idle");
    let comments = follower.comments();

    server.terminate();
    let rest = follower.rest().await;
    assert!(
        matches!(rest.as_slice(), [done] if done.is_done()),
        "the follower did not end with [DONE] alone: {rest:?}"
    );
    assert!(follower.comments() > comments, "no comment before [DONE]: {follower:?}");
    let status = server.wait_exit(EXIT_WITHIN);
    assert!(
        status.is_some_and(|s| s.success()),
        "the server did not exit 0 within {EXIT_WITHIN:?} of SIGTERM ({status:?}); its log:\n{}",
        server.log()
    );
}

#[tokio::test]
async fn a_running_answer_finishes_during_the_drain_and_is_kept_whole() {
    let api = Api::shared();
    let test = "a_running_answer_finishes_during_the_drain_and_is_kept_whole";
    if !api.supports(Capability::GracefulShutdown, test) {
        return;
    }
    let data = tempfile::Builder::new()
        .prefix("alleato-drain-")
        .tempdir()
        .expect("a temporary data directory");
    let data_dir = data.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let env = [
        ("ALLEATO_ECHO_DELAY_MS", "20"),
        ("ALLEATO_DRAIN_SECONDS", "60"),
        ("ALLEATO_DATA_DIR", data_dir.as_str()),
    ];
    let Some(mut server) = api.own_server(test, &env) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let words: Vec<String> = (1..=60).map(|i| format!("w{i}")).collect();
    let text = format!("{} {}", words.join(" "), uuid::Uuid::new_v4());
    let mut answer = api.send_request(&user, &chat, &text_message(&text)).sse().await;
    // The answer has started streaming.
    while let Some(event) = answer.next_event().await {
        if event.json()["type"] == "text-delta" {
            break;
        }
    }
    server.terminate();
    // The sender's stream ends with [DONE]; the answer goes on in the server.
    let rest = answer.rest().await;
    assert!(
        rest.last().is_some_and(SseEvent::is_done),
        "the answer's stream did not end with [DONE]: {rest:?}"
    );
    let status = server.wait_exit(Duration::from_secs(60) + EXIT_WITHIN);
    assert!(
        status.is_some_and(|s| s.success()),
        "the server did not exit 0 after draining ({status:?}); its log:\n{}",
        server.log()
    );

    let Some(server) = api.own_server(test, &env) else {
        return;
    };
    let api = server.api();
    let user = api.login(&user.email, PASSWORD).await;
    let reply = api.messages(&user, &chat).await.pop().expect("the answer");
    assert_eq!(reply["status"], "complete", "{reply}");
    assert_eq!(message_text(&reply), format!("Echo: {text}"));
}
