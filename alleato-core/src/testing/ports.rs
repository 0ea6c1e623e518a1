//! Port contract suites: one async function per behaviour, run by every adapter's tests.
//!
//! An adapter crate calls [`store_contract_tests!`](crate::store_contract_tests) with an
//! expression that makes a fresh, empty store, and gets one `#[tokio::test]` per behaviour.

use std::time::Duration;

use super::{Capabilities, Case, cases};
use crate::auth::{DisplayName, Email, User, UserKind, UserRecord, UserStore};
use crate::chats::{Chat, ChatListQuery, ChatStore, ChatTitle, SearchText, Visibility};
use crate::id::{ChatId, UserId};
use crate::page::{Cursor, Limit};
use crate::ports::{Counters, KvCache};
use crate::store::StoreError;
use crate::time::Timestamp;
use uuid::Uuid;

/// A store under test: every record port at once.
pub trait TestStore: UserStore + ChatStore {}
impl<T: UserStore + ChatStore> TestStore for T {}

fn user(n: u128, email: Option<&str>, kind: UserKind) -> UserRecord {
    UserRecord {
        user: User {
            id: UserId::from_uuid(Uuid::from_u128(n)),
            email: email.map(|e| Email::parse(e).unwrap()),
            name: Some(DisplayName::parse("Ada Lovelace").unwrap()),
            kind,
            created_at: Timestamp::from_millis(1_700_000_000_000 + n as i64),
        },
        password_hash: email.map(|_| "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".to_owned()),
        daily_message_limit: None,
    }
}

fn chat(n: u128, owner: &UserRecord, title: &str, updated: i64) -> Chat {
    Chat {
        id: ChatId::from_uuid(Uuid::from_u128(n)),
        user_id: owner.user.id,
        title: ChatTitle::parse(title).unwrap(),
        visibility: Visibility::Private,
        model: "echo".to_owned(),
        created_at: Timestamp::from_millis(updated),
        updated_at: Timestamp::from_millis(updated),
    }
}

fn query(owner: &UserRecord, limit: i64) -> ChatListQuery {
    ChatListQuery {
        owner: owner.user.id,
        limit: Limit::new(limit).unwrap(),
        after: None,
        search: None,
    }
}

/// A user reads back exactly as stored, by id and by email.
pub async fn user_round_trips(s: &dyn TestStore) {
    let u = user(1, Some("ada@example.com"), UserKind::Regular);
    s.insert_user(&u).await.unwrap();
    assert_eq!(s.user_by_id(u.user.id).await.unwrap(), Some(u.clone()));
    let email = Email::parse("ada@example.com").unwrap();
    assert_eq!(s.user_by_email(&email).await.unwrap(), Some(u));
    assert_eq!(
        s.user_by_id(UserId::from_uuid(Uuid::from_u128(99))).await.unwrap(),
        None
    );
}

/// Two users cannot share an email.
pub async fn duplicate_email_is_a_conflict(s: &dyn TestStore) {
    s.insert_user(&user(1, Some("ada@example.com"), UserKind::Regular))
        .await
        .unwrap();
    let err = s
        .insert_user(&user(2, Some("ada@example.com"), UserKind::Regular))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("email")), "{err:?}");
}

/// Guests have no email, and many guests can exist.
pub async fn many_guests_without_email(s: &dyn TestStore) {
    s.insert_user(&user(1, None, UserKind::Guest)).await.unwrap();
    s.insert_user(&user(2, None, UserKind::Guest)).await.unwrap();
    let g = s
        .user_by_id(UserId::from_uuid(Uuid::from_u128(2)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.user.email, None);
    assert_eq!(g.user.kind, UserKind::Guest);
}

/// Upgrading a guest keeps its id and chats and gives it credentials.
pub async fn guest_upgrade_keeps_id_and_chats(s: &dyn TestStore) {
    let g = user(1, None, UserKind::Guest);
    s.insert_user(&g).await.unwrap();
    s.insert_chat(&chat(10, &g, "mine", 1)).await.unwrap();
    let email = Email::parse("grace@example.com").unwrap();
    let name = DisplayName::parse("Grace").unwrap();
    s.upgrade_guest(g.user.id, &email, Some(&name), "$argon2id$hash")
        .await
        .unwrap();
    let up = s.user_by_email(&email).await.unwrap().unwrap();
    assert_eq!(up.user.id, g.user.id);
    assert_eq!(up.user.kind, UserKind::Regular);
    assert_eq!(up.user.name, Some(name));
    assert_eq!(up.password_hash.as_deref(), Some("$argon2id$hash"));
    assert_eq!(s.list_chats(&query(&g, 10)).await.unwrap().len(), 1);
}

/// Only guests can be upgraded, and not onto a taken email.
pub async fn guest_upgrade_refusals(s: &dyn TestStore) {
    let regular = user(1, Some("ada@example.com"), UserKind::Regular);
    let guest = user(2, None, UserKind::Guest);
    s.insert_user(&regular).await.unwrap();
    s.insert_user(&guest).await.unwrap();
    let taken = Email::parse("ada@example.com").unwrap();
    let err = s.upgrade_guest(guest.user.id, &taken, None, "h").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("email")), "{err:?}");
    let fresh = Email::parse("new@example.com").unwrap();
    let err = s.upgrade_guest(regular.user.id, &fresh, None, "h").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = s
        .upgrade_guest(UserId::from_uuid(Uuid::from_u128(77)), &fresh, None, "h")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// A chat reads back as stored, including odd Unicode, and its id cannot be reused.
pub async fn chat_round_trips(s: &dyn TestStore) {
    let u = user(1, Some("ada@example.com"), UserKind::Regular);
    s.insert_user(&u).await.unwrap();
    let c = chat(10, &u, "Ünïcödé 🚀 مرحبا \u{200d}", 5);
    s.insert_chat(&c).await.unwrap();
    assert_eq!(s.chat(c.id).await.unwrap(), Some(c.clone()));
    assert!(matches!(s.insert_chat(&c).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.chat(ChatId::from_uuid(Uuid::from_u128(11))).await.unwrap(), None);
}

/// Updates change title, visibility, model and updated_at; a missing chat is `NotFound`.
pub async fn chat_update(s: &dyn TestStore) {
    let u = user(1, Some("ada@example.com"), UserKind::Regular);
    s.insert_user(&u).await.unwrap();
    let mut c = chat(10, &u, "before", 5);
    s.insert_chat(&c).await.unwrap();
    c.title = ChatTitle::parse("after").unwrap();
    c.visibility = Visibility::Public;
    c.model = "other".to_owned();
    c.updated_at = Timestamp::from_millis(9);
    s.update_chat(&c).await.unwrap();
    assert_eq!(s.chat(c.id).await.unwrap(), Some(c.clone()));
    c.id = ChatId::from_uuid(Uuid::from_u128(11));
    assert!(matches!(s.update_chat(&c).await, Err(StoreError::NotFound)));
}

/// Deleting removes the chat; deleting again is `NotFound`; its id is never used again, by
/// anyone. Discarding an empty chat removes it and leaves its id free.
pub async fn chat_delete(s: &dyn TestStore) {
    let u = user(1, Some("ada@example.com"), UserKind::Regular);
    let other = user(2, Some("bob@example.com"), UserKind::Regular);
    s.insert_user(&u).await.unwrap();
    s.insert_user(&other).await.unwrap();
    let c = chat(10, &u, "bye", 5);
    s.insert_chat(&c).await.unwrap();
    s.delete_chat(c.id).await.unwrap();
    assert_eq!(s.chat(c.id).await.unwrap(), None);
    assert!(matches!(s.delete_chat(c.id).await, Err(StoreError::NotFound)));
    let claimed = Chat {
        user_id: other.user.id,
        ..c.clone()
    };
    assert!(matches!(s.insert_chat(&claimed).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.insert_chat(&c).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.chat(c.id).await.unwrap(), None);

    let fresh = chat(11, &u, "never used", 6);
    s.insert_chat(&fresh).await.unwrap();
    s.discard_empty_chat(fresh.id).await.unwrap();
    assert_eq!(s.chat(fresh.id).await.unwrap(), None);
    assert!(matches!(
        s.discard_empty_chat(fresh.id).await,
        Err(StoreError::NotFound)
    ));
    s.insert_chat(&fresh).await.unwrap();
}

/// Lists are the owner's only, newest first, ties broken by id, paged by cursor without gaps.
pub async fn chat_list_order_and_pages(s: &dyn TestStore) {
    let a = user(1, Some("a@example.com"), UserKind::Regular);
    let b = user(2, Some("b@example.com"), UserKind::Regular);
    s.insert_user(&a).await.unwrap();
    s.insert_user(&b).await.unwrap();
    for n in 0..7u128 {
        // Two chats share each timestamp, to check the tie-break.
        s.insert_chat(&chat(100 + n, &a, &format!("chat {n}"), 1000 + (n / 2) as i64))
            .await
            .unwrap();
    }
    s.insert_chat(&chat(200, &b, "not a's", 5000)).await.unwrap();
    let all = s.list_chats(&query(&a, 100)).await.unwrap();
    let ids: Vec<u128> = all.iter().map(|c| c.id.as_uuid().as_u128()).collect();
    assert_eq!(ids, vec![106, 105, 104, 103, 102, 101, 100]);

    let mut seen = Vec::new();
    let mut q = query(&a, 3);
    loop {
        let page = s.list_chats(&q).await.unwrap();
        assert!(page.len() <= 4, "returns at most limit + 1");
        let more = page.len() > 3;
        let page: Vec<_> = page.into_iter().take(3).collect();
        seen.extend(page.iter().map(|c| c.id.as_uuid().as_u128()));
        if !more {
            break;
        }
        let last = page.last().unwrap();
        q.after = Some(Cursor {
            at: last.updated_at,
            id: *last.id.as_uuid(),
        });
    }
    assert_eq!(seen, ids);
}

/// Search matches title substrings, ignoring ASCII case, and treats `%` and `_` literally.
pub async fn chat_list_search(s: &dyn TestStore) {
    let a = user(1, Some("a@example.com"), UserKind::Regular);
    s.insert_user(&a).await.unwrap();
    s.insert_chat(&chat(1, &a, "Rust borrow checker", 1)).await.unwrap();
    s.insert_chat(&chat(2, &a, "Cooking pasta", 2)).await.unwrap();
    s.insert_chat(&chat(3, &a, "100% rust_lang", 3)).await.unwrap();
    s.insert_chat(&chat(4, &a, "Café Ünïcode", 4)).await.unwrap();
    let find = |text: &str| {
        let mut q = query(&a, 100);
        q.search = Some(SearchText::parse(text).unwrap());
        q
    };
    let ids = |v: Vec<Chat>| v.iter().map(|c| c.id.as_uuid().as_u128()).collect::<Vec<_>>();
    assert_eq!(ids(s.list_chats(&find("RUST")).await.unwrap()), vec![3, 1]);
    assert_eq!(ids(s.list_chats(&find("0%")).await.unwrap()), vec![3]);
    assert_eq!(ids(s.list_chats(&find("t_l")).await.unwrap()), vec![3]);
    assert_eq!(ids(s.list_chats(&find("%")).await.unwrap()), vec![3]);
    assert_eq!(ids(s.list_chats(&find("Ünï")).await.unwrap()), vec![4]);
    assert!(s.list_chats(&find("nothing like it")).await.unwrap().is_empty());
}

/// Values live until their TTL passes (checked when the suite moves the adapter's clock); put
/// replaces; delete removes. TTLs are of a minute, the shortest Workers KV takes.
pub async fn cache_ttl_and_delete(cache: &dyn KvCache, caps: &Capabilities) {
    let ttl = Duration::from_secs(60);
    cache.put("k", b"v1", ttl).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    cache.put("k", b"v2", ttl).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
    if let Some(clock) = &caps.clock {
        clock.advance(ttl - Duration::from_millis(1));
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
        clock.advance(Duration::from_millis(1));
        assert_eq!(cache.get("k").await.unwrap(), None);
    }
    cache.put("k", b"v3", ttl).await.unwrap();
    cache.delete("k").await.unwrap();
    cache.delete("never").await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), None);
}

/// Counters add exactly, and reset when their window passes (checked when the suite moves the
/// adapter's clock).
pub async fn counters_count_exactly_per_window(counters: &dyn Counters, caps: &Capabilities) {
    let w = Duration::from_secs(60);
    assert_eq!(counters.get("c").await.unwrap().total, 0);
    let first = counters.increment("c", 1, w).await.unwrap();
    assert_eq!(first.total, 1);
    assert_eq!(counters.increment("c", 2, w).await.unwrap().total, 3);
    assert_eq!(counters.get("c").await.unwrap().total, 3);
    assert_eq!(counters.get("other").await.unwrap().total, 0);
    let Some(clock) = &caps.clock else {
        return;
    };
    clock.advance(Duration::from_secs(61));
    assert_eq!(counters.get("c").await.unwrap().total, 0);
    let again = counters.increment("c", 1, w).await.unwrap();
    assert_eq!(again.total, 1);
    assert!(again.resets_at > first.resets_at);
}

/// Every key-value cache behaviour, for a harness that runs them itself.
pub fn cache_cases() -> Vec<Case<dyn KvCache>> {
    cases![cache_ttl_and_delete(caps)]
}

/// Every counters behaviour, for a harness that runs them itself.
pub fn counter_cases() -> Vec<Case<dyn Counters>> {
    cases![counters_count_exactly_per_window(caps)]
}

/// Every storage behaviour, for a harness that runs them itself: each on a fresh adapter.
pub fn cases() -> Vec<Case<dyn TestStore>> {
    cases![
        user_round_trips,
        duplicate_email_is_a_conflict,
        many_guests_without_email,
        guest_upgrade_keeps_id_and_chats,
        guest_upgrade_refusals,
        chat_round_trips,
        chat_update,
        chat_delete,
        chat_list_order_and_pages,
        chat_list_search,
    ]
}

/// Expands to one test per storage behaviour, under `#[runner]` when one is given first (else
/// `#[tokio::test]`); `$make` builds a fresh empty store
/// (an expression of a type implementing [`TestStore`], awaited if `async`).
#[macro_export]
macro_rules! store_contract_tests {
    (@each [$runner:meta] $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[$runner]
            async fn $name() {
                let store = $make;
                $crate::testing::ports::$name(&store).await;
            }
        )*
    };
    (#[$runner:meta] $make:expr) => {
        $crate::store_contract_tests!(@each [$runner] $make;
            user_round_trips, duplicate_email_is_a_conflict, many_guests_without_email,
            guest_upgrade_keeps_id_and_chats, guest_upgrade_refusals, chat_round_trips,
            chat_update, chat_delete, chat_list_order_and_pages, chat_list_search);
    };
    ($make:expr) => {
        $crate::store_contract_tests!(#[tokio::test] $make);
    };
}
