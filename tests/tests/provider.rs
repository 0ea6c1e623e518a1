//! A model behind an OpenAI-compatible provider: the server under test calls a fake provider
//! on a real socket (over reqwest natively, over `fetch` in the Worker) and streams, stores and
//! fails its answers as it does the built-in model's.

use alleato_contract_tests::provider::{FakeProvider, PROVIDER_DELTAS};
use alleato_contract_tests::sse::OpenSse;
use alleato_contract_tests::ui_stream::{assert_finished_answer, message_text, read_ui_answer, text_message};
use alleato_contract_tests::{Api, Fetch, OwnServer, assert_problem};
use serde_json::json;

const KEY: &str = "sk-contract-3f9a";
const MODEL: &str = "fake-provider-model";

async fn server_with_provider(test: &str) -> Option<(OwnServer, FakeProvider)> {
    let provider = FakeProvider::start().await;
    let server = Api::shared().own_server(
        test,
        &[
            ("ALLEATO_OPENAI_BASE_URL", provider.base_url.as_str()),
            ("ALLEATO_OPENAI_API_KEY", KEY),
            ("ALLEATO_OPENAI_MODELS", MODEL),
        ],
    )?;
    Some((server, provider))
}

#[tokio::test]
async fn a_provider_model_is_the_default_and_its_answer_is_streamed_and_stored() {
    let Some((server, provider)) =
        server_with_provider("a_provider_model_is_the_default_and_its_answer_is_streamed_and_stored").await
    else {
        return;
    };
    let api = server.api();
    let models: Vec<String> = api
        .models()
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(models, [MODEL, "echo"], "the provider's models come first");
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let events = api
        .send_request(&user, &chat, &text_message("Say hello"))
        .sse()
        .await
        .all()
        .await;
    let answer = assert_finished_answer(&events);
    assert_eq!(answer.deltas, PROVIDER_DELTAS, "{events:#?}");
    let metadata = answer.metadata.as_ref().unwrap();
    assert_eq!(metadata["model"], MODEL);
    assert_eq!(
        metadata["usage"],
        json!({"inputTokens": 7, "outputTokens": 3}),
        "{events:#?}"
    );

    let messages = api.messages(&user, &chat).await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(message_text(&messages[1]), PROVIDER_DELTAS.concat());
    assert_eq!(messages[1]["status"], "complete");
    assert_eq!(messages[1]["model"], MODEL);

    let requests = provider.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.line, "POST /v1/chat/completions");
    assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(request.body["model"], MODEL);
    assert_eq!(request.body["stream"], true);
    assert_eq!(
        request.body["messages"],
        json!([{"role": "user", "content": "Say hello"}])
    );
}

#[tokio::test]
async fn a_provider_refusing_the_request_is_a_bad_gateway_that_hides_the_key() {
    let Some((server, _provider)) =
        server_with_provider("a_provider_refusing_the_request_is_a_bad_gateway_that_hides_the_key").await
    else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let resp = api
        .send_request(&user, &chat, &text_message("[[provider:401]] hello"))
        .fetch()
        .await;
    assert_problem(&resp, 502, "upstream_error");
    let detail = resp.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("401"), "the provider's status is named: {resp:?}");
    assert!(!resp.text().contains(KEY), "the API key reached the client: {resp:?}");
    // The chat is not left busy: the next message is answered.
    let answer = api.send_text(&user, &chat, "and now?").await;
    assert_eq!(answer.deltas, PROVIDER_DELTAS);
}

#[tokio::test]
async fn a_provider_stream_cut_short_fails_the_answer_and_keeps_its_partial_text() {
    let Some((server, _provider)) =
        server_with_provider("a_provider_stream_cut_short_fails_the_answer_and_keeps_its_partial_text").await
    else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let chat = api.new_chat_id(&user).await;
    let events = api
        .send_request(&user, &chat, &text_message("[[provider:cut]] hello"))
        .sse()
        .await
        .all()
        .await;
    let answer = read_ui_answer(&events);
    assert_eq!(answer.deltas, PROVIDER_DELTAS[..2], "{events:#?}");
    assert_eq!(answer.types.last().map(String::as_str), Some("error"), "{events:#?}");
    let reply = api.messages(&user, &chat).await.pop().unwrap();
    assert_eq!(reply["status"], "error", "{reply}");
    assert_eq!(message_text(&reply), PROVIDER_DELTAS[..2].concat());
}
