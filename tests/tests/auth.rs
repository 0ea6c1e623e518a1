//! Auth: `/api/v1/auth/*`.

use std::time::Duration;

use alleato_contract_tests::{
    Api, Fetch, PASSWORD, assert_no_password_fields, assert_problem, assert_session_response, assert_tokens,
    assert_user, assert_validation_failed, jwt,
};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

// --- register ---

#[tokio::test]
async fn register_returns_201_with_the_user_and_tokens() {
    let api = Api::shared();
    let email = Api::unique_email();
    let resp = api
        .register_with(json!({"email": email, "password": PASSWORD, "name": "Ada Lovelace"}))
        .await;
    let body = resp.expect(201);
    assert_session_response(&body);
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["name"], "Ada Lovelace");
    assert_eq!(body["user"]["kind"], "regular");
    assert_ne!(body["accessToken"], body["refreshToken"]);
}

#[tokio::test]
async fn register_without_a_name_gives_a_null_name() {
    let api = Api::shared();
    let body = api
        .register_with(json!({"email": Api::unique_email(), "password": PASSWORD}))
        .await
        .expect(201);
    assert_user(&body["user"]);
    assert!(body["user"]["name"].is_null(), "name should be null: {body}");
}

#[tokio::test]
async fn responses_never_expose_a_password_or_its_hash() {
    let api = Api::shared();
    let email = Api::unique_email();
    let registered = api
        .register_with(json!({"email": email, "password": PASSWORD}))
        .await
        .expect(201);
    assert_no_password_fields(&registered);
    let logged_in = api
        .post("/api/v1/auth/login")
        .json(&json!({"email": email, "password": PASSWORD}))
        .fetch()
        .await
        .expect(200);
    assert_no_password_fields(&logged_in);
    let me = api.me(logged_in["accessToken"].as_str().unwrap()).await;
    assert_no_password_fields(&me.expect(200));
    assert!(!me.text().contains("$argon2"), "a password hash leaks: {me:?}");
}

#[tokio::test]
async fn register_trims_and_lowercases_the_email() {
    let api = Api::shared();
    let id = uuid::Uuid::new_v4();
    let messy = format!("  Ada-{id}@Example.COM ");
    let clean = format!("ada-{id}@example.com");
    let body = api
        .register_with(json!({"email": messy, "password": PASSWORD}))
        .await
        .expect(201);
    assert_eq!(body["user"]["email"], clean.as_str());
    let user = api.login(&clean, PASSWORD).await;
    assert_eq!(body["user"]["id"], user.id.as_str());
}

#[tokio::test]
async fn login_normalises_the_email_too() {
    let api = Api::shared();
    let user = api.register().await;
    let messy = format!("  {} ", user.email.to_uppercase());
    let again = api.login(&messy, PASSWORD).await;
    assert_eq!(again.id, user.id);
}

#[tokio::test]
async fn register_with_a_taken_email_is_a_conflict() {
    let api = Api::shared();
    let user = api.register().await;
    let resp = api
        .register_with(json!({"email": user.email, "password": "another password"}))
        .await;
    assert_problem(&resp, 409, "conflict");
}

#[tokio::test]
async fn register_with_a_taken_email_in_another_case_is_a_conflict() {
    let api = Api::shared();
    let user = api.register().await;
    let shouted = format!(" {} ", user.email.to_uppercase());
    let resp = api.register_with(json!({"email": shouted, "password": PASSWORD})).await;
    assert_problem(&resp, 409, "conflict");
}

#[tokio::test]
async fn register_rejects_invalid_emails() {
    let api = Api::shared();
    for email in [
        "",
        "   ",
        "not-an-email",
        "ada@",
        "@example.com",
        "ada@example",
        "ada lovelace@example.com",
    ] {
        let resp = api.register_with(json!({"email": email, "password": PASSWORD})).await;
        assert_validation_failed(&resp, "email");
    }
}

#[tokio::test]
async fn register_rejects_passwords_under_8_characters() {
    let api = Api::shared();
    for password in ["", "1234567"] {
        let resp = api
            .register_with(json!({"email": Api::unique_email(), "password": password}))
            .await;
        assert_validation_failed(&resp, "password");
    }
    let resp = api
        .register_with(json!({"email": Api::unique_email(), "password": "12345678"}))
        .await;
    resp.expect(201);
}

#[tokio::test]
async fn register_rejects_passwords_over_128_characters() {
    let api = Api::shared();
    let resp = api
        .register_with(json!({"email": Api::unique_email(), "password": "x".repeat(129)}))
        .await;
    assert_validation_failed(&resp, "password");
    let resp = api
        .register_with(json!({"email": Api::unique_email(), "password": "x".repeat(128)}))
        .await;
    resp.expect(201);
}

#[tokio::test]
async fn password_length_counts_characters_not_bytes() {
    let api = Api::shared();
    // 7 four-byte characters: 28 bytes, still too short.
    let resp = api
        .register_with(json!({"email": Api::unique_email(), "password": "🔑".repeat(7)}))
        .await;
    assert_validation_failed(&resp, "password");
    // 8 and 128 four-byte characters: 32 and 512 bytes, both within 8–128 characters.
    for n in [8, 128] {
        let email = Api::unique_email();
        let password = "🔑".repeat(n);
        let resp = api.register_with(json!({"email": email, "password": password})).await;
        resp.expect(201);
        api.login(&email, &password).await;
    }
}

#[tokio::test]
async fn register_rejects_a_name_of_the_wrong_type() {
    let api = Api::shared();
    let resp = api
        .register_with(json!({"email": Api::unique_email(), "password": PASSWORD, "name": 5}))
        .await;
    assert_problem(&resp, 422, "validation_failed");
}

#[tokio::test]
async fn register_rejects_an_invalid_name() {
    let api = Api::shared();
    for name in ["line\nbreak".to_owned(), "nul\u{0}".to_owned(), "x".repeat(1000)] {
        let resp = api
            .register_with(json!({"email": Api::unique_email(), "password": PASSWORD, "name": name}))
            .await;
        assert_validation_failed(&resp, "name");
    }
}

// --- login ---

#[tokio::test]
async fn login_returns_200_with_the_user_and_tokens() {
    let api = Api::shared();
    let user = api.register().await;
    let resp = api
        .post("/api/v1/auth/login")
        .json(&json!({"email": user.email, "password": PASSWORD}))
        .fetch()
        .await;
    let body = resp.expect(200);
    assert_session_response(&body);
    assert_eq!(body["user"]["id"], user.id.as_str());
    assert_eq!(body["user"]["kind"], "regular");
    assert_ne!(body["refreshToken"], user.refresh.as_str());
}

#[tokio::test]
async fn wrong_password_and_unknown_email_give_identical_401s() {
    let api = Api::shared();
    let user = api.register().await;
    let wrong_password = api
        .post("/api/v1/auth/login")
        .json(&json!({"email": user.email, "password": "not the password"}))
        .fetch()
        .await;
    let unknown_email = api
        .post("/api/v1/auth/login")
        .json(&json!({"email": Api::unique_email(), "password": "not the password"}))
        .fetch()
        .await;
    let a = assert_problem(&wrong_password, 401, "invalid_credentials");
    let b = assert_problem(&unknown_email, 401, "invalid_credentials");
    assert_eq!(a, b, "the two failures can be told apart");
    assert_eq!(
        wrong_password.header("content-type"),
        unknown_email.header("content-type")
    );
}

#[tokio::test]
async fn login_with_a_body_of_the_wrong_shape_is_validation_failed() {
    let api = Api::shared();
    for body in [
        json!({"email": Api::unique_email()}),
        json!({"password": PASSWORD}),
        json!({"email": 5, "password": PASSWORD}),
    ] {
        let resp = api.post("/api/v1/auth/login").json(&body).fetch().await;
        assert_problem(&resp, 422, "validation_failed");
    }
}

// --- guest ---

#[tokio::test]
async fn guest_returns_201_with_a_guest_user() {
    let api = Api::shared();
    let resp = api.post("/api/v1/auth/guest").fetch().await;
    let body = resp.expect(201);
    assert_session_response(&body);
    assert_eq!(body["user"]["kind"], "guest");
    assert!(body["user"]["email"].is_null(), "a guest has no email: {body}");
    assert!(body["user"]["name"].is_null(), "a guest has no name: {body}");
}

#[tokio::test]
async fn guest_token_authenticates_the_guest() {
    let api = Api::shared();
    let guest = api.guest().await;
    let body = api.me(&guest.access).await.expect(200);
    assert_user(&body["user"]);
    assert_eq!(body["user"]["id"], guest.id.as_str());
    assert_eq!(body["user"]["kind"], "guest");
}

#[tokio::test]
async fn registering_with_a_guest_token_upgrades_the_guest() {
    let api = Api::shared();
    let guest = api.guest().await;
    let chat = api.create_chat_titled(&guest, "Made as a guest").await;
    let email = Api::unique_email();
    let resp = api
        .post("/api/v1/auth/register")
        .bearer_auth(&guest.access)
        .json(&json!({"email": email, "password": PASSWORD, "name": "Former Guest"}))
        .fetch()
        .await;
    let body = resp.expect(201);
    assert_session_response(&body);
    assert_eq!(
        body["user"]["id"],
        guest.id.as_str(),
        "the guest was not upgraded in place"
    );
    assert_eq!(body["user"]["kind"], "regular");
    assert_eq!(body["user"]["email"], email.as_str());

    let user = api.login(&email, PASSWORD).await;
    assert_eq!(user.id, guest.id);
    let list = api.list_chats(&user, &[]).await.expect(200);
    let ids: Vec<&Value> = list["chats"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert!(
        ids.contains(&&chat["id"]),
        "the guest's chat is gone after the upgrade: {list}"
    );
}

// --- me ---

#[tokio::test]
async fn me_returns_the_current_user() {
    let api = Api::shared();
    let email = Api::unique_email();
    let registered = api
        .register_with(json!({"email": email, "password": PASSWORD, "name": "Grace"}))
        .await
        .expect(201);
    let body = api.me(registered["accessToken"].as_str().unwrap()).await.expect(200);
    assert!(body.is_object(), "{body}");
    assert_eq!(body["user"], registered["user"]);
}

#[tokio::test]
async fn me_without_a_token_is_unauthorized() {
    let api = Api::shared();
    let resp = api.get("/api/v1/auth/me").fetch().await;
    assert_problem(&resp, 401, "unauthorized");
}

#[tokio::test]
async fn garbage_bearer_tokens_are_unauthorized() {
    let api = Api::shared();
    let user = api.register().await;
    for authorization in [
        "Bearer garbage".to_owned(),
        "Bearer a.b.c".to_owned(),
        "Bearer ".to_owned(),
        "Bearer".to_owned(),
        format!("Basic {}", user.access),
        user.access.clone(),
        format!("Bearer {}x", user.access),
    ] {
        let resp = api
            .get("/api/v1/auth/me")
            .header("authorization", &authorization)
            .fetch()
            .await;
        assert_problem(&resp, 401, "unauthorized");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    // RFC 9110, section 11.1: authentication schemes are case-insensitive.
    let api = Api::shared();
    let user = api.register().await;
    for scheme in ["bearer", "BEARER"] {
        let resp = api
            .get("/api/v1/auth/me")
            .header("authorization", format!("{scheme} {}", user.access))
            .fetch()
            .await;
        resp.expect(200);
    }
}

#[tokio::test]
async fn token_resigned_with_the_server_secret_is_accepted() {
    let api = Api::shared();
    let Some(secret) = api.jwt_secret("token_resigned_with_the_server_secret_is_accepted") else {
        return;
    };
    let user = api.register().await;
    // The control for the forged tokens below: re-signing real claims with the real secret works.
    let body = api.me(&jwt::resigned(&user.access, secret)).await.expect(200);
    assert_eq!(body["user"]["id"], user.id.as_str());
}

#[tokio::test]
async fn token_signed_with_another_secret_is_unauthorized() {
    let api = Api::shared();
    let user = api.register().await;
    let forged = jwt::resigned(
        &user.access,
        "not-the-server-secret-not-the-server-secret-not-the-server-secr",
    );
    assert_problem(&api.me(&forged).await, 401, "unauthorized");
}

#[tokio::test]
async fn alg_none_token_is_unauthorized() {
    let api = Api::shared();
    let user = api.register().await;
    assert_problem(&api.me(&jwt::alg_none(&user.access)).await, 401, "unauthorized");
}

#[tokio::test]
async fn expired_token_is_token_expired() {
    let api = Api::shared();
    let Some(secret) = api.jwt_secret("expired_token_is_token_expired") else {
        return;
    };
    let user = api.register().await;
    let expired = jwt::expired(&user.access, secret);
    assert_problem(&api.me(&expired).await, 401, "token_expired");
}

#[tokio::test]
async fn access_token_expires_after_its_ttl() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "access_token_expires_after_its_ttl",
        &[("ALLEATO_ACCESS_TOKEN_TTL_SECS", "1")],
    ) else {
        return;
    };
    let api = server.api();
    let body = api
        .register_with(json!({"email": Api::unique_email(), "password": PASSWORD}))
        .await
        .expect(201);
    assert_eq!(
        body["expiresIn"], 1,
        "expiresIn should follow the configured TTL: {body}"
    );
    let access = body["accessToken"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_problem(&api.me(access).await, 401, "token_expired");
    // The session itself lives on: its refresh token still works.
    let refreshed = api.refresh(body["refreshToken"].as_str().unwrap()).await.expect(200);
    api.me(refreshed["accessToken"].as_str().unwrap()).await.expect(200);
}

// --- refresh ---

#[tokio::test]
async fn refresh_rotates_both_tokens() {
    let api = Api::shared();
    let user = api.register().await;
    let body = api.refresh(&user.refresh).await.expect(200);
    assert_keys_of_refresh(&body);
    assert_ne!(
        body["refreshToken"],
        user.refresh.as_str(),
        "the refresh token was not rotated"
    );
    let me = api.me(body["accessToken"].as_str().unwrap()).await.expect(200);
    assert_eq!(me["user"]["id"], user.id.as_str());
    // The new refresh token is good for one more rotation.
    api.refresh(body["refreshToken"].as_str().unwrap()).await.expect(200);
    // A new access token too, even within the second the old one was issued in.
    assert_ne!(
        body["accessToken"],
        user.access.as_str(),
        "refresh handed back the same access token"
    );
}

fn assert_keys_of_refresh(body: &Value) {
    alleato_contract_tests::assert_keys(
        body,
        &["accessToken", "refreshToken", "expiresIn"],
        "the refresh response",
    );
    assert_tokens(body);
}

/// A server whose refresh tokens may be reused for one second after their rotation (two tabs
/// refreshing at once), so that a test can reach a reuse after that interval quickly.
const SHORT_REUSE: (&str, &str) = ("ALLEATO_REFRESH_REUSE_SECS", "1");

/// Longer than [`SHORT_REUSE`]'s interval.
const PAST_REUSE: std::time::Duration = std::time::Duration::from_millis(1500);

#[tokio::test]
async fn refresh_token_reuse_revokes_the_session() {
    let api = Api::shared();
    let Some(server) = api.own_server("refresh_token_reuse_revokes_the_session", &[SHORT_REUSE]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let rotated = api.refresh(&user.refresh).await.expect(200);
    let new_access = rotated["accessToken"].as_str().unwrap();
    let new_refresh = rotated["refreshToken"].as_str().unwrap();

    // The old refresh token again, after the reuse interval: theft.
    tokio::time::sleep(PAST_REUSE).await;
    assert_problem(&api.refresh(&user.refresh).await, 401, "unauthorized");
    // The whole session is gone: the new refresh token and every access token of it.
    assert_problem(&api.refresh(new_refresh).await, 401, "unauthorized");
    assert_problem(&api.me(new_access).await, 401, "unauthorized");
    assert_problem(&api.me(&user.access).await, 401, "unauthorized");
}

#[tokio::test]
async fn refresh_token_reuse_leaves_other_sessions_alone() {
    let api = Api::shared();
    let Some(server) = api.own_server("refresh_token_reuse_leaves_other_sessions_alone", &[SHORT_REUSE]) else {
        return;
    };
    let api = server.api();
    let user = api.register().await;
    let other = api.login(&user.email, PASSWORD).await;
    api.refresh(&user.refresh).await.expect(200);
    tokio::time::sleep(PAST_REUSE).await;
    assert_problem(&api.refresh(&user.refresh).await, 401, "unauthorized");
    api.me(&other.access).await.expect(200);
    api.refresh(&other.refresh).await.expect(200);
}

#[tokio::test]
async fn unknown_refresh_token_is_unauthorized() {
    let api = Api::shared();
    let user = api.register().await;
    for token in ["garbage".to_owned(), format!("{}x", user.refresh), user.access.clone()] {
        assert_problem(&api.refresh(&token).await, 401, "unauthorized");
    }
}

#[tokio::test]
async fn refresh_without_a_token_is_validation_failed() {
    let api = Api::shared();
    let resp = api.post("/api/v1/auth/refresh").json(&json!({})).fetch().await;
    assert_problem(&resp, 422, "validation_failed");
}

// --- logout ---

#[tokio::test]
async fn logout_with_a_bearer_token_revokes_the_session() {
    let api = Api::shared();
    let user = api.register().await;
    // No body and no content type at all.
    let resp = api.post("/api/v1/auth/logout").bearer_auth(&user.access).fetch().await;
    assert_eq!(resp.expect(200), json!({"success": true}));
    assert_problem(&api.me(&user.access).await, 401, "unauthorized");
    assert_problem(&api.refresh(&user.refresh).await, 401, "unauthorized");
}

#[tokio::test]
async fn logout_with_a_bearer_token_and_a_json_body_revokes_the_session() {
    let api = Api::shared();
    let user = api.register().await;
    let resp = api
        .post("/api/v1/auth/logout")
        .bearer_auth(&user.access)
        .json(&json!({"refreshToken": user.refresh}))
        .fetch()
        .await;
    assert_eq!(resp.expect(200), json!({"success": true}));
    assert_problem(&api.me(&user.access).await, 401, "unauthorized");
    assert_problem(&api.refresh(&user.refresh).await, 401, "unauthorized");
}

#[tokio::test]
async fn logout_with_only_the_refresh_token_revokes_the_session() {
    let api = Api::shared();
    let user = api.register().await;
    let resp = api
        .post("/api/v1/auth/logout")
        .json(&json!({"refreshToken": user.refresh}))
        .fetch()
        .await;
    assert_eq!(resp.expect(200), json!({"success": true}));
    assert_problem(&api.me(&user.access).await, 401, "unauthorized");
    assert_problem(&api.refresh(&user.refresh).await, 401, "unauthorized");
}

#[tokio::test]
async fn logout_without_credentials_is_unauthorized() {
    let api = Api::shared();
    assert_problem(&api.post("/api/v1/auth/logout").fetch().await, 401, "unauthorized");
    let resp = api.post("/api/v1/auth/logout").json(&json!({})).fetch().await;
    assert_problem(&resp, 401, "unauthorized");
}

#[tokio::test]
async fn logout_leaves_other_sessions_alone() {
    let api = Api::shared();
    let user = api.register().await;
    let other = api.login(&user.email, PASSWORD).await;
    api.post("/api/v1/auth/logout")
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    api.me(&other.access).await.expect(200);
    api.refresh(&other.refresh).await.expect(200);
}

// --- bodies ---

#[tokio::test]
async fn json_with_a_charset_parameter_is_accepted() {
    let api = Api::shared();
    let body = json!({"email": Api::unique_email(), "password": PASSWORD}).to_string();
    let resp = api
        .post("/api/v1/auth/register")
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .fetch()
        .await;
    resp.expect(201);
}

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let api = Api::shared();
    for body in [
        r#"{"email":"#,
        r#"{"email": "a@example.com", "password": }"#,
        "{",
        "",
        "nul",
    ] {
        let resp = api
            .post("/api/v1/auth/register")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .fetch()
            .await;
        assert_problem(&resp, 400, "bad_request");
    }
}

#[tokio::test]
async fn malformed_json_is_a_bad_request_even_when_its_start_has_the_wrong_shape() {
    let api = Api::shared();
    // Not JSON at all, whatever the object at its start lacks: syntax wins over shape.
    for body in [r#"{"a":1} trailing"#, r#"{"email": 5} }"#] {
        let resp = api
            .post("/api/v1/auth/register")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .fetch()
            .await;
        assert_problem(&resp, 400, "bad_request");
    }
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_validation_failed() {
    let api = Api::shared();
    for body in [
        json!({"email": 5, "password": PASSWORD}),
        json!({"email": Api::unique_email(), "password": 12345678}),
        json!({"password": PASSWORD}),
        json!({"email": Api::unique_email()}),
        json!([]),
        json!("a string"),
        json!(null),
    ] {
        let resp = api.register_with(body).await;
        assert_problem(&resp, 422, "validation_failed");
    }
}

#[tokio::test]
async fn a_non_json_content_type_is_unsupported() {
    let api = Api::shared();
    let body = json!({"email": Api::unique_email(), "password": PASSWORD}).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
        let resp = api
            .post("/api/v1/auth/register")
            .header(CONTENT_TYPE, content_type)
            .body(body.clone())
            .fetch()
            .await;
        assert_problem(&resp, 415, "unsupported_media_type");
    }
}

#[tokio::test]
async fn a_json_body_over_1_mib_is_too_large() {
    let api = Api::shared();
    let body = json!({"email": Api::unique_email(), "password": PASSWORD, "name": "n".repeat(1024 * 1024 + 1)});
    let resp = api.register_with(body).await;
    assert_problem(&resp, 413, "payload_too_large");
}

#[tokio::test]
async fn a_chunked_json_body_over_1_mib_is_too_large() {
    let api = Api::shared();
    // No Content-Length: the server must count while reading.
    let chunk = format!(
        r#"{{"email":"{}","password":"{PASSWORD}","name":""#,
        Api::unique_email()
    );
    let mut chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(chunk.into_bytes())];
    chunks.extend((0..17).map(|_| Ok(vec![b'n'; 64 * 1024])));
    chunks.push(Ok(br#""}"#.to_vec()));
    let stream = futures_util::stream::iter(chunks);
    let resp = api
        .post("/api/v1/auth/register")
        .header(CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .fetch()
        .await;
    assert_problem(&resp, 413, "payload_too_large");
}
