//! Sessions in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::auth::{SPENT_REFRESH_KEPT, Session, SessionStore};
use crate::id::{SessionId, UserId};
use crate::store::StoreError;
use crate::sync::lock;
use crate::time::Timestamp;

/// Sessions and their spent refresh hashes in memory; every operation is atomic under one
/// lock.
#[derive(Debug, Default)]
pub struct MemorySessions {
    inner: Mutex<HashMap<SessionId, Entry>>,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    /// The latest spent refresh hashes with when they were spent and their successors, oldest
    /// first.
    spent: VecDeque<(String, Timestamp, String)>,
}

impl MemorySessions {
    /// No sessions yet.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut sessions = lock(&self.inner);
        if sessions.contains_key(&session.id) {
            return Err(StoreError::Conflict("session"));
        }
        let entry = Entry {
            session: session.clone(),
            spent: VecDeque::new(),
        };
        sessions.insert(session.id, entry);
        Ok(())
    }

    async fn session(&self, id: SessionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.inner)
            .get(&id)
            .filter(|e| e.session.expires_at > now)
            .map(|e| e.session.clone()))
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
        let mut sessions = lock(&self.inner);
        let Some(e) = sessions
            .get_mut(&id)
            .filter(|e| e.session.expires_at > now && e.session.refresh_hash == presented)
        else {
            return Ok(false);
        };
        let spent = std::mem::replace(&mut e.session.refresh_hash, next.to_owned());
        e.session.expires_at = expires_at;
        e.spent.push_back((spent, now, successor.to_owned()));
        if e.spent.len() > SPENT_REFRESH_KEPT {
            e.spent.pop_front();
        }
        Ok(true)
    }

    async fn is_spent(&self, id: SessionId, hash: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.inner)
            .get(&id)
            .is_some_and(|e| e.spent.iter().any(|(s, _, _)| s == hash)))
    }

    async fn spent_successor(&self, id: SessionId, hash: &str, since: Timestamp) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.inner).get(&id).and_then(|e| {
            e.spent
                .iter()
                .find(|(s, at, _)| s == hash && *at >= since)
                .map(|(_, _, successor)| successor.clone())
        }))
    }

    async fn delete_session(&self, id: SessionId) -> Result<(), StoreError> {
        lock(&self.inner).remove(&id);
        Ok(())
    }

    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        let mut sessions = lock(&self.inner);
        let before = sessions.len();
        sessions.retain(|_, e| e.session.user != user);
        Ok((before - sessions.len()) as u64)
    }
}
