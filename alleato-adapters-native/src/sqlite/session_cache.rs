//! Sessions read from process memory, written through to the store: every authenticated request
//! reads its session, and natively one process owns the database, so a cache it invalidates on
//! its own writes is as exact as the store. Never for a store other processes write (the Worker's
//! D1 is written by every isolate).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use alleato_core::Timestamp;
use alleato_core::auth::{Session, SessionStore};
use alleato_core::id::{SessionId, UserId};
use alleato_core::store::StoreError;
use async_trait::async_trait;

/// Sessions kept at most; past it the cache starts again empty.
const MAX_CACHED: usize = 100_000;

/// A [`SessionStore`] in front of another that only this process writes.
///
/// A read that misses goes to the store and keeps what it found, unless a write happened
/// meanwhile (a version counter says so); every write goes to the store first, then drops what
/// it changed from memory. A logout or a rotation is therefore seen by the next read.
pub struct CachedSessions {
    store: Arc<dyn SessionStore>,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// Bumped by every write, so that a read that overlapped one keeps nothing.
    version: u64,
    sessions: HashMap<SessionId, Session>,
}

impl CachedSessions {
    /// Caches the sessions of `store`, which no other process may write.
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Self {
            store,
            cache: Mutex::new(Cache::default()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After a write (done or failed): forget the sessions it may have changed, and any read in
    /// flight.
    fn written(&self, changed: impl Fn(&Session) -> bool) {
        let mut cache = self.cache();
        cache.version += 1;
        cache.sessions.retain(|_, s| !changed(s));
    }
}

#[async_trait]
impl SessionStore for CachedSessions {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.store.create_session(session).await
    }

    async fn session(&self, id: SessionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let version = {
            let cache = self.cache();
            if let Some(s) = cache.sessions.get(&id) {
                return Ok((s.expires_at > now).then(|| s.clone()));
            }
            cache.version
        };
        let found = self.store.session(id, now).await?;
        if let Some(session) = &found {
            let mut cache = self.cache();
            if cache.version == version {
                if cache.sessions.len() >= MAX_CACHED {
                    cache.sessions.clear();
                }
                cache.sessions.insert(id, session.clone());
            }
        }
        Ok(found)
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
        let rotated = self
            .store
            .rotate_refresh(id, presented, next, successor, expires_at, now)
            .await;
        self.written(|s| s.id == id);
        rotated
    }

    async fn spent_successor(&self, id: SessionId, hash: &str, since: Timestamp) -> Result<Option<String>, StoreError> {
        self.store.spent_successor(id, hash, since).await
    }

    async fn is_spent(&self, id: SessionId, hash: &str) -> Result<bool, StoreError> {
        self.store.is_spent(id, hash).await
    }

    async fn delete_session(&self, id: SessionId) -> Result<(), StoreError> {
        let deleted = self.store.delete_session(id).await;
        self.written(|s| s.id == id);
        deleted
    }

    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        let deleted = self.store.delete_user_sessions(user).await;
        self.written(|s| s.user == user);
        deleted
    }
}
