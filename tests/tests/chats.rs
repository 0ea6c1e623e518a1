//! Chats: `/api/v1/chats` and `/api/v1/public/chats/:id` (without messages, export, stream, stop).

use std::collections::HashSet;
use std::time::Duration;

use alleato_contract_tests::{
    Api, Fetch, TestUser, assert_chat, assert_problem, assert_uuid, assert_validation_failed,
};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

fn chat_path(id: &Value) -> String {
    format!("/api/v1/chats/{}", id.as_str().expect("chat id is a string"))
}

fn titles(list: &Value) -> Vec<String> {
    list["chats"]
        .as_array()
        .expect("`chats` is an array")
        .iter()
        .map(|c| c["title"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list["chats"]
        .as_array()
        .expect("`chats` is an array")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `nextCursor` from the first page to the last; returns the chat ids in order.
async fn all_pages(api: &Api, user: &TestUser, limit: usize) -> Vec<String> {
    let limit = limit.to_string();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut query = vec![("limit", limit.as_str())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let page = api.list_chats(user, &query).await.expect(200);
        let page_ids = ids(&page);
        assert!(
            page_ids.len() <= limit.parse().unwrap(),
            "a page is longer than the limit: {page}"
        );
        seen.extend(page_ids);
        match &page["nextCursor"] {
            Value::Null => return seen,
            Value::String(next) => cursor = Some(next.clone()),
            other => panic!("nextCursor is neither null nor a string: {other}"),
        }
    }
    panic!("paging never ended");
}

// --- create ---

#[tokio::test]
async fn create_chat_without_a_body_uses_the_defaults() {
    let api = Api::shared();
    let user = api.register().await;
    let resp = api.post("/api/v1/chats").bearer_auth(&user.access).fetch().await;
    let body = resp.expect(201);
    alleato_contract_tests::assert_keys(&body, &["chat"], "the create response");
    let chat = &body["chat"];
    assert_chat(chat);
    assert_eq!(chat["title"], "New chat");
    assert_eq!(chat["visibility"], "private");
    assert_eq!(chat["model"], api.default_model().await.as_str());
    assert_eq!(chat["userId"], user.id.as_str());
    assert_eq!(chat["createdAt"], chat["updatedAt"]);
}

#[tokio::test]
async fn create_chat_with_an_empty_object_uses_the_defaults() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat(&user, json!({})).await;
    assert_chat(&chat);
    assert_eq!(chat["title"], "New chat");
    assert_eq!(chat["visibility"], "private");
    assert_eq!(chat["model"], api.default_model().await.as_str());
}

#[tokio::test]
async fn create_chat_takes_title_visibility_and_model() {
    let api = Api::shared();
    let user = api.register().await;
    let models = api.models().await;
    let model = models.iter().find(|m| m["default"] != true).unwrap_or(&models[0])["id"].clone();
    let chat = api
        .create_chat(
            &user,
            json!({"title": "Trip planning", "visibility": "public", "model": model}),
        )
        .await;
    assert_chat(&chat);
    assert_eq!(chat["title"], "Trip planning");
    assert_eq!(chat["visibility"], "public");
    assert_eq!(chat["model"], model);
}

#[tokio::test]
async fn create_chat_requires_authentication() {
    let api = Api::shared();
    let resp = api.post("/api/v1/chats").json(&json!({})).fetch().await;
    assert_problem(&resp, 401, "unauthorized");
}

#[tokio::test]
async fn chat_ids_are_uuids_and_timestamps_are_utc_with_milliseconds() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat(&user, json!({})).await;
    // assert_chat checks `2026-11-22T10:00:00.000Z`; the id is a v7 UUID (time-ordered).
    assert_chat(&chat);
    assert_uuid(&chat["id"], "chat.id");
    let id = uuid::Uuid::parse_str(chat["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7, "chat ids are UUID v7: {chat}");
}

#[tokio::test]
async fn create_chat_trims_the_title() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "   Holiday plans  ").await;
    assert_eq!(chat["title"], "Holiday plans");
}

#[tokio::test]
async fn create_chat_rejects_an_empty_title() {
    let api = Api::shared();
    let user = api.register().await;
    for title in ["", "   ", " \t "] {
        let resp = api
            .post("/api/v1/chats")
            .bearer_auth(&user.access)
            .json(&json!({"title": title}))
            .fetch()
            .await;
        assert_validation_failed(&resp, "title");
    }
}

#[tokio::test]
async fn title_length_is_1_to_200_characters() {
    let api = Api::shared();
    let user = api.register().await;
    for title in [
        "a".to_owned(),
        "é".repeat(200),
        "😀".repeat(200),
        format!("  {}  ", "a".repeat(200)),
    ] {
        let chat = api.create_chat_titled(&user, &title).await;
        assert_eq!(chat["title"], title.trim());
    }
    for title in ["a".repeat(201), "😀".repeat(201)] {
        let resp = api
            .post("/api/v1/chats")
            .bearer_auth(&user.access)
            .json(&json!({"title": title}))
            .fetch()
            .await;
        assert_validation_failed(&resp, "title");
    }
}

#[tokio::test]
async fn title_with_control_characters_is_rejected() {
    let api = Api::shared();
    let user = api.register().await;
    for title in [
        "a\u{0}b",
        "line\nbreak",
        "bell\u{7}",
        "\u{1b}[31mred",
        "del\u{7f}",
        "c1\u{85}x",
        "tab\tin",
    ] {
        let resp = api
            .post("/api/v1/chats")
            .bearer_auth(&user.access)
            .json(&json!({"title": title}))
            .fetch()
            .await;
        assert_validation_failed(&resp, "title");
    }
}

#[tokio::test]
async fn unusual_unicode_titles_are_stored_exactly() {
    let api = Api::shared();
    let user = api.register().await;
    for title in [
        "👩‍💻 Débogage",                           // emoji with a zero-width joiner
        "👨‍👩‍👧‍👦",                                    // a family: four emoji and three joiners
        "مرحبا بالعالم",                         // right-to-left
        "שלום and hello",                        // mixed directions
        "e\u{301}te\u{301} Zalgo\u{30d}\u{31a}", // combining marks, not normalised to NFC
        "a\u{200d}b",                            // a lone zero-width joiner
        "日本語のタイトル",
    ] {
        let chat = api.create_chat_titled(&user, title).await;
        assert_eq!(chat["title"], title, "the title changed on the way in");
        let again = api
            .get(&chat_path(&chat["id"]))
            .bearer_auth(&user.access)
            .fetch()
            .await
            .expect(200);
        assert_eq!(again["chat"]["title"], title, "the title changed in storage");
    }
}

#[tokio::test]
async fn create_chat_rejects_an_unknown_model() {
    let api = Api::shared();
    let user = api.register().await;
    let model = format!("no-such-model-{}", uuid::Uuid::new_v4());
    let resp = api
        .post("/api/v1/chats")
        .bearer_auth(&user.access)
        .json(&json!({"model": model}))
        .fetch()
        .await;
    assert_validation_failed(&resp, "model");
}

#[tokio::test]
async fn create_chat_rejects_an_unknown_visibility() {
    let api = Api::shared();
    let user = api.register().await;
    for visibility in ["secret", "PUBLIC", ""] {
        let resp = api
            .post("/api/v1/chats")
            .bearer_auth(&user.access)
            .json(&json!({"visibility": visibility}))
            .fetch()
            .await;
        assert_validation_failed(&resp, "visibility");
    }
}

#[tokio::test]
async fn create_chat_rejects_fields_of_the_wrong_type() {
    let api = Api::shared();
    let user = api.register().await;
    for body in [
        json!({"title": 5}),
        json!({"visibility": true}),
        json!({"model": ["a"]}),
        json!([]),
    ] {
        let resp = api
            .post("/api/v1/chats")
            .bearer_auth(&user.access)
            .json(&body)
            .fetch()
            .await;
        assert_problem(&resp, 422, "validation_failed");
    }
}

#[tokio::test]
async fn create_chat_with_malformed_json_is_a_bad_request() {
    let api = Api::shared();
    let user = api.register().await;
    let resp = api
        .post("/api/v1/chats")
        .bearer_auth(&user.access)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"title": }"#)
        .fetch()
        .await;
    assert_problem(&resp, 400, "bad_request");
}

#[tokio::test]
async fn create_chat_with_a_non_json_content_type_is_unsupported() {
    let api = Api::shared();
    let user = api.register().await;
    let resp = api
        .post("/api/v1/chats")
        .bearer_auth(&user.access)
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"title": "plain"}"#)
        .fetch()
        .await;
    assert_problem(&resp, 415, "unsupported_media_type");
}

// --- read ---

#[tokio::test]
async fn get_chat_returns_the_chat_and_no_messages() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Read me").await;
    let body = api
        .get(&chat_path(&chat["id"]))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    assert_eq!(body, json!({"chat": chat, "messages": [], "messagesCursor": null}));
}

#[tokio::test]
async fn unknown_chat_is_not_found() {
    let api = Api::shared();
    let user = api.register().await;
    let path = format!("/api/v1/chats/{}", uuid::Uuid::new_v4());
    assert_problem(
        &api.get(&path).bearer_auth(&user.access).fetch().await,
        404,
        "not_found",
    );
    let patch = api
        .patch(&path)
        .bearer_auth(&user.access)
        .json(&json!({"title": "x"}))
        .fetch()
        .await;
    assert_problem(&patch, 404, "not_found");
    assert_problem(
        &api.delete(&path).bearer_auth(&user.access).fetch().await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn a_chat_id_that_is_not_a_uuid_is_not_found() {
    let api = Api::shared();
    let user = api.register().await;
    for id in ["not-a-uuid", "123", "0193e4b2-0000-7000-8000-00000000000g"] {
        let path = format!("/api/v1/chats/{id}");
        assert_problem(
            &api.get(&path).bearer_auth(&user.access).fetch().await,
            404,
            "not_found",
        );
        let patch = api
            .patch(&path)
            .bearer_auth(&user.access)
            .json(&json!({"title": "x"}))
            .fetch()
            .await;
        assert_problem(&patch, 404, "not_found");
        assert_problem(
            &api.delete(&path).bearer_auth(&user.access).fetch().await,
            404,
            "not_found",
        );
        let public = api.get(&format!("/api/v1/public/chats/{id}")).fetch().await;
        assert_problem(&public, 404, "not_found");
    }
}

// --- update ---

#[tokio::test]
async fn update_chat_changes_fields_and_bumps_updated_at() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Before").await;
    let models = api.models().await;
    let model = models.iter().find(|m| m["id"] != chat["model"]).unwrap_or(&models[0])["id"].clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let resp = api
        .patch(&chat_path(&chat["id"]))
        .bearer_auth(&user.access)
        .json(&json!({"title": "  After  ", "visibility": "public", "model": model}))
        .fetch()
        .await;
    let body = resp.expect(200);
    alleato_contract_tests::assert_keys(&body, &["chat"], "the update response");
    let updated = &body["chat"];
    assert_chat(updated);
    assert_eq!(updated["id"], chat["id"]);
    assert_eq!(updated["title"], "After");
    assert_eq!(updated["visibility"], "public");
    assert_eq!(updated["model"], model);
    assert_eq!(updated["createdAt"], chat["createdAt"]);
    assert!(
        updated["updatedAt"].as_str().unwrap() > chat["updatedAt"].as_str().unwrap(),
        "updatedAt did not move forward: {chat} -> {updated}"
    );
    let again = api
        .get(&chat_path(&chat["id"]))
        .bearer_auth(&user.access)
        .fetch()
        .await
        .expect(200);
    assert_eq!(&again["chat"], updated);
}

#[tokio::test]
async fn update_chat_changes_only_the_given_fields() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api
        .create_chat(&user, json!({"title": "Keep me", "visibility": "public"}))
        .await;
    let resp = api
        .patch(&chat_path(&chat["id"]))
        .bearer_auth(&user.access)
        .json(&json!({"visibility": "private"}));
    let updated = resp.fetch().await.expect(200)["chat"].clone();
    assert_eq!(updated["title"], "Keep me");
    assert_eq!(updated["visibility"], "private");
    assert_eq!(updated["model"], chat["model"]);
}

#[tokio::test]
async fn update_chat_validates_its_fields() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Valid").await;
    let path = chat_path(&chat["id"]);
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "a\nb"}), "title"),
        (json!({"visibility": "secret"}), "visibility"),
        (json!({"model": "no-such-model"}), "model"),
    ] {
        let resp = api.patch(&path).bearer_auth(&user.access).json(&body).fetch().await;
        assert_validation_failed(&resp, field);
    }
    let unchanged = api.get(&path).bearer_auth(&user.access).fetch().await.expect(200);
    assert_eq!(unchanged["chat"], chat);
}

// --- delete ---

#[tokio::test]
async fn delete_chat_then_get_is_not_found() {
    let api = Api::shared();
    let user = api.register().await;
    let chat = api.create_chat_titled(&user, "Doomed").await;
    let path = chat_path(&chat["id"]);
    let resp = api.delete(&path).bearer_auth(&user.access).fetch().await;
    assert_eq!(resp.expect(200), json!({"success": true}));
    assert_problem(
        &api.get(&path).bearer_auth(&user.access).fetch().await,
        404,
        "not_found",
    );
    assert_problem(
        &api.delete(&path).bearer_auth(&user.access).fetch().await,
        404,
        "not_found",
    );
    let list = api.list_chats(&user, &[]).await.expect(200);
    assert!(ids(&list).is_empty(), "a deleted chat is still listed: {list}");
}

// --- other users ---

#[tokio::test]
async fn another_users_private_chat_is_not_found() {
    let api = Api::shared();
    let owner = api.register().await;
    let stranger = api.register().await;
    let chat = api.create_chat_titled(&owner, "Mine alone").await;
    let path = chat_path(&chat["id"]);
    assert_problem(
        &api.get(&path).bearer_auth(&stranger.access).fetch().await,
        404,
        "not_found",
    );
    let patch = api
        .patch(&path)
        .bearer_auth(&stranger.access)
        .json(&json!({"title": "Yours now"}))
        .fetch()
        .await;
    assert_problem(&patch, 404, "not_found");
    assert_problem(
        &api.delete(&path).bearer_auth(&stranger.access).fetch().await,
        404,
        "not_found",
    );
    let still = api.get(&path).bearer_auth(&owner.access).fetch().await.expect(200);
    assert_eq!(still["chat"], chat);
}

#[tokio::test]
async fn another_users_private_chat_answers_like_a_missing_one() {
    let api = Api::shared();
    let owner = api.register().await;
    let stranger = api.register().await;
    let chat = api.create_chat_titled(&owner, "Hidden").await;
    let private = api
        .get(&chat_path(&chat["id"]))
        .bearer_auth(&stranger.access)
        .fetch()
        .await;
    let missing = api
        .get(&format!("/api/v1/chats/{}", uuid::Uuid::new_v4()))
        .bearer_auth(&stranger.access)
        .fetch()
        .await;
    let a = assert_problem(&private, 404, "not_found");
    let b = assert_problem(&missing, 404, "not_found");
    assert_eq!(a["title"], b["title"]);
    assert_eq!(a["type"], b["type"]);
}

#[tokio::test]
async fn another_users_public_chat_is_readable_but_not_writable() {
    let api = Api::shared();
    let owner = api.register().await;
    let stranger = api.register().await;
    let chat = api
        .create_chat(&owner, json!({"title": "Shared", "visibility": "public"}))
        .await;
    let path = chat_path(&chat["id"]);
    let body = api.get(&path).bearer_auth(&stranger.access).fetch().await.expect(200);
    assert_eq!(body["chat"], chat);
    assert_eq!(body["messages"], json!([]));
    let patch = api
        .patch(&path)
        .bearer_auth(&stranger.access)
        .json(&json!({"title": "Defaced"}))
        .fetch()
        .await;
    assert_problem(&patch, 403, "forbidden");
    assert_problem(
        &api.delete(&path).bearer_auth(&stranger.access).fetch().await,
        403,
        "forbidden",
    );
    let still = api.get(&path).bearer_auth(&owner.access).fetch().await.expect(200);
    assert_eq!(still["chat"], chat);
}

#[tokio::test]
async fn public_chat_is_readable_without_a_token() {
    let api = Api::shared();
    let owner = api.register().await;
    let chat = api
        .create_chat(&owner, json!({"title": "For everyone", "visibility": "public"}))
        .await;
    let body = api.get(&chat_path(&chat["id"])).fetch().await.expect(200);
    assert_eq!(body, json!({"chat": chat, "messages": [], "messagesCursor": null}));
}

#[tokio::test]
async fn private_chat_without_a_token_is_not_found() {
    let api = Api::shared();
    let owner = api.register().await;
    let chat = api.create_chat_titled(&owner, "Not for strangers").await;
    assert_problem(&api.get(&chat_path(&chat["id"])).fetch().await, 404, "not_found");
}

#[tokio::test]
async fn public_chat_is_served_by_the_public_endpoint() {
    let api = Api::shared();
    let owner = api.register().await;
    let chat = api
        .create_chat(&owner, json!({"title": "Published", "visibility": "public"}))
        .await;
    let body = api
        .get(&format!("/api/v1/public/chats/{}", chat["id"].as_str().unwrap()))
        .fetch()
        .await
        .expect(200);
    assert_eq!(body["chat"], chat);
    assert_eq!(body["messages"], json!([]));
}

#[tokio::test]
async fn public_endpoint_does_not_serve_private_chats() {
    let api = Api::shared();
    let owner = api.register().await;
    let chat = api.create_chat_titled(&owner, "Private").await;
    let path = format!("/api/v1/public/chats/{}", chat["id"].as_str().unwrap());
    assert_problem(&api.get(&path).fetch().await, 404, "not_found");
    // Not even to its owner: the public endpoint is for public chats.
    assert_problem(
        &api.get(&path).bearer_auth(&owner.access).fetch().await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn a_public_chat_made_private_again_is_hidden() {
    let api = Api::shared();
    let owner = api.register().await;
    let stranger = api.register().await;
    let chat = api
        .create_chat(&owner, json!({"title": "Briefly public", "visibility": "public"}))
        .await;
    let path = chat_path(&chat["id"]);
    api.patch(&path)
        .bearer_auth(&owner.access)
        .json(&json!({"visibility": "private"}))
        .fetch()
        .await
        .expect(200);
    assert_problem(
        &api.get(&path).bearer_auth(&stranger.access).fetch().await,
        404,
        "not_found",
    );
    let public = api
        .get(&format!("/api/v1/public/chats/{}", chat["id"].as_str().unwrap()))
        .fetch()
        .await;
    assert_problem(&public, 404, "not_found");
}

// --- list ---

#[tokio::test]
async fn list_chats_requires_authentication() {
    let api = Api::shared();
    assert_problem(&api.get("/api/v1/chats").fetch().await, 401, "unauthorized");
}

#[tokio::test]
async fn list_chats_of_a_new_user_is_empty() {
    let api = Api::shared();
    let user = api.register().await;
    let body = api.list_chats(&user, &[]).await.expect(200);
    assert_eq!(body, json!({"chats": [], "nextCursor": null}));
}

#[tokio::test]
async fn list_chats_is_newest_updated_first() {
    let api = Api::shared();
    let user = api.register().await;
    for title in ["first", "second", "third"] {
        api.create_chat_titled(&user, title).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let list = api.list_chats(&user, &[]).await.expect(200);
    assert_eq!(titles(&list), ["third", "second", "first"]);
    for chat in list["chats"].as_array().unwrap() {
        assert_chat(chat);
    }

    // Updating the oldest moves it to the top.
    let first = list["chats"][2]["id"].clone();
    api.patch(&chat_path(&first))
        .bearer_auth(&user.access)
        .json(&json!({"title": "first, edited"}))
        .fetch()
        .await
        .expect(200);
    let list = api.list_chats(&user, &[]).await.expect(200);
    assert_eq!(titles(&list), ["first, edited", "third", "second"]);
}

#[tokio::test]
async fn list_chats_shows_only_the_callers_chats() {
    let api = Api::shared();
    let alice = api.register().await;
    let bob = api.register().await;
    api.create_chat(&alice, json!({"title": "Alice's private"})).await;
    api.create_chat(&alice, json!({"title": "Alice's public", "visibility": "public"}))
        .await;
    let bobs = api.create_chat_titled(&bob, "Bob's").await;
    let list = api.list_chats(&bob, &[]).await.expect(200);
    assert_eq!(ids(&list), [bobs["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn list_chats_defaults_to_20_a_page() {
    let api = Api::shared();
    let user = api.register().await;
    for i in 0..21 {
        api.create_chat_titled(&user, &format!("chat {i}")).await;
    }
    let first = api.list_chats(&user, &[]).await.expect(200);
    assert_eq!(ids(&first).len(), 20);
    let cursor = first["nextCursor"].as_str().expect("a next cursor after a full page");
    let second = api.list_chats(&user, &[("cursor", cursor)]).await.expect(200);
    assert_eq!(ids(&second).len(), 1);
    assert!(second["nextCursor"].is_null(), "{second}");
}

#[tokio::test]
async fn list_chats_accepts_limits_from_1_to_100() {
    let api = Api::shared();
    let user = api.register().await;
    api.create_chat_titled(&user, "one").await;
    api.create_chat_titled(&user, "two").await;
    let one = api.list_chats(&user, &[("limit", "1")]).await.expect(200);
    assert_eq!(ids(&one).len(), 1);
    assert!(one["nextCursor"].is_string(), "{one}");
    let hundred = api.list_chats(&user, &[("limit", "100")]).await.expect(200);
    assert_eq!(ids(&hundred).len(), 2);
    assert!(hundred["nextCursor"].is_null(), "{hundred}");
}

#[tokio::test]
async fn list_chats_rejects_a_bad_limit() {
    let api = Api::shared();
    let user = api.register().await;
    for limit in ["0", "101", "abc", "-1", "1.5"] {
        let resp = api.list_chats(&user, &[("limit", limit)]).await;
        assert_validation_failed(&resp, "limit");
    }
}

#[tokio::test]
async fn list_chats_rejects_a_garbage_cursor() {
    let api = Api::shared();
    let user = api.register().await;
    for cursor in ["garbage", "!!!", "eyJub3QiOiJhIGN1cnNvciJ9"] {
        let resp = api.list_chats(&user, &[("cursor", cursor)]).await;
        assert_validation_failed(&resp, "cursor");
    }
}

#[tokio::test]
async fn list_chats_rejects_an_overlong_query() {
    let api = Api::shared();
    let user = api.register().await;
    let resp = api.list_chats(&user, &[("q", &"x".repeat(1000))]).await;
    assert_validation_failed(&resp, "q");
}

#[tokio::test]
async fn paging_visits_every_chat_exactly_once() {
    let api = Api::shared();
    let user = api.register().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            api.create_chat_titled(&user, &format!("page {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let seen = all_pages(&api, &user, 3).await;
    assert_eq!(seen.len(), 7, "chats were skipped or repeated: {seen:?}");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        created.iter().collect::<HashSet<_>>()
    );
    let one_page = ids(&api.list_chats(&user, &[("limit", "100")]).await.expect(200));
    assert_eq!(seen, one_page, "paging and one page disagree on the order");
}

#[tokio::test]
async fn paging_is_stable_when_updated_at_ties() {
    let api = Api::shared();
    let user = api.register().await;
    // Made at once, so that many share a millisecond.
    let made = futures_util::future::join_all((0..15).map(|i| {
        let api = api.clone();
        let user = user.clone();
        async move {
            api.create_chat_titled(&user, &format!("tie {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    }))
    .await;
    for limit in [1, 2, 4] {
        let seen = all_pages(&api, &user, limit).await;
        assert_eq!(
            seen.len(),
            made.len(),
            "limit {limit}: chats were skipped or repeated: {seen:?}"
        );
        assert_eq!(
            seen.iter().collect::<HashSet<_>>(),
            made.iter().collect::<HashSet<_>>(),
            "limit {limit}"
        );
    }
}

#[tokio::test]
async fn list_chats_filters_by_title_ignoring_ascii_case() {
    let api = Api::shared();
    let user = api.register().await;
    for title in [
        "Rust ownership notes",
        "Gardening plan",
        "rusty bike repair",
        "TRUST issues",
    ] {
        api.create_chat_titled(&user, title).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let list = api.list_chats(&user, &[("q", "RUST")]).await.expect(200);
    assert_eq!(
        titles(&list),
        ["TRUST issues", "rusty bike repair", "Rust ownership notes"]
    );
    let list = api.list_chats(&user, &[("q", "garden")]).await.expect(200);
    assert_eq!(titles(&list), ["Gardening plan"]);
    let list = api.list_chats(&user, &[("q", "nothing like it")]).await.expect(200);
    assert_eq!(list, json!({"chats": [], "nextCursor": null}));
}

#[tokio::test]
async fn list_chats_search_takes_percent_and_underscore_literally() {
    let api = Api::shared();
    let user = api.register().await;
    for title in ["100% sure", "1000 sure", "snake_case", "snakeXcase", "back\\slash"] {
        api.create_chat_titled(&user, title).await;
    }
    let list = api.list_chats(&user, &[("q", "%")]).await.expect(200);
    assert_eq!(titles(&list), ["100% sure"]);
    let list = api.list_chats(&user, &[("q", "0%")]).await.expect(200);
    assert_eq!(titles(&list), ["100% sure"]);
    let list = api.list_chats(&user, &[("q", "e_c")]).await.expect(200);
    assert_eq!(titles(&list), ["snake_case"]);
    let list = api.list_chats(&user, &[("q", "\\")]).await.expect(200);
    assert_eq!(titles(&list), ["back\\slash"]);
}

#[tokio::test]
async fn list_chats_search_pages_too() {
    let api = Api::shared();
    let user = api.register().await;
    for i in 0..5 {
        api.create_chat_titled(&user, &format!("match {i}")).await;
        api.create_chat_titled(&user, &format!("other {i}")).await;
    }
    let first = api
        .list_chats(&user, &[("q", "match"), ("limit", "3")])
        .await
        .expect(200);
    assert_eq!(ids(&first).len(), 3);
    let cursor = first["nextCursor"].as_str().expect("a second page");
    let second = api
        .list_chats(&user, &[("q", "match"), ("limit", "3"), ("cursor", cursor)])
        .await
        .expect(200);
    assert_eq!(ids(&second).len(), 2);
    assert!(second["nextCursor"].is_null(), "{second}");
    let all: Vec<String> = titles(&first).into_iter().chain(titles(&second)).collect();
    assert!(all.iter().all(|t| t.starts_with("match")), "{all:?}");
}
