//! Assertions on the contract's shapes: problems, users, chats, timestamps.

use serde_json::Value;

use crate::api::Resp;

/// Asserts an RFC 9457 problem response: `Content-Type: application/problem+json`, and a body with
/// `type`, `title`, `status` (equal to the HTTP status), `code` and `detail`. A `validation_failed`
/// problem must carry `errors: [{field, message}]`; a `401` must carry `WWW-Authenticate: Bearer`.
/// Returns the body.
#[track_caller]
pub fn assert_problem(resp: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(resp.status.as_u16(), status, "unexpected status: {resp:?}");
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "Content-Type is {content_type:?}, not application/problem+json: {resp:?}"
    );
    let body = resp.json();
    assert!(body["type"].is_string(), "`type` is not a string: {resp:?}");
    assert!(body["title"].is_string(), "`title` is not a string: {resp:?}");
    assert_eq!(
        body["status"], status,
        "`status` does not match the HTTP status: {resp:?}"
    );
    assert_eq!(body["code"], code, "unexpected `code`: {resp:?}");
    assert!(body["detail"].is_string(), "`detail` is not a string: {resp:?}");
    if code == "validation_failed" {
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("`errors` is not an array: {resp:?}"));
        for error in errors {
            assert!(
                error["field"].is_string() && error["message"].is_string(),
                "an error is not {{field, message}}: {resp:?}"
            );
        }
    }
    if status == 401 {
        let challenge = resp.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer"),
            "a 401 without `WWW-Authenticate: Bearer`: {resp:?}"
        );
    }
    body
}

/// Asserts a `422 validation_failed` problem whose `errors` name `field`.
#[track_caller]
pub fn assert_validation_failed(resp: &Resp, field: &str) -> Value {
    let body = assert_problem(resp, 422, "validation_failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&field),
        "`errors` do not name {field:?} (they name {fields:?}): {resp:?}"
    );
    body
}

/// Asserts that `value` is a string in the form `2026-11-22T10:00:00.000Z`: RFC 3339, UTC, with
/// milliseconds.
#[track_caller]
pub fn assert_timestamp(value: &Value, what: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    let pattern = b"0000-00-00T00:00:00.000Z";
    let ok = s.len() == pattern.len()
        && s.bytes()
            .zip(pattern)
            .all(|(c, &p)| if p == b'0' { c.is_ascii_digit() } else { c == p });
    assert!(ok, "{what} is not an RFC 3339 UTC timestamp with milliseconds: {s:?}");
}

/// Asserts that `value` is a UUID string.
#[track_caller]
pub fn assert_uuid(value: &Value, what: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    assert!(
        uuid::Uuid::parse_str(s).is_ok() && s.len() == 36,
        "{what} is not a UUID: {s:?}"
    );
}

/// Asserts that `value` is an object with exactly the keys `keys`.
#[track_caller]
pub fn assert_keys(value: &Value, keys: &[&str], what: &str) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {value}"));
    let mut actual: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected = keys.to_vec();
    actual.sort_unstable();
    expected.sort_unstable();
    assert_eq!(actual, expected, "{what} has other fields than expected: {value}");
}

/// Asserts the `user` shape: `{id, email, name, kind, createdAt}`.
#[track_caller]
pub fn assert_user(user: &Value) {
    assert_keys(user, &["id", "email", "name", "kind", "createdAt"], "user");
    assert_uuid(&user["id"], "user.id");
    assert!(
        user["email"].is_string() || user["email"].is_null(),
        "user.email: {user}"
    );
    assert!(user["name"].is_string() || user["name"].is_null(), "user.name: {user}");
    assert!(
        user["kind"] == "regular" || user["kind"] == "guest",
        "user.kind: {user}"
    );
    assert_timestamp(&user["createdAt"], "user.createdAt");
}

/// Asserts the register/login/guest response: `{user, accessToken, refreshToken, expiresIn: 900}`.
#[track_caller]
pub fn assert_session_response(body: &Value) {
    assert_keys(
        body,
        &["user", "accessToken", "refreshToken", "expiresIn"],
        "the session response",
    );
    assert_user(&body["user"]);
    assert_tokens(body);
}

/// Asserts `accessToken` and `refreshToken` are non-empty strings and `expiresIn` is `900`.
#[track_caller]
pub fn assert_tokens(body: &Value) {
    for key in ["accessToken", "refreshToken"] {
        let token = body[key]
            .as_str()
            .unwrap_or_else(|| panic!("`{key}` is not a string: {body}"));
        assert!(!token.is_empty(), "`{key}` is empty: {body}");
    }
    assert_eq!(body["expiresIn"], 900, "`expiresIn` is not 900 (15 minutes): {body}");
}

/// Asserts the `chat` shape: `{id, userId, title, visibility, model, createdAt, updatedAt}`.
#[track_caller]
pub fn assert_chat(chat: &Value) {
    assert_keys(
        chat,
        &["id", "userId", "title", "visibility", "model", "createdAt", "updatedAt"],
        "chat",
    );
    assert_uuid(&chat["id"], "chat.id");
    assert_uuid(&chat["userId"], "chat.userId");
    assert!(chat["title"].is_string(), "chat.title: {chat}");
    assert!(
        chat["visibility"] == "private" || chat["visibility"] == "public",
        "chat.visibility: {chat}"
    );
    assert!(chat["model"].is_string(), "chat.model: {chat}");
    assert_timestamp(&chat["createdAt"], "chat.createdAt");
    assert_timestamp(&chat["updatedAt"], "chat.updatedAt");
}

/// Asserts that no key anywhere in `value` mentions a password.
#[track_caller]
pub fn assert_no_password_fields(value: &Value) {
    fn walk(value: &Value, path: &str) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    assert!(
                        !key.to_ascii_lowercase().contains("password"),
                        "{path}.{key} exposes a password field"
                    );
                    walk(v, &format!("{path}.{key}"));
                }
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, &format!("{path}[{i}]"))),
            _ => {}
        }
    }
    walk(value, "$");
}
