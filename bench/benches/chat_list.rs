//! The SQLite chat list (`ChatStore::list_chats`, first page of 20) through `SqliteStore`: one
//! call at a time, and 64 at once as the HTTP list benchmark drives it; a lookup by id, which is
//! mostly the cost of handing a query to a connection thread and back; and the same chat-list
//! SQL on a bare rusqlite connection, with `LIMIT ?2` bound as the store binds it and with the
//! query planner stability guarantee on, to show what re-preparing the statement on every
//! execution costs.

use std::time::Duration;

use alleato_adapters_native::{OsRng, SqliteStore, SystemClock};
use alleato_core::auth::{User, UserKind, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatListQuery, ChatStore, ChatTitle, Visibility};
use alleato_core::page::Limit;
use alleato_core::ports::Clock;
use alleato_core::{ChatId, Timestamp, UserId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::config::DbConfig;

async fn seeded(dir: &std::path::Path, chats: usize) -> (SqliteStore, UserId, ChatId) {
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
    let mut last = None;
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
        last = Some(chat.id);
    }
    (store, owner, last.expect("at least one chat"))
}

/// The store's first-page chat list, as `sql.rs` writes it.
const LIST_SQL: &str = "SELECT id, user_id, title, visibility, model, created_at, updated_at FROM chats \
    WHERE user_id = ?1 ORDER BY updated_at DESC, id DESC LIMIT ?2";

fn run_list(conn: &rusqlite::Connection, sql: &str, owner: &str) -> usize {
    let mut stmt = conn.prepare_cached(sql).expect("prepare");
    let mut rows = stmt.query(rusqlite::params![owner, 21]).expect("query");
    let mut n = 0;
    while let Some(row) = rows.next().expect("row") {
        let title: String = row.get(2).expect("title");
        n += usize::from(!title.is_empty());
    }
    n
}

fn chat_list(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, owner, chat) = rt.block_on(seeded(dir.path(), 25));
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
    group.sample_size(100);
    group.throughput(Throughput::Elements(1));
    group.bench_function("chat_by_id", |b| {
        b.to_async(&rt)
            .iter(|| async { assert!(store.chat(chat).await.expect("chat").is_some()) });
    });
    group.finish();

    // The same SQL on a bare connection, on this thread: no queue, no thread hand-off.
    let owner_text = owner.to_string();
    let plain = rusqlite::Connection::open(dir.path().join("bench.db")).expect("open");
    let stable = rusqlite::Connection::open(dir.path().join("bench.db")).expect("open");
    stable
        .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .expect("QPSG");
    let literal = LIST_SQL.replace("LIMIT ?2", "LIMIT 21");
    let mut group = c.benchmark_group("rusqlite_chat_list_sql");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("limit_bound_as_parameter", |b| {
        b.iter(|| run_list(&plain, LIST_SQL, &owner_text))
    });
    group.bench_function("limit_bound_with_qpsg", |b| {
        b.iter(|| run_list(&stable, LIST_SQL, &owner_text))
    });
    group.bench_function("limit_as_literal", |b| {
        b.iter(|| {
            let mut stmt = plain.prepare_cached(&literal).expect("prepare");
            let mut rows = stmt.query(rusqlite::params![owner_text]).expect("query");
            let mut n = 0;
            while let Some(row) = rows.next().expect("row") {
                let title: String = row.get(2).expect("title");
                n += usize::from(!title.is_empty());
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, chat_list);
criterion_main!(benches);
