//! `OpenAiModel` against a local fake of an OpenAI-compatible server, and the echo model on
//! tokio's timer behind a `ModelRouter`.
//!
//! Each test starts its own fake on 127.0.0.1:0. The fake records every request and answers with a
//! scripted body, written the way the real providers write theirs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alleato_adapters_native::llm::{OpenAiConfig, OpenAiConfigError, OpenAiModel, TokioSleeper};
use alleato_core::llm::{
    CompletionRequest, EchoModel, LanguageModel, LlmError, ModelEvent, ModelMessage, ModelRole, ModelRouter,
    ModelStream, Usage,
};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;
use axum::routing::post;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

/// A piece of a scripted response body.
#[derive(Clone)]
enum Piece {
    /// Bytes sent as they are.
    Text(String),
    /// A wait before the next piece.
    Pause(Duration),
    /// No more bytes, but the connection stays open.
    Stall,
    /// The connection breaks.
    Abort,
}

/// What the fake answers to every request.
#[derive(Clone)]
enum Reply {
    /// 200 with `text/event-stream` and this body.
    Sse(Vec<Piece>),
    /// This status, content type and body.
    Plain(u16, &'static str, String),
    /// Never answers.
    Hang,
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone)]
struct FakeState {
    reply: Reply,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// A running fake provider.
struct Fake {
    /// Its API root, `http://127.0.0.1:<port>/v1`.
    base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Fake {
    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn handle(State(state): State<FakeState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    match state.reply {
        Reply::Plain(status, content_type, body) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap(),
        Reply::Hang => std::future::pending::<Response>().await,
        Reply::Sse(pieces) => {
            let pieces: VecDeque<Piece> = pieces.into();
            let body = stream::unfold(pieces, |mut pieces| async move {
                loop {
                    match pieces.pop_front()? {
                        Piece::Text(text) => return Some((Ok(Bytes::from(text)), pieces)),
                        Piece::Pause(d) => tokio::time::sleep(d).await,
                        Piece::Stall => std::future::pending::<()>().await,
                        Piece::Abort => return Some((Err(std::io::Error::other("cut")), pieces)),
                    }
                }
            });
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(Body::from_stream(body))
                .unwrap()
        }
    }
}

/// Starts a fake that gives `reply` to every request.
async fn fake(reply: Reply) -> Fake {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let state = FakeState {
        reply,
        requests: requests.clone(),
    };
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(handle))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake {
        base_url: format!("http://{addr}/v1"),
        requests,
    }
}

/// A fake streaming `body`.
async fn sse(body: &str) -> Fake {
    fake(Reply::Sse(vec![Piece::Text(body.to_owned())])).await
}

fn model_at(base_url: &str) -> OpenAiModel {
    OpenAiModel::new(OpenAiConfig::new(base_url)).unwrap()
}

fn request(model: &str) -> CompletionRequest {
    CompletionRequest {
        model: model.to_owned(),
        messages: vec![
            ModelMessage {
                role: ModelRole::System,
                text: "Be brief.".to_owned(),
            },
            ModelMessage {
                role: ModelRole::User,
                text: "Hi".to_owned(),
            },
            ModelMessage {
                role: ModelRole::Assistant,
                text: "Hello!".to_owned(),
            },
            ModelMessage {
                role: ModelRole::User,
                text: "Say hello world".to_owned(),
            },
        ],
    }
}

/// Every item of the stream, failing the test if it does not end within 10 s.
async fn collect(stream: ModelStream) -> Vec<Result<ModelEvent, LlmError>> {
    tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .expect("the stream should end")
}

/// Streams a completion of `gpt-test` from `model`.
async fn complete(model: &OpenAiModel) -> Vec<Result<ModelEvent, LlmError>> {
    let stream = tokio::time::timeout(Duration::from_secs(10), model.stream(request("gpt-test")))
        .await
        .expect("the completion should start")
        .expect("the completion should start");
    collect(stream).await
}

/// The error a completion fails to start with.
async fn start_error(model: &OpenAiModel) -> LlmError {
    match tokio::time::timeout(Duration::from_secs(10), model.stream(request("gpt-test"))).await {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => panic!("the completion should not start"),
        Err(_) => panic!("the completion should fail within 10 s"),
    }
}

fn text(events: &[Result<ModelEvent, LlmError>]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(ModelEvent::TextDelta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn usages(events: &[Result<ModelEvent, LlmError>]) -> Vec<Usage> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(ModelEvent::Usage(u)) => Some(*u),
            _ => None,
        })
        .collect()
}

fn deltas(events: &[Result<ModelEvent, LlmError>]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(ModelEvent::TextDelta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// An OpenAI-style content chunk, as one SSE event.
fn chunk(content: &str) -> String {
    let chunk = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": {"content": content}, "logprobs": null, "finish_reason": null}],
    });
    format!("data: {chunk}\n\n")
}

const ROLE_CHUNK: &str = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
const STOP_CHUNK: &str = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
const USAGE_CHUNK: &str = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n";
const DONE: &str = "data: [DONE]\n\n";

/// OpenAI's shape: a role chunk, content, a stop chunk, usage with no choices, `[DONE]`.
fn openai_body(pieces: &[&str]) -> String {
    let mut body = ROLE_CHUNK.to_owned();
    for p in pieces {
        body.push_str(&chunk(p));
    }
    body + STOP_CHUNK + USAGE_CHUNK + DONE
}

#[tokio::test]
async fn deltas_arrive_in_order() {
    let fake = sse(&openai_body(&["Hello", ",", " world", "!"])).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(deltas(&events), ["Hello", ",", " world", "!"]);
    assert!(events.iter().all(Result::is_ok), "{events:?}");
}

#[tokio::test]
async fn deltas_split_across_network_reads_arrive_whole() {
    let body = openai_body(&["Hello", " world"]);
    let pieces = body
        .as_bytes()
        .chunks(7)
        .flat_map(|c| {
            [
                Piece::Text(String::from_utf8(c.to_vec()).unwrap()),
                Piece::Pause(Duration::from_millis(1)),
            ]
        })
        .collect();
    let fake = fake(Reply::Sse(pieces)).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(deltas(&events), ["Hello", " world"]);
    assert_eq!(
        usages(&events),
        [Usage {
            input_tokens: 12,
            output_tokens: 3
        }]
    );
}

#[tokio::test]
async fn the_request_is_a_streaming_chat_completion_with_the_key() {
    let fake = sse(&openai_body(&["ok"])).await;
    let model =
        OpenAiModel::new(OpenAiConfig::new(format!("{}/", fake.base_url)).with_api_key(Some("sk-test-123".to_owned())))
            .unwrap();
    complete(&model).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.headers[header::AUTHORIZATION], "Bearer sk-test-123");
    assert_eq!(sent.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(sent.headers[header::ACCEPT], "text/event-stream");
    assert_eq!(
        sent.body,
        json!({
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Say hello world"},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[tokio::test]
async fn no_authorization_header_is_sent_without_a_key() {
    let fake = sse(&openai_body(&["ok"])).await;
    complete(&model_at(&fake.base_url)).await;
    let empty_key = OpenAiModel::new(OpenAiConfig::new(&fake.base_url).with_api_key(Some(String::new()))).unwrap();
    complete(&empty_key).await;
    let mut set_empty = OpenAiConfig::new(&fake.base_url);
    set_empty.api_key = Some(String::new());
    complete(&OpenAiModel::new(set_empty).unwrap()).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    for sent in requests {
        assert!(!sent.headers.contains_key(header::AUTHORIZATION), "{:?}", sent.headers);
    }
}

#[tokio::test]
async fn extra_headers_are_sent() {
    let fake = sse(&openai_body(&["ok"])).await;
    let config = OpenAiConfig::new(&fake.base_url)
        .with_header("HTTP-Referer", "https://alleato.example")
        .with_header("X-Title", "Alleato");
    complete(&OpenAiModel::new(config).unwrap()).await;
    let sent = &fake.requests()[0];
    assert_eq!(sent.headers["http-referer"], "https://alleato.example");
    assert_eq!(sent.headers["x-title"], "Alleato");
}

#[tokio::test]
async fn usage_comes_once_at_the_end() {
    let fake = sse(&openai_body(&["Hello"])).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(
        events.last(),
        Some(&Ok(ModelEvent::Usage(Usage {
            input_tokens: 12,
            output_tokens: 3
        })))
    );
    assert_eq!(usages(&events).len(), 1);
}

#[tokio::test]
async fn a_stream_without_usage_just_ends() {
    let body = chunk("Hello") + &chunk(" world") + STOP_CHUNK + DONE;
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(
        events,
        [
            Ok(ModelEvent::TextDelta("Hello".into())),
            Ok(ModelEvent::TextDelta(" world".into()))
        ]
    );
}

#[tokio::test]
async fn repeated_usage_reports_keep_the_last() {
    let with_usage = |content: &str, completion: u64| {
        format!(
            "data: {}\n\n",
            json!({"choices": [{"delta": {"content": content}}],
                   "usage": {"prompt_tokens": 5, "completion_tokens": completion}})
        )
    };
    let body = with_usage("a", 1) + &with_usage("b", 2) + &with_usage("c", 3) + DONE;
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(text(&events), "abc");
    assert_eq!(
        usages(&events),
        [Usage {
            input_tokens: 5,
            output_tokens: 3
        }]
    );
}

#[tokio::test]
async fn crlf_line_endings_are_accepted() {
    let body = openai_body(&["Hello", " world"]).replace('\n', "\r\n");
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(text(&events), "Hello world");
    assert_eq!(
        usages(&events),
        [Usage {
            input_tokens: 12,
            output_tokens: 3
        }]
    );
}

#[tokio::test]
async fn data_fields_without_a_space_are_accepted() {
    let body = openai_body(&["Hello", " world"]).replace("data: ", "data:");
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(text(&events), "Hello world");
    assert_eq!(usages(&events).len(), 1);
}

#[tokio::test]
async fn comments_and_keep_alives_are_ignored() {
    let body = format!(
        ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n{}:\n\n{}: ping\n\nevent: ping\ndata: {{}}\n\n{}{}",
        chunk("Hello"),
        chunk(" world"),
        STOP_CHUNK,
        DONE
    );
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(
        events,
        [
            Ok(ModelEvent::TextDelta("Hello".into())),
            Ok(ModelEvent::TextDelta(" world".into()))
        ]
    );
}

#[tokio::test]
async fn role_only_chunks_empty_content_and_extra_fields_are_skipped() {
    let chunks = [
        json!({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]}),
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": null}}], "system_fingerprint": "fp_1"}),
        json!({"choices": [{"index": 0, "delta": {"reasoning_content": "Let me think", "content": null}}]}),
        json!({"choices": [{"index": 0, "delta": {"content": ""}}]}),
        json!({"choices": [{"index": 0, "delta": {"content": "Hello", "tool_calls": null}, "logprobs": null}],
               "x_extra": {"nested": [1, 2]}, "service_tier": "default"}),
        json!({"choices": [{"index": 0, "delta": {"content": " world"}, "native_finish_reason": null}],
               "provider": "Fake"}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "timings": {"prompt_n": 12, "predicted_n": 3}}),
    ];
    let body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect::<String>() + DONE;
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(
        events,
        [
            Ok(ModelEvent::TextDelta("Hello".into())),
            Ok(ModelEvent::TextDelta(" world".into()))
        ]
    );
}

/// Transcripts in the shapes the real providers stream, each answering "Hello world".
#[tokio::test]
async fn every_provider_shape_is_understood() {
    let openai = openai_body(&["Hello", " world"]);
    let ollama = [
        r#"data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}"#,
        r#"data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":" world"},"finish_reason":null}]}"#,
        r#"data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}"#,
        r#"data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#,
        "data: [DONE]",
    ]
    .map(|l| format!("{l}\n\n"))
    .concat();
    let vllm = [
        r#"data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":"stop","stop_reason":null}],"usage":null}"#,
        r#"data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"total_tokens":15,"completion_tokens":3,"prompt_tokens_details":null}}"#,
        "data: [DONE]",
    ]
    .map(|l| format!("{l}\n\n"))
    .concat();
    let llama_cpp = [
        r#"data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"chatcmpl-x","model":"gpt-3.5-turbo","system_fingerprint":"b1","object":"chat.completion.chunk"}"#,
        r#"data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Hello"}}],"created":1,"id":"chatcmpl-x","model":"gpt-3.5-turbo","system_fingerprint":"b1","object":"chat.completion.chunk"}"#,
        r#"data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":" world"}}],"created":1,"id":"chatcmpl-x","model":"gpt-3.5-turbo","system_fingerprint":"b1","object":"chat.completion.chunk"}"#,
        r#"data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1,"id":"chatcmpl-x","model":"gpt-3.5-turbo","system_fingerprint":"b1","object":"chat.completion.chunk","usage":{"completion_tokens":3,"prompt_tokens":12,"total_tokens":15},"timings":{"prompt_n":12,"prompt_ms":5.1,"predicted_n":3,"predicted_ms":9.8}}"#,
        "data: [DONE]",
    ]
    .map(|l| format!("{l}\n\n"))
    .concat();
    let openrouter = [
        ": OPENROUTER PROCESSING",
        ": OPENROUTER PROCESSING",
        r#"data: {"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello","reasoning":null},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#,
        r#"data: {"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant","content":" world","reasoning":null},"finish_reason":"stop","native_finish_reason":"stop","logprobs":null}]}"#,
        r#"data: {"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"cost":0.0001,"prompt_tokens_details":{"cached_tokens":0}}}"#,
        "data: [DONE]",
    ]
    .map(|l| format!("{l}\n\n"))
    .concat();

    let usage = Usage {
        input_tokens: 12,
        output_tokens: 3,
    };
    for (provider, body) in [
        ("openai", openai),
        ("ollama", ollama),
        ("vllm", vllm),
        ("llama.cpp", llama_cpp),
        ("openrouter", openrouter),
    ] {
        let fake = sse(&body).await;
        let events = complete(&model_at(&fake.base_url)).await;
        assert_eq!(text(&events), "Hello world", "{provider}: {events:?}");
        assert_eq!(usages(&events), [usage], "{provider}");
        assert!(events.iter().all(Result::is_ok), "{provider}: {events:?}");
    }
}

#[tokio::test]
async fn error_statuses_carry_the_providers_message() {
    let cases = [
        (
            401,
            "application/json",
            r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
            "Incorrect API key provided.",
        ),
        (
            429,
            "application/json",
            r#"{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}"#,
            "Rate limit reached for requests",
        ),
        (
            404,
            "application/json",
            r#"{"error":"model \"nope\" not found, try pulling it first"}"#,
            "model \"nope\" not found, try pulling it first",
        ),
        (
            400,
            "application/json",
            r#"{"object":"error","message":"The model `nope` does not exist.","type":"NotFoundError","code":404}"#,
            "The model `nope` does not exist.",
        ),
        (500, "text/plain", "Internal Server Error\n", "Internal Server Error"),
        (
            502,
            "text/html",
            "<html><body>Bad gateway</body></html>",
            "<html><body>Bad gateway</body></html>",
        ),
        (503, "text/plain", "", "Service Unavailable"),
    ];
    for (status, content_type, body, message) in cases {
        let fake = fake(Reply::Plain(status, content_type, body.to_owned())).await;
        let error = start_error(&model_at(&fake.base_url)).await;
        assert_eq!(
            error,
            LlmError::Status {
                status,
                message: message.to_owned()
            },
            "{status} {body}"
        );
    }
}

#[tokio::test]
async fn error_messages_are_shortened_and_never_show_the_key() {
    let key = "sk-live-0123456789abcdef";
    let echoed = format!(r#"{{"error":{{"message":"Incorrect API key provided: {key}.","code":"invalid_api_key"}}}}"#);
    let fake_401 = fake(Reply::Plain(401, "application/json", echoed)).await;
    let model = OpenAiModel::new(OpenAiConfig::new(&fake_401.base_url).with_api_key(Some(key.to_owned()))).unwrap();
    let LlmError::Status { status: 401, message } = start_error(&model).await else {
        panic!("a 401 status")
    };
    assert!(!message.contains(key), "{message}");
    assert!(message.starts_with("Incorrect API key provided"), "{message}");

    let fake_500 = fake(Reply::Plain(500, "text/plain", "x".repeat(5000))).await;
    let LlmError::Status { status: 500, message } = start_error(&model_at(&fake_500.base_url)).await else {
        panic!("a 500 status")
    };
    assert!(message.chars().count() <= 300, "{} chars", message.chars().count());
    assert!(message.starts_with("xxx"));
}

#[tokio::test]
async fn a_malformed_chunk_ends_the_stream_with_an_error() {
    let body = chunk("Hello") + "data: {\"choices\": [{\"delta\": {\"content\": \"oops\"\n\n" + &chunk(" never") + DONE;
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], Ok(ModelEvent::TextDelta("Hello".into())));
    assert!(matches!(&events[1], Err(LlmError::Malformed(_))), "{events:?}");
}

#[tokio::test]
async fn a_chunk_of_the_wrong_shape_is_malformed() {
    for bad in [
        r#"{"choices":"nope"}"#,
        r#"{"choices":[{"delta":{"content":42}}]}"#,
        "[1,2,3]",
        r#""text""#,
    ] {
        let body = chunk("Hello") + &format!("data: {bad}\n\n") + DONE;
        let fake = sse(&body).await;
        let events = complete(&model_at(&fake.base_url)).await;
        assert_eq!(events.len(), 2, "{bad}: {events:?}");
        assert!(matches!(&events[1], Err(LlmError::Malformed(_))), "{bad}: {events:?}");
    }
}

#[tokio::test]
async fn an_error_reported_mid_stream_fails_the_answer() {
    let error = json!({
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "error": {"code": "server_error", "message": "Provider disconnected"},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    });
    let body = chunk("Hello") + &format!("data: {error}\n\n") + DONE;
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(
        events,
        [
            Ok(ModelEvent::TextDelta("Hello".into())),
            Err(LlmError::Failed("Provider disconnected".to_owned()))
        ]
    );
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = start_error(&model_at(&format!("http://{addr}/v1"))).await;
    assert!(matches!(error, LlmError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_body_ending_before_done_is_unavailable() {
    let body = ROLE_CHUNK.to_owned() + &chunk("Hello") + &chunk(" wor");
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(deltas(&events), ["Hello", " wor"]);
    assert_eq!(
        events.last(),
        Some(&Err(LlmError::Unavailable("stream ended early".to_owned())))
    );
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn a_body_cut_in_the_middle_of_a_chunk_is_unavailable() {
    let body = chunk("Hello") + "data: {\"choices\":[{\"delta\":{\"content\":\" wor";
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(
        events,
        [
            Ok(ModelEvent::TextDelta("Hello".into())),
            Err(LlmError::Unavailable("stream ended early".into()))
        ]
    );
}

#[tokio::test]
async fn a_broken_connection_is_unavailable() {
    let fake = fake(Reply::Sse(vec![
        Piece::Text(chunk("Hello")),
        // Lets the headers and the first chunk go out before the connection breaks.
        Piece::Pause(Duration::from_millis(50)),
        Piece::Abort,
    ]))
    .await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], Ok(ModelEvent::TextDelta("Hello".into())));
    assert!(matches!(&events[1], Err(LlmError::Unavailable(_))), "{events:?}");
}

#[tokio::test]
async fn an_empty_body_is_unavailable() {
    let fake = sse("").await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert!(
        matches!(events.as_slice(), [Err(LlmError::Unavailable(_))]),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_finished_answer_without_done_is_complete() {
    // The answer and its usage are whole once a choice has finished; `[DONE]` is a formality.
    let body = chunk("Hello") + STOP_CHUNK + USAGE_CHUNK;
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(
        events,
        [
            Ok(ModelEvent::TextDelta("Hello".into())),
            Ok(ModelEvent::Usage(Usage {
                input_tokens: 12,
                output_tokens: 3
            }))
        ]
    );
}

#[tokio::test]
async fn a_last_event_without_its_blank_line_still_counts() {
    let body = chunk("Hello") + "data: [DONE]\n";
    let fake = sse(&body).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(events, [Ok(ModelEvent::TextDelta("Hello".into()))]);
}

#[tokio::test]
async fn a_stalled_stream_is_unavailable_after_the_idle_timeout() {
    let fake = fake(Reply::Sse(vec![
        Piece::Text(ROLE_CHUNK.to_owned() + &chunk("Hello")),
        Piece::Stall,
    ]))
    .await;
    let config = OpenAiConfig::new(&fake.base_url).with_idle_timeout(Duration::from_millis(300));
    let events = complete(&OpenAiModel::new(config).unwrap()).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], Ok(ModelEvent::TextDelta("Hello".into())));
    assert!(
        matches!(&events[1], Err(LlmError::Unavailable(m)) if m.contains("no data")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_provider_that_never_answers_is_unavailable_after_the_idle_timeout() {
    let fake = fake(Reply::Hang).await;
    let config = OpenAiConfig::new(&fake.base_url).with_idle_timeout(Duration::from_millis(300));
    let error = start_error(&OpenAiModel::new(config).unwrap()).await;
    assert!(matches!(error, LlmError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn keep_alive_comments_hold_off_the_idle_timeout() {
    let mut pieces = vec![Piece::Text(chunk("Hello"))];
    for _ in 0..8 {
        pieces.push(Piece::Pause(Duration::from_millis(100)));
        pieces.push(Piece::Text(": OPENROUTER PROCESSING\n\n".to_owned()));
    }
    pieces.push(Piece::Text(chunk(" world") + DONE));
    let fake = fake(Reply::Sse(pieces)).await;
    let config = OpenAiConfig::new(&fake.base_url).with_idle_timeout(Duration::from_millis(600));
    let events = complete(&OpenAiModel::new(config).unwrap()).await;
    assert_eq!(
        events,
        [
            Ok(ModelEvent::TextDelta("Hello".into())),
            Ok(ModelEvent::TextDelta(" world".into()))
        ]
    );
}

#[tokio::test]
async fn a_provider_that_does_not_stream_still_answers() {
    let body = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    });
    let fake = fake(Reply::Plain(200, "application/json", body.to_string())).await;
    let events = complete(&model_at(&fake.base_url)).await;
    assert_eq!(
        events,
        [
            Ok(ModelEvent::TextDelta("Hello world".into())),
            Ok(ModelEvent::Usage(Usage {
                input_tokens: 12,
                output_tokens: 3
            }))
        ]
    );
}

#[test]
fn invalid_base_urls_are_refused() {
    for url in [
        "",
        "localhost:11434/v1",
        "ftp://example.com/v1",
        "http://example.com/v1?x=1",
    ] {
        let error = OpenAiModel::new(OpenAiConfig::new(url)).unwrap_err();
        assert!(matches!(error, OpenAiConfigError::BaseUrl { .. }), "{url}: {error:?}");
    }
    let model = OpenAiModel::new(OpenAiConfig::new("http://localhost:11434/v1/")).unwrap();
    assert_eq!(model.endpoint(), "http://localhost:11434/v1/chat/completions");
}

#[test]
fn the_config_has_the_documented_defaults_and_hides_the_key() {
    let config = OpenAiConfig::new("https://api.openai.com/v1").with_api_key(Some("sk-hidden".to_owned()));
    assert_eq!(config.connect_timeout, Duration::from_secs(10));
    assert_eq!(config.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.api_key.as_deref(), Some("sk-hidden"));
    assert!(!format!("{config:?}").contains("sk-hidden"));
    let model = OpenAiModel::new(config).unwrap();
    assert!(!format!("{model:?}").contains("sk-hidden"));
}

#[tokio::test]
async fn the_router_sends_echo_to_the_echo_model_on_tokio_time() {
    let echo = Arc::new(EchoModel::new(Arc::new(TokioSleeper), Duration::from_millis(1)));
    let router = ModelRouter::new().with("echo", echo);
    let events = collect(router.stream(request("echo")).await.unwrap()).await;
    assert_eq!(text(&events), "Echo: Say hello world");
    assert_eq!(deltas(&events).len(), 4);
    assert!(matches!(events.last(), Some(Ok(ModelEvent::Usage(_)))), "{events:?}");

    match router.stream(request("gpt-nope")).await {
        Err(e) => assert_eq!(e, LlmError::UnknownModel("gpt-nope".to_owned())),
        Ok(_) => panic!("an unknown model should not stream"),
    }
}

#[tokio::test]
async fn the_router_sends_other_ids_to_the_openai_model() {
    let fake = sse(&openai_body(&["Hi"])).await;
    let openai: Arc<dyn LanguageModel> = Arc::new(model_at(&fake.base_url));
    let router = ModelRouter::new()
        .with("echo", Arc::new(EchoModel::new(Arc::new(TokioSleeper), Duration::ZERO)))
        .with("gpt-test", openai.clone())
        .with("llama3.2", openai);
    let events = collect(router.stream(request("llama3.2")).await.unwrap()).await;
    assert_eq!(text(&events), "Hi");
    assert_eq!(fake.requests()[0].body["model"], "llama3.2");
}

#[tokio::test]
async fn tokio_sleeper_waits_at_least_the_given_time() {
    use alleato_core::llm::Sleeper;
    let start = tokio::time::Instant::now();
    TokioSleeper.sleep(Duration::from_millis(20)).await;
    assert!(start.elapsed() >= Duration::from_millis(20));
}
