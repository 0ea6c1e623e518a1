//! The mutex helper production code uses.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, going on past a poisoned one. Shared by every in-memory structure of the core.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-changed in a way that matters
    // more than refusing all further requests would.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
