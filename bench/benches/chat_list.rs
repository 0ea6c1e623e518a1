//! The SQLite chat list (`ChatStore::list_chats`, first page of 20) through `SqliteStore`: one
//! call at a time, and 64 at once as the HTTP list benchmark drives it.

use std::time::Duration;

use alleato_adapters_native::{OsRng, SqliteStore, SystemClock};
use alleato_core::auth::{User, UserKind, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatListQuery, ChatStore, ChatTitle, Visibility};
use alleato_core::page::Limit;
use alleato_core::ports::Clock;
use alleato_core::{ChatId, Timestamp, UserId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

async fn seeded(dir: &std::path::Path, chats: usize) -> (SqliteStore, UserId) {
    let store = SqliteStore::open(dir.join("bench.db")).await.expect("open");
    let (clock, rng) = (SystemClock, OsRng);
    let owner = UserId::generate(&clock, &rng);
    let user = User {
        id: owner,
        email: None,
        name: None,
        kind: UserKind::Guest,
        created_at: clock.now(),
    };
    store
        .insert_user(&UserRecord {
            user,
            password_hash: None,
            daily_message_limit: None,
        })
        .await
        .expect("user");
    for i in 0..chats {
        let at = Timestamp::from_millis(clock.now().as_millis() + i as i64);
        let chat = Chat {
            id: ChatId::generate(&clock, &rng),
            user_id: owner,
            title: ChatTitle::parse(&format!("Chat number {i}")).expect("title"),
            visibility: Visibility::Private,
            model: "echo".to_owned(),
            created_at: at,
            updated_at: at,
        };
        store.insert_chat(&chat).await.expect("chat");
    }
    (store, owner)
}

fn chat_list(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, owner) = rt.block_on(seeded(dir.path(), 25));
    let query = ChatListQuery {
        owner,
        limit: Limit::DEFAULT,
        after: None,
        search: None,
    };
    let mut group = c.benchmark_group("sqlite_list_chats");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("first_page_of_20", |b| {
        b.to_async(&rt)
            .iter(|| async { assert_eq!(store.list_chats(&query).await.expect("list").len(), 21) });
    });
    group.sample_size(50);
    group.throughput(Throughput::Elements(64));
    group.bench_function("64_concurrent_first_pages", |b| {
        b.to_async(&rt).iter(|| async {
            let calls = (0..64).map(|_| {
                let (store, query) = (store.clone(), query.clone());
                tokio::spawn(async move { store.list_chats(&query).await.expect("list").len() })
            });
            for call in calls.collect::<Vec<_>>() {
                assert_eq!(call.await.expect("task"), 21);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, chat_list);
criterion_main!(benches);
