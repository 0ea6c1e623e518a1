//! The core's port contract suites, run against every native adapter of each port.

use alleato_adapters_native::SqliteStore;
use alleato_core::auth::{DisplayName, Email, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatListQuery, ChatStore};
use alleato_core::id::{ChatId, UserId};
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

mod memory_cache_and_counters {
    use std::sync::Arc;

    use alleato_core::Timestamp;
    use alleato_core::memory::{ManualClock, MemoryCache, MemoryCounters};
    use alleato_core::testing;

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)))
    }

    #[tokio::test]
    async fn cache_ttl_and_delete() {
        let clock = clock();
        let cache = MemoryCache::new(clock.clone());
        testing::cache_ttl_and_delete(&cache, &clock).await;
    }

    #[tokio::test]
    async fn counters_count_exactly_per_window() {
        let clock = clock();
        let counters = Arc::new(MemoryCounters::new(clock.clone()));
        testing::counters_count_exactly_per_window(counters, &clock).await;
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

    async fn list_chats(&self, query: &ChatListQuery) -> Result<Vec<Chat>, StoreError> {
        self.store.list_chats(query).await
    }
}
