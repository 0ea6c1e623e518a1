//! The core's port contract suites, run against every native adapter of each port.

use alleato_adapters_native::SqliteStore;
use alleato_core::Timestamp;
use alleato_core::auth::{DisplayName, Email, Session, SessionStore, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatListQuery, ChatStore};
use alleato_core::id::{ChatId, MessageId, SessionId, UserId};
use alleato_core::llm::Usage;
use alleato_core::messages::{DailyUsage, Message, MessageListQuery, MessageStore, Role, Turn, UsageStore, Vote};
use alleato_core::page::{Cursor, Limit};
use alleato_core::store::StoreError;
use async_trait::async_trait;
use tempfile::TempDir;

mod memory_store {
    use alleato_core::memory::MemoryStore;

    alleato_core::store_contract_tests!(MemoryStore::new());
}

mod sqlite_store {
    alleato_core::store_contract_tests!(super::TempSqlite::open().await);
}

mod memory_message_store {
    use alleato_core::memory::MemoryStore;

    alleato_core::message_store_contract_tests!(MemoryStore::new());
}

mod sqlite_message_store {
    alleato_core::message_store_contract_tests!(super::TempSqlite::open().await);
}

mod memory_cache_and_counters {
    use std::sync::Arc;

    use alleato_core::Timestamp;
    use alleato_core::memory::{ManualClock, MemoryCache, MemoryCounters};
    use alleato_core::testing::Capabilities;
    use alleato_core::testing::ports as testing;

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)))
    }

    #[tokio::test]
    async fn cache_ttl_and_delete() {
        let clock = clock();
        let cache = MemoryCache::new(clock.clone());
        testing::cache_ttl_and_delete(&cache, &Capabilities::manual_clock(clock)).await;
    }

    #[tokio::test]
    async fn counters_count_exactly_per_window() {
        let clock = clock();
        let counters = MemoryCounters::new(clock.clone());
        testing::counters_count_exactly_per_window(&counters, &Capabilities::manual_clock(clock)).await;
    }
}

mod sqlite_cache {
    use std::sync::Arc;
    use std::time::Duration;

    use alleato_adapters_native::{SqliteCache, SqliteStore};
    use alleato_core::Timestamp;
    use alleato_core::memory::ManualClock;
    use alleato_core::ports::KvCache;
    use alleato_core::testing::Capabilities;
    use alleato_core::testing::ports as testing;

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)))
    }

    #[tokio::test]
    async fn cache_ttl_and_delete() {
        let db = super::TempSqlite::open().await;
        let clock = clock();
        let cache = SqliteCache::new(&db.store, clock.clone());
        testing::cache_ttl_and_delete(&cache, &Capabilities::manual_clock(clock)).await;
    }

    #[tokio::test]
    async fn entries_survive_a_restart() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("alleato.db");
        let clock = clock();
        {
            let store = SqliteStore::open(&path).await.unwrap();
            let cache = SqliteCache::new(&store, clock.clone());
            cache
                .put("session:a", b"\x00bytes\xff", Duration::from_secs(60))
                .await
                .unwrap();
            cache.put("session:b", b"gone", Duration::from_secs(60)).await.unwrap();
            cache.delete("session:b").await.unwrap();
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let cache = SqliteCache::new(&store, clock.clone());
        assert_eq!(
            cache.get("session:a").await.unwrap().as_deref(),
            Some(&b"\x00bytes\xff"[..])
        );
        assert_eq!(cache.get("session:b").await.unwrap(), None);
        clock.advance(Duration::from_secs(61));
        assert_eq!(cache.get("session:a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn purge_deletes_only_expired_entries() {
        let db = super::TempSqlite::open().await;
        let clock = clock();
        let cache = SqliteCache::new(&db.store, clock.clone());
        for i in 0..600 {
            cache
                .put(&format!("short:{i}"), b"v", Duration::from_secs(10))
                .await
                .unwrap();
        }
        cache.put("long", b"v", Duration::from_secs(100)).await.unwrap();
        assert_eq!(cache.purge_expired().await.unwrap(), 0);
        clock.advance(Duration::from_secs(10));
        // More than one purge chunk.
        assert_eq!(cache.purge_expired().await.unwrap(), 600);
        assert_eq!(cache.purge_expired().await.unwrap(), 0);
        assert_eq!(cache.get("long").await.unwrap().as_deref(), Some(&b"v"[..]));
        // A purged key can be written again.
        cache.put("short:1", b"again", Duration::from_secs(10)).await.unwrap();
        assert_eq!(cache.get("short:1").await.unwrap().as_deref(), Some(&b"again"[..]));
    }
}

mod layered_cache {
    use std::sync::Arc;
    use std::time::Duration;

    use alleato_adapters_native::{SqliteCache, SqliteStore};
    use alleato_core::Timestamp;
    use alleato_core::cache::LayeredCache;
    use alleato_core::memory::{ManualClock, MemoryCache};
    use alleato_core::ports::KvCache;
    use alleato_core::testing::Capabilities;
    use alleato_core::testing::ports as testing;

    fn layered(store: &SqliteStore, clock: &Arc<ManualClock>) -> LayeredCache {
        LayeredCache::new(
            Arc::new(MemoryCache::new(clock.clone())),
            Arc::new(SqliteCache::new(store, clock.clone())),
        )
    }

    #[tokio::test]
    async fn cache_ttl_and_delete() {
        let db = super::TempSqlite::open().await;
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let cache = layered(&db.store, &clock);
        testing::cache_ttl_and_delete(&cache, &Capabilities::manual_clock(clock)).await;
    }

    #[tokio::test]
    async fn entries_and_deletes_survive_a_restart() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("alleato.db");
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        {
            let store = SqliteStore::open(&path).await.unwrap();
            let cache = layered(&store, &clock);
            cache.put("session:a", b"a", Duration::from_secs(3600)).await.unwrap();
            cache.put("session:b", b"b", Duration::from_secs(3600)).await.unwrap();
            cache.delete("session:b").await.unwrap();
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let cache = layered(&store, &clock);
        assert_eq!(cache.get("session:a").await.unwrap().as_deref(), Some(&b"a"[..]));
        assert_eq!(cache.get("session:b").await.unwrap(), None);
        cache.delete("session:a").await.unwrap();
        assert_eq!(cache.get("session:a").await.unwrap(), None);
    }
}

/// An `SqliteStore` on a file in a temporary directory that lives as long as the store.
struct TempSqlite {
    store: SqliteStore,
    _dir: TempDir,
}

impl TempSqlite {
    async fn open() -> Self {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("alleato.db")).await.unwrap();
        Self { store, _dir: dir }
    }
}

// The contract functions take `&dyn TestStore`: delegate to the store.

#[async_trait]
impl UserStore for TempSqlite {
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.store.insert_user(user).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.store.user_by_id(id).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        self.store.user_by_email(email).await
    }

    async fn upgrade_guest(
        &self,
        id: UserId,
        email: &Email,
        name: Option<&DisplayName>,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        self.store.upgrade_guest(id, email, name, password_hash).await
    }
}

#[async_trait]
impl ChatStore for TempSqlite {
    async fn insert_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        self.store.insert_chat(chat).await
    }

    async fn chat(&self, id: ChatId) -> Result<Option<Chat>, StoreError> {
        self.store.chat(id).await
    }

    async fn update_chat(&self, chat: &Chat) -> Result<(), StoreError> {
        self.store.update_chat(chat).await
    }

    async fn delete_chat(&self, id: ChatId) -> Result<(), StoreError> {
        self.store.delete_chat(id).await
    }

    async fn discard_empty_chat(&self, id: ChatId) -> Result<(), StoreError> {
        self.store.discard_empty_chat(id).await
    }

    async fn count_chats(&self, owner: UserId) -> Result<u64, StoreError> {
        self.store.count_chats(owner).await
    }

    async fn list_chats(&self, query: &ChatListQuery) -> Result<Vec<Chat>, StoreError> {
        self.store.list_chats(query).await
    }
}

#[async_trait]
impl MessageStore for TempSqlite {
    async fn insert_message(&self, message: &Message) -> Result<(), StoreError> {
        self.store.insert_message(message).await
    }

    async fn insert_turn(&self, turn: &Turn<'_>) -> Result<Option<u64>, StoreError> {
        self.store.insert_turn(turn).await
    }

    async fn update_message(&self, message: &Message) -> Result<(), StoreError> {
        self.store.update_message(message).await
    }

    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        self.store.message(id).await
    }

    async fn list_messages(&self, query: &MessageListQuery) -> Result<Vec<Message>, StoreError> {
        self.store.list_messages(query).await
    }

    async fn context(&self, chat_id: ChatId, limit: Limit) -> Result<Vec<(Role, String)>, StoreError> {
        self.store.context(chat_id, limit).await
    }

    async fn delete_message(&self, id: MessageId) -> Result<(), StoreError> {
        self.store.delete_message(id).await
    }

    async fn delete_messages_after(&self, chat_id: ChatId, after: Cursor) -> Result<u64, StoreError> {
        self.store.delete_messages_after(chat_id, after).await
    }

    async fn streaming_messages(&self) -> Result<Vec<Message>, StoreError> {
        self.store.streaming_messages().await
    }

    async fn upsert_vote(&self, vote: &Vote) -> Result<(), StoreError> {
        self.store.upsert_vote(vote).await
    }

    async fn votes(&self, chat_id: ChatId) -> Result<Vec<Vote>, StoreError> {
        self.store.votes(chat_id).await
    }
}

#[async_trait]
impl UsageStore for TempSqlite {
    async fn count_message(&self, user: UserId, day: i64, limit: u64) -> Result<Option<u64>, StoreError> {
        self.store.count_message(user, day, limit).await
    }

    async fn add_tokens(&self, user: UserId, day: i64, usage: Usage) -> Result<(), StoreError> {
        self.store.add_tokens(user, day, usage).await
    }

    async fn daily_usage(&self, user: UserId, day: i64) -> Result<DailyUsage, StoreError> {
        self.store.daily_usage(user, day).await
    }
}

mod tokio_generations {
    alleato_core::generations_contract_tests!(alleato_adapters_native::spawn::tokio_generations());
}

#[async_trait]
impl SessionStore for TempSqlite {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.store.create_session(session).await
    }

    async fn session(&self, id: SessionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.store.session(id, now).await
    }

    async fn rotate_refresh(
        &self,
        id: SessionId,
        presented: &str,
        next: &str,
        successor: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.store
            .rotate_refresh(id, presented, next, successor, expires_at, now)
            .await
    }

    async fn spent_successor(&self, id: SessionId, hash: &str, since: Timestamp) -> Result<Option<String>, StoreError> {
        self.store.spent_successor(id, hash, since).await
    }

    async fn is_spent(&self, id: SessionId, hash: &str) -> Result<bool, StoreError> {
        self.store.is_spent(id, hash).await
    }

    async fn delete_session(&self, id: SessionId) -> Result<(), StoreError> {
        self.store.delete_session(id).await
    }

    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        self.store.delete_user_sessions(user).await
    }
}

mod memory_sessions {
    alleato_core::session_store_contract_tests!(alleato_core::memory::MemorySessions::new());
}

mod sqlite_sessions {
    use alleato_core::auth::UserStore;
    use alleato_core::testing::sessions::session_users;

    alleato_core::session_store_contract_tests!({
        let db = super::TempSqlite::open().await;
        for user in session_users() {
            db.store.insert_user(&user).await.unwrap();
        }
        db
    });
}

mod cached_sqlite_sessions {
    use std::sync::Arc;

    use alleato_adapters_native::sqlite::CachedSessions;
    use alleato_core::auth::UserStore;
    use alleato_core::testing::sessions::session_users;

    alleato_core::session_store_contract_tests!({
        let db = super::TempSqlite::open().await;
        for user in session_users() {
            db.store.insert_user(&user).await.unwrap();
        }
        CachedSessions::new(Arc::new(db))
    });
}

/// The suites' `cases()` serve a harness that runs behaviours itself (a Worker's, in workerd):
/// here, every stream-hub, session-store, cache and generations case on a fresh adapter.
mod cases_run_by_a_harness {
    use std::sync::Arc;

    use alleato_adapters_native::spawn::tokio_generations;
    use alleato_core::Timestamp;
    use alleato_core::generations::Generations;
    use alleato_core::memory::{ManualClock, MemoryCache, MemorySessions, MemoryStreamHub};
    use alleato_core::testing::{self, Capabilities};

    #[tokio::test]
    async fn every_case_passes_on_the_memory_adapters() {
        let real_time = Capabilities::real_time();
        for case in testing::streams::cases() {
            let hub = MemoryStreamHub::new(Arc::new(ManualClock::new(Timestamp::from_millis(1))));
            (case.run)(&hub, &real_time).await;
        }
        for case in testing::sessions::cases() {
            (case.run)(&MemorySessions::new(), &real_time).await;
        }
        for case in testing::ports::cache_cases() {
            // On the platform's clock, the suite leaves expiry out.
            let cache = MemoryCache::new(Arc::new(ManualClock::new(Timestamp::from_millis(1))));
            (case.run)(&cache, &real_time).await;
        }
        for case in testing::generations::cases() {
            let generations: Arc<dyn Generations> = Arc::new(tokio_generations());
            (case.run)(&generations, &real_time).await;
        }
        assert_eq!(testing::sessions::cases()[0].name, "session_create_and_read");
    }
}
