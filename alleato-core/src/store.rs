//! The error shared by every record-storage port.

/// The error of the record-storage ports (`UserStore`, `ChatStore`, …).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record to change does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the string names the rule (`"email"`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The database could not be reached or is overloaded for now.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be read back as a domain value.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Any other failure of the backend.
    #[error("{adapter} storage failed: {source}")]
    Backend {
        /// Which adapter failed.
        adapter: &'static str,
        /// The adapter's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
