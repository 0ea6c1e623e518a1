//! Contract suite of the [`MessageStore`] and [`UsageStore`] ports: one async function per
//! behaviour, run against every adapter with
//! [`message_store_contract_tests!`](crate::message_store_contract_tests).

use super::{Case, cases};
use uuid::Uuid;

use crate::auth::{Email, User, UserKind, UserRecord, UserStore};
use crate::chats::{Chat, ChatListQuery, ChatStore, ChatTitle, SearchText, Visibility};
use crate::id::{ChatId, MessageId, StreamId, UserId};
use crate::llm::Usage;
use crate::messages::Message;
use crate::messages::{
    MessageListQuery, MessageStatus, MessageStore, Part, QuotaCharge, Role, Turn, UsageStore, Vote, VoteKind,
};
use crate::page::Limit;
use crate::store::StoreError;
use crate::time::Timestamp;

/// A store under test: users, chats, messages and usage at once.
pub trait FullStore: UserStore + ChatStore + MessageStore + UsageStore {}
impl<T: UserStore + ChatStore + MessageStore + UsageStore> FullStore for T {}

async fn setup(s: &dyn FullStore) -> (UserId, ChatId) {
    let user = UserRecord {
        user: User {
            id: UserId::from_uuid(Uuid::from_u128(1)),
            email: Some(Email::parse("m@example.com").unwrap()),
            name: None,
            kind: UserKind::Regular,
            created_at: Timestamp::from_millis(1),
        },
        password_hash: Some("h".into()),
        daily_message_limit: None,
    };
    s.insert_user(&user).await.unwrap();
    let chat = Chat {
        id: ChatId::from_uuid(Uuid::from_u128(10)),
        user_id: user.user.id,
        title: ChatTitle::parse("t").unwrap(),
        visibility: Visibility::Private,
        model: "echo".into(),
        created_at: Timestamp::from_millis(1),
        updated_at: Timestamp::from_millis(1),
    };
    s.insert_chat(&chat).await.unwrap();
    (user.user.id, chat.id)
}

fn message(n: u128, chat: ChatId, role: Role, text: &str, at: i64) -> Message {
    Message {
        id: MessageId::from_uuid(Uuid::from_u128(n)),
        chat_id: chat,
        role,
        parts: vec![Part::Text { text: text.into() }],
        status: MessageStatus::Complete,
        model: (role == Role::Assistant).then(|| "echo".to_owned()),
        usage: (role == Role::Assistant).then_some(Usage {
            input_tokens: 3,
            output_tokens: 4,
        }),
        stream_id: (role == Role::Assistant).then(|| StreamId::from_uuid(Uuid::from_u128(n + 1000))),
        created_at: Timestamp::from_millis(at),
    }
}

fn page(chat: ChatId, limit: i64) -> MessageListQuery {
    MessageListQuery {
        chat_id: chat,
        limit: Limit::new(limit).unwrap(),
        before: None,
    }
}

/// A message reads back exactly, parts, usage and stream included, and bumps its chat.
pub async fn message_round_trips(s: &dyn FullStore) {
    let (_, chat) = setup(s).await;
    let mut m = message(100, chat, Role::Assistant, "héllo 🚀", 50);
    m.parts.push(Part::File {
        media_type: "image/png".into(),
        url: "/api/v1/files/x/download".into(),
        filename: Some("x.png".into()),
    });
    s.insert_message(&m).await.unwrap();
    assert_eq!(s.message(m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(
        s.chat(chat).await.unwrap().unwrap().updated_at,
        Timestamp::from_millis(50)
    );
    assert!(matches!(s.insert_message(&m).await, Err(StoreError::Conflict(_))));
    let mut orphan = message(101, ChatId::from_uuid(Uuid::from_u128(99)), Role::User, "x", 1);
    orphan.chat_id = ChatId::from_uuid(Uuid::from_u128(99));
    assert!(matches!(s.insert_message(&orphan).await, Err(StoreError::NotFound)));
}

/// Updates replace parts, status, model and usage.
pub async fn message_update(s: &dyn FullStore) {
    let (_, chat) = setup(s).await;
    let mut m = message(100, chat, Role::Assistant, "", 50);
    m.parts.clear();
    m.status = MessageStatus::Streaming;
    m.usage = None;
    s.insert_message(&m).await.unwrap();
    m.parts = vec![Part::Text { text: "done".into() }];
    m.status = MessageStatus::Stopped;
    m.usage = Some(Usage {
        input_tokens: 7,
        output_tokens: 8,
    });
    s.update_message(&m).await.unwrap();
    assert_eq!(s.message(m.id).await.unwrap(), Some(m.clone()));
    m.id = MessageId::from_uuid(Uuid::from_u128(555));
    assert!(matches!(s.update_message(&m).await, Err(StoreError::NotFound)));
}

/// History pages go back in time without gaps; ties on time are ordered by id.
pub async fn message_pages(s: &dyn FullStore) {
    let (_, chat) = setup(s).await;
    for n in 0..7u128 {
        s.insert_message(&message(
            100 + n,
            chat,
            Role::User,
            &format!("m{n}"),
            10 + (n / 2) as i64,
        ))
        .await
        .unwrap();
    }
    let all: Vec<u128> = s
        .list_messages(&page(chat, 100))
        .await
        .unwrap()
        .iter()
        .map(|m| m.id.as_uuid().as_u128())
        .collect();
    assert_eq!(all, vec![106, 105, 104, 103, 102, 101, 100]);
    let mut seen = Vec::new();
    let mut q = page(chat, 3);
    loop {
        let got = s.list_messages(&q).await.unwrap();
        let more = got.len() > 3;
        let got: Vec<_> = got.into_iter().take(3).collect();
        seen.extend(got.iter().map(|m| m.id.as_uuid().as_u128()));
        if !more {
            break;
        }
        q.before = got.last().map(Message::cursor);
    }
    assert_eq!(seen, all);
}

/// A context is the latest messages with text that are not streaming, oldest first.
pub async fn context_reads_the_latest_finished_texts(s: &dyn FullStore) {
    let (_, chat) = setup(s).await;
    s.insert_message(&message(100, chat, Role::User, "one", 10))
        .await
        .unwrap();
    s.insert_message(&message(101, chat, Role::Assistant, "two", 11))
        .await
        .unwrap();
    s.insert_message(&message(102, chat, Role::User, "three", 12))
        .await
        .unwrap();
    let mut empty = message(103, chat, Role::Assistant, "", 13);
    empty.parts.clear();
    s.insert_message(&empty).await.unwrap();
    let mut streaming = message(104, chat, Role::Assistant, "half", 14);
    streaming.status = MessageStatus::Streaming;
    s.insert_message(&streaming).await.unwrap();
    let all = s.context(chat, Limit::new(10).unwrap()).await.unwrap();
    assert_eq!(
        all,
        vec![
            (Role::User, "one".to_owned()),
            (Role::Assistant, "two".to_owned()),
            (Role::User, "three".to_owned())
        ]
    );
    let last_two = s.context(chat, Limit::new(2).unwrap()).await.unwrap();
    assert_eq!(
        last_two,
        vec![(Role::Assistant, "two".to_owned()), (Role::User, "three".to_owned())]
    );
}

/// Deleting one message, and every message after a point.
pub async fn message_deletes(s: &dyn FullStore) {
    let (_, chat) = setup(s).await;
    for n in 0..5u128 {
        s.insert_message(&message(100 + n, chat, Role::User, "x", 10 + n as i64))
            .await
            .unwrap();
    }
    s.delete_message(MessageId::from_uuid(Uuid::from_u128(104)))
        .await
        .unwrap();
    assert!(matches!(
        s.delete_message(MessageId::from_uuid(Uuid::from_u128(104))).await,
        Err(StoreError::NotFound)
    ));
    let pivot = s
        .message(MessageId::from_uuid(Uuid::from_u128(101)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.delete_messages_after(chat, pivot.cursor()).await.unwrap(), 2);
    let left: Vec<u128> = s
        .list_messages(&page(chat, 100))
        .await
        .unwrap()
        .iter()
        .map(|m| m.id.as_uuid().as_u128())
        .collect();
    assert_eq!(left, vec![101, 100]);
}

/// Deleting a chat deletes its messages and votes.
pub async fn chat_delete_cascades_to_messages(s: &dyn FullStore) {
    let (user, chat) = setup(s).await;
    let m = message(100, chat, Role::Assistant, "x", 10);
    s.insert_message(&m).await.unwrap();
    let vote = Vote {
        chat_id: chat,
        message_id: m.id,
        user_id: user,
        kind: VoteKind::Up,
        updated_at: Timestamp::from_millis(11),
    };
    s.upsert_vote(&vote).await.unwrap();
    s.delete_chat(chat).await.unwrap();
    assert_eq!(s.message(m.id).await.unwrap(), None);
    assert!(s.votes(chat).await.unwrap().is_empty());
}

/// Messages left streaming are found, oldest first.
pub async fn streaming_messages_are_found(s: &dyn FullStore) {
    let (_, chat) = setup(s).await;
    let mut a = message(100, chat, Role::Assistant, "", 20);
    a.status = MessageStatus::Streaming;
    let mut b = message(101, chat, Role::Assistant, "", 10);
    b.status = MessageStatus::Streaming;
    s.insert_message(&a).await.unwrap();
    s.insert_message(&b).await.unwrap();
    s.insert_message(&message(102, chat, Role::User, "x", 5)).await.unwrap();
    let ids: Vec<u128> = s
        .streaming_messages()
        .await
        .unwrap()
        .iter()
        .map(|m| m.id.as_uuid().as_u128())
        .collect();
    assert_eq!(ids, vec![101, 100]);
}

/// A vote is one per user and message, changed by a second vote; missing messages are NotFound.
pub async fn votes_upsert(s: &dyn FullStore) {
    let (user, chat) = setup(s).await;
    let m = message(100, chat, Role::Assistant, "x", 10);
    s.insert_message(&m).await.unwrap();
    let mut vote = Vote {
        chat_id: chat,
        message_id: m.id,
        user_id: user,
        kind: VoteKind::Up,
        updated_at: Timestamp::from_millis(11),
    };
    s.upsert_vote(&vote).await.unwrap();
    vote.kind = VoteKind::Down;
    vote.updated_at = Timestamp::from_millis(12);
    s.upsert_vote(&vote).await.unwrap();
    assert_eq!(s.votes(chat).await.unwrap(), vec![vote.clone()]);
    vote.message_id = MessageId::from_uuid(Uuid::from_u128(999));
    assert!(matches!(s.upsert_vote(&vote).await, Err(StoreError::NotFound)));
}

/// Chat search also looks into message text.
pub async fn chat_search_includes_message_text(s: &dyn FullStore) {
    let (user, chat) = setup(s).await;
    s.insert_message(&message(100, chat, Role::User, "tell me about Ferris the crab", 10))
        .await
        .unwrap();
    let q = ChatListQuery {
        owner: user,
        limit: Limit::new(10).unwrap(),
        after: None,
        search: Some(SearchText::parse("FERRIS").unwrap()),
    };
    assert_eq!(s.list_chats(&q).await.unwrap().len(), 1);
    let q = ChatListQuery {
        search: Some(SearchText::parse("lobster").unwrap()),
        ..q
    };
    assert!(s.list_chats(&q).await.unwrap().is_empty());
}

/// Daily counts add up per user and day.
pub async fn usage_counts_per_day(s: &dyn FullStore) {
    let (user, _) = setup(s).await;
    assert_eq!(s.count_message(user, 100, 2).await.unwrap(), Some(1));
    assert_eq!(s.count_message(user, 100, 2).await.unwrap(), Some(2));
    assert_eq!(
        s.count_message(user, 100, 2).await.unwrap(),
        None,
        "the limit is reached"
    );
    assert_eq!(
        s.count_message(user, 100, 3).await.unwrap(),
        Some(3),
        "a higher limit lets one more in"
    );
    assert_eq!(
        s.count_message(user, 101, 0).await.unwrap(),
        None,
        "a zero limit refuses all"
    );
    assert_eq!(s.count_message(user, 101, 5).await.unwrap(), Some(1));
    s.add_tokens(
        user,
        100,
        Usage {
            input_tokens: 5,
            output_tokens: 6,
        },
    )
    .await
    .unwrap();
    s.add_tokens(
        user,
        100,
        Usage {
            input_tokens: 1,
            output_tokens: 1,
        },
    )
    .await
    .unwrap();
    let u = s.daily_usage(user, 100).await.unwrap();
    assert_eq!((u.messages, u.input_tokens, u.output_tokens), (3, 6, 7));
    assert_eq!(s.daily_usage(user, 7).await.unwrap().messages, 0);
}

/// A send's writes go in together, counted against the quota, and all or nothing.
pub async fn turns_are_counted_and_all_or_nothing(s: &dyn FullStore) {
    let (user, chat) = setup(s).await;
    let quota = QuotaCharge {
        user,
        day: 100,
        limit: 2,
    };
    let q1 = message(1, chat, Role::User, "first", 10);
    let mut a1 = message(2, chat, Role::Assistant, "", 11);
    a1.status = MessageStatus::Streaming;
    a1.parts.clear();
    let turn = Turn {
        quota,
        question: Some(&q1),
        replaces: None,
        answer: &a1,
    };
    assert_eq!(s.insert_turn(&turn).await.unwrap(), Some(1));
    let stored = s.list_messages(&page(chat, 10)).await.unwrap();
    assert_eq!(stored, vec![a1.clone(), q1.clone()], "newest first, exactly as given");
    assert_eq!(
        s.chat(chat).await.unwrap().unwrap().updated_at,
        Timestamp::from_millis(11)
    );

    // Regenerating: the old answer goes, the new one comes, one more message is counted.
    let a2 = message(3, chat, Role::Assistant, "again", 12);
    s.upsert_vote(&Vote {
        chat_id: chat,
        message_id: a1.id,
        user_id: user,
        kind: VoteKind::Up,
        updated_at: Timestamp::from_millis(11),
    })
    .await
    .unwrap();
    let regenerate = Turn {
        quota,
        question: None,
        replaces: Some(a1.id),
        answer: &a2,
    };
    assert_eq!(s.insert_turn(&regenerate).await.unwrap(), Some(2));
    assert_eq!(
        s.list_messages(&page(chat, 10)).await.unwrap(),
        vec![a2.clone(), q1.clone()]
    );
    assert!(
        s.votes(chat).await.unwrap().is_empty(),
        "the old answer's votes went with it"
    );

    // The limit is reached: nothing changes.
    let q3 = message(4, chat, Role::User, "third", 13);
    let a3 = message(5, chat, Role::Assistant, "x", 14);
    let over = Turn {
        quota,
        question: Some(&q3),
        replaces: None,
        answer: &a3,
    };
    assert_eq!(s.insert_turn(&over).await.unwrap(), None);
    assert_eq!(s.list_messages(&page(chat, 10)).await.unwrap().len(), 2);
    assert_eq!(
        s.chat(chat).await.unwrap().unwrap().updated_at,
        Timestamp::from_millis(12)
    );

    // A failure after the count (the message to replace is gone) undoes the count too.
    let roomy = QuotaCharge { limit: 10, ..quota };
    let failing = Turn {
        quota: roomy,
        question: Some(&q3),
        replaces: Some(a1.id),
        answer: &a3,
    };
    assert!(matches!(s.insert_turn(&failing).await, Err(StoreError::NotFound)));
    assert_eq!(s.list_messages(&page(chat, 10)).await.unwrap().len(), 2);
    assert_eq!(
        s.daily_usage(user, 100).await.unwrap().messages,
        2,
        "the failed turn was not counted"
    );
    // So is a taken id, and a chat that does not exist.
    let taken = Turn {
        quota: roomy,
        question: Some(&q3),
        replaces: None,
        answer: &a2,
    };
    assert!(matches!(s.insert_turn(&taken).await, Err(StoreError::Conflict(_))));
    let elsewhere = ChatId::from_uuid(Uuid::from_u128(77));
    let (q4, a4) = (
        message(6, elsewhere, Role::User, "?", 15),
        message(7, elsewhere, Role::Assistant, "!", 16),
    );
    let nowhere = Turn {
        quota: roomy,
        question: Some(&q4),
        replaces: None,
        answer: &a4,
    };
    assert!(matches!(s.insert_turn(&nowhere).await, Err(StoreError::NotFound)));
    assert_eq!(s.daily_usage(user, 100).await.unwrap().messages, 2);
    assert_eq!(s.message(q3.id).await.unwrap(), None);
}

/// Every message-store behaviour, for a harness that runs them itself: each on a fresh adapter.
pub fn cases() -> Vec<Case<dyn FullStore>> {
    cases![
        message_round_trips,
        message_update,
        message_pages,
        context_reads_the_latest_finished_texts,
        message_deletes,
        chat_delete_cascades_to_messages,
        streaming_messages_are_found,
        votes_upsert,
        chat_search_includes_message_text,
        usage_counts_per_day,
        turns_are_counted_and_all_or_nothing,
    ]
}

/// Expands to one test per message-store behaviour, under `#[runner]` when one is given first (else
/// `#[tokio::test]`); `$make` builds a fresh empty
/// store implementing [`FullStore`].
#[macro_export]
macro_rules! message_store_contract_tests {
    (@each [$runner:meta] $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[$runner]
            async fn $name() {
                let store = $make;
                $crate::testing::messages::$name(&store).await;
            }
        )*
    };
    (#[$runner:meta] $make:expr) => {
        $crate::message_store_contract_tests!(@each [$runner] $make;
            message_round_trips, message_update, message_pages, context_reads_the_latest_finished_texts, message_deletes,
            chat_delete_cascades_to_messages, streaming_messages_are_found, votes_upsert,
            chat_search_includes_message_text, usage_counts_per_day, turns_are_counted_and_all_or_nothing);
    };
    ($make:expr) => {
        $crate::message_store_contract_tests!(#[tokio::test] $make);
    };
}
