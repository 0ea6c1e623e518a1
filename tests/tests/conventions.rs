//! Conventions that hold on every route, plus Health, Public models and the OpenAPI document.

use std::collections::HashSet;

use alleato_contract_tests::{ALLOWED_ORIGIN, Api, Fetch, Resp, assert_keys, assert_problem};
use reqwest::Method;
use serde_json::json;

/// One response of each kind: success outside and inside `/api`, 401, 404, 405 and 422.
async fn a_response_of_each_kind(api: &Api, request_id: Option<&str>) -> Vec<Resp> {
    let with_id = |rb: reqwest::RequestBuilder| match request_id {
        Some(id) => rb.header("x-request-id", id),
        None => rb,
    };
    vec![
        with_id(api.get("/health")).fetch().await,
        with_id(api.get("/api/v1/public/models")).fetch().await,
        with_id(api.post("/api/v1/auth/guest")).fetch().await,
        with_id(api.get("/api/v1/auth/me")).fetch().await,
        with_id(api.get("/api/v1/no-such-route")).fetch().await,
        with_id(api.get("/no-such-route")).fetch().await,
        with_id(api.delete("/api/v1/auth/me")).fetch().await,
        with_id(
            api.post("/api/v1/auth/register")
                .json(&json!({"email": "nope", "password": "short"})),
        )
        .fetch()
        .await,
    ]
}

// --- headers ---

#[tokio::test]
async fn every_response_has_a_request_id() {
    let api = Api::shared();
    let mut ids = HashSet::new();
    for resp in a_response_of_each_kind(&api, None).await {
        let id = resp
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id: {resp:?}"));
        assert!(!id.is_empty(), "an empty X-Request-Id: {resp:?}");
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), 8, "request ids repeat: {ids:?}");
}

#[tokio::test]
async fn a_request_id_sent_by_the_client_is_echoed() {
    let api = Api::shared();
    let id = format!("contract-{}", uuid::Uuid::new_v4());
    for resp in a_response_of_each_kind(&api, Some(&id)).await {
        assert_eq!(resp.header("x-request-id"), Some(id.as_str()), "not echoed: {resp:?}");
    }
}

#[tokio::test]
async fn every_response_has_the_security_headers() {
    let api = Api::shared();
    for resp in a_response_of_each_kind(&api, None).await {
        assert_eq!(resp.header("x-content-type-options"), Some("nosniff"), "{resp:?}");
        assert_eq!(resp.header("referrer-policy"), Some("no-referrer"), "{resp:?}");
        assert_eq!(
            resp.header("x-frame-options").map(str::to_ascii_uppercase).as_deref(),
            Some("DENY"),
            "{resp:?}"
        );
        let csp = resp.header("content-security-policy").unwrap_or_default();
        assert!(!csp.is_empty(), "no Content-Security-Policy: {resp:?}");
    }
}

// --- routing ---

#[tokio::test]
async fn an_unknown_route_is_a_not_found_problem() {
    let api = Api::shared();
    for path in [
        "/api/v1/no-such-route",
        "/no-such-route",
        "/api/v2/chats",
        "/api/v1/chats/a/b/c",
    ] {
        let resp = api.get(path).fetch().await;
        assert_problem(&resp, 404, "not_found");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_method_not_allowed_problem() {
    let api = Api::shared();
    for (method, path) in [
        (Method::DELETE, "/api/v1/auth/me"),
        (Method::GET, "/api/v1/auth/register"),
        (Method::PUT, "/api/v1/chats"),
        (Method::POST, "/health"),
    ] {
        let resp = api.request(method, path).fetch().await;
        assert_problem(&resp, 405, "method_not_allowed");
    }
}

// --- CORS ---

#[tokio::test]
async fn cors_allows_the_configured_origin_with_credentials() {
    let api = Api::shared();
    let user = api.guest().await;
    for resp in [
        api.get("/api/v1/public/models")
            .header("origin", ALLOWED_ORIGIN)
            .fetch()
            .await,
        api.get("/api/v1/chats")
            .header("origin", ALLOWED_ORIGIN)
            .bearer_auth(&user.access)
            .fetch()
            .await,
        // Errors too, so that a browser client can read them.
        api.get("/api/v1/auth/me")
            .header("origin", ALLOWED_ORIGIN)
            .fetch()
            .await,
    ] {
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some(ALLOWED_ORIGIN),
            "{resp:?}"
        );
        assert_eq!(
            resp.header("access-control-allow-credentials"),
            Some("true"),
            "{resp:?}"
        );
    }
}

#[tokio::test]
async fn cors_preflight_is_answered_for_the_configured_origin() {
    let api = Api::shared();
    let resp = api
        .request(Method::OPTIONS, "/api/v1/chats")
        .header("origin", ALLOWED_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .fetch()
        .await;
    assert!(resp.status.is_success(), "a failed preflight: {resp:?}");
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN),
        "{resp:?}"
    );
    assert_eq!(
        resp.header("access-control-allow-credentials"),
        Some("true"),
        "{resp:?}"
    );
    let methods = resp
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(
        methods.split(',').any(|m| m.trim() == "POST"),
        "POST is not allowed: {resp:?}"
    );
    let headers = resp
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for wanted in ["authorization", "content-type"] {
        assert!(
            headers.split(',').any(|h| h.trim() == wanted),
            "{wanted} is not allowed: {resp:?}"
        );
    }
}

#[tokio::test]
async fn cors_ignores_an_unknown_origin() {
    let api = Api::shared();
    let simple = api
        .get("/api/v1/public/models")
        .header("origin", "https://evil.example")
        .fetch()
        .await;
    let preflight = api
        .request(Method::OPTIONS, "/api/v1/chats")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .fetch()
        .await;
    for resp in [simple, preflight] {
        assert_eq!(resp.header("access-control-allow-origin"), None, "{resp:?}");
    }
}

// --- rate limits ---

#[tokio::test]
async fn api_routes_carry_rate_limit_headers() {
    let api = Api::shared();
    for resp in [
        api.get("/api/v1/public/models").fetch().await,
        api.get("/api/v1/auth/me").fetch().await,
    ] {
        for name in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
            let value = resp.header(name).unwrap_or_else(|| panic!("no {name}: {resp:?}"));
            assert!(value.parse::<u64>().is_ok(), "{name} is not a number: {resp:?}");
        }
        let limit: u64 = resp.header("ratelimit-limit").unwrap().parse().unwrap();
        let remaining: u64 = resp.header("ratelimit-remaining").unwrap().parse().unwrap();
        assert!(remaining <= limit, "{resp:?}");
    }
}

#[tokio::test]
async fn the_auth_rate_limit_answers_429_with_retry_after() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "the_auth_rate_limit_answers_429_with_retry_after",
        &[("ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE", "3")],
    ) else {
        return;
    };
    let api = server.api();
    for _ in 0..3 {
        api.post("/api/v1/auth/guest").fetch().await.expect(201);
    }
    let resp = api.post("/api/v1/auth/guest").fetch().await;
    assert_problem(&resp, 429, "rate_limited");
    let retry_after: u64 = resp
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in seconds: {resp:?}"));
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After should be within the minute: {resp:?}"
    );
    assert!(resp.header("x-request-id").is_some(), "{resp:?}");
}

#[tokio::test]
async fn the_auth_rate_limit_does_not_throttle_other_routes() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "the_auth_rate_limit_does_not_throttle_other_routes",
        &[("ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE", "1")],
    ) else {
        return;
    };
    let api = server.api();
    let guest = api.guest().await;
    assert_problem(&api.post("/api/v1/auth/guest").fetch().await, 429, "rate_limited");
    api.get("/api/v1/public/models").fetch().await.expect(200);
    api.me(&guest.access).await.expect(200);
    api.create_chat(&guest, json!({})).await;
}

#[tokio::test]
async fn the_api_rate_limit_answers_429_with_retry_after() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "the_api_rate_limit_answers_429_with_retry_after",
        &[("ALLEATO_RATE_LIMIT_PER_MINUTE", "5")],
    ) else {
        return;
    };
    let api = server.api();
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let resp = api.get("/api/v1/public/models").fetch().await;
        resp.expect(200);
        assert_eq!(resp.header("ratelimit-limit"), Some("5"), "{resp:?}");
        remaining.push(
            resp.header("ratelimit-remaining")
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a number"),
        );
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    let resp = api.get("/api/v1/public/models").fetch().await;
    assert_problem(&resp, 429, "rate_limited");
    assert!(
        resp.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some(),
        "no Retry-After: {resp:?}"
    );
    assert_eq!(resp.header("ratelimit-remaining"), Some("0"), "{resp:?}");
}

#[tokio::test]
async fn health_is_not_rate_limited() {
    let api = Api::shared();
    let Some(server) = api.own_server("health_is_not_rate_limited", &[("ALLEATO_RATE_LIMIT_PER_MINUTE", "2")]) else {
        return;
    };
    let api = server.api();
    for _ in 0..5 {
        api.get("/health").fetch().await.expect(200);
    }
    api.get("/api/v1/public/models").fetch().await.expect(200);
}

// --- health ---

#[tokio::test]
async fn health_reports_the_runtime_and_model() {
    let api = Api::shared();
    // The runtime the suite was told to test really answers: a Worker run cannot pass by
    // testing the native binary.
    let runtime = api.capabilities().runtime.name();
    let resp = api.get("/health").fetch().await;
    let body = resp.expect(200);
    assert!(
        resp.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{resp:?}"
    );
    assert_keys(
        &body,
        &["status", "version", "environment", "runtime", "model"],
        "the health response",
    );
    assert_eq!(body["status"], "healthy");
    assert!(body["version"].as_str().is_some_and(|v| !v.is_empty()), "{body}");
    assert_eq!(body["environment"], "development");
    assert_eq!(body["runtime"], runtime);
    assert!(body["model"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

// --- public models ---

#[tokio::test]
async fn public_models_lists_models_with_exactly_one_default() {
    let api = Api::shared();
    let body = api.get("/api/v1/public/models").fetch().await.expect(200);
    assert_keys(&body, &["models"], "the models response");
    let models = body["models"].as_array().expect("`models` is an array");
    assert!(!models.is_empty(), "no models: {body}");
    let mut ids = HashSet::new();
    for model in models {
        assert_keys(model, &["id", "name", "default"], "a model");
        assert!(model["id"].as_str().is_some_and(|id| !id.is_empty()), "{model}");
        assert!(model["name"].is_string(), "{model}");
        assert!(model["default"].is_boolean(), "{model}");
        assert!(ids.insert(model["id"].as_str().unwrap()), "a repeated model id: {body}");
    }
    assert_eq!(
        models.iter().filter(|m| m["default"] == true).count(),
        1,
        "not exactly one default: {body}"
    );
}

// --- OpenAPI ---

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let api = Api::shared();
    let doc = api.get("/api/v1/openapi.json").fetch().await.expect(200);
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "not OpenAPI 3.1: {version:?}");
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    for (path, methods) in [
        ("/health", &["get"][..]),
        ("/api/v1/auth/register", &["post"]),
        ("/api/v1/auth/login", &["post"]),
        ("/api/v1/auth/guest", &["post"]),
        ("/api/v1/auth/refresh", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/auth/me", &["get"]),
        ("/api/v1/chats", &["get", "post"]),
        ("/api/v1/chats/{id}", &["get", "patch", "delete"]),
        ("/api/v1/public/models", &["get"]),
        ("/api/v1/public/chats/{id}", &["get"]),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is missing from the OpenAPI paths"));
        for method in methods {
            assert!(
                item.get(method).is_some(),
                "{method} {path} is missing from the OpenAPI document"
            );
        }
    }
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("`components.schemas` is an object");
    assert!(!schemas.is_empty(), "no schemas");
}
