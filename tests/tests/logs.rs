//! What the server logs: one line per request with its method, route pattern, status, latency,
//! request id and user, and never a token or a password.

use alleato_contract_tests::{Api, Capability, Fetch, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn every_request_is_logged_once_with_its_route_status_request_id_and_user() {
    let api = Api::shared();
    let test = "every_request_is_logged_once_with_its_route_status_request_id_and_user";
    if !api.supports(Capability::RequestLog, test) {
        return;
    }
    let Some(server) = api.own_server(test, &[("ALLEATO_LOG", "info")]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.create_chat(&user, json!({})).await;
    let chat_id = chat["id"].as_str().expect("chat.id");
    let request_id = format!("log-test-{}", uuid::Uuid::new_v4());
    api.get(&format!("/api/v1/chats/{chat_id}?secret=hidden"))
        .bearer_auth(&user.access)
        .header("x-request-id", &request_id)
        .fetch()
        .await
        .expect(200);
    let user_id = user.id.clone();

    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&request_id)).collect();
    let [line] = lines.as_slice() else {
        panic!("expected one line with the request id {request_id}, got {lines:#?}; the log:\n{log}");
    };
    for expected in ["GET", "/api/v1/chats/{id}", "status=200", "latency=", user_id.as_str()] {
        assert!(line.contains(expected), "the request's line lacks {expected:?}: {line}");
    }
    // The pattern, not the path; never the query string.
    assert!(!line.contains(chat_id) && !line.contains("hidden"), "{line}");
    // Requests without an id of their own are logged with the one the server gave them.
    assert!(
        log.lines()
            .any(|l| l.contains("/api/v1/auth/register") && l.contains("request_id=")),
        "the register request is not logged with a request id:\n{log}"
    );
    for secret in [user.access.as_str(), user.refresh.as_str(), PASSWORD] {
        assert!(!log.contains(secret), "the log contains a secret:\n{log}");
    }
}
