//! Users, chats, messages, votes, daily usage, stream logs and the session cache in Cloudflare
//! D1, with the same SQL text as the native SQLite adapter (`alleato_sql`) and the same schema
//! (`migrations/`, applied by `wrangler d1 migrations apply`).
//!
//! D1 has no interactive transactions: every write is one statement, or one `batch()` (an
//! implicit transaction that rolls back entirely when a statement fails) whose guards live in the
//! SQL.

mod generations;
mod model;
mod sessions;
mod store;
mod streams;

use std::fmt;
use std::sync::Arc;

use alleato_core::store::StoreError;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

pub use generations::D1Generations;
pub use streams::D1StreamHub;

use crate::send::js;

/// The adapter name in [`StoreError::Backend`].
const ADAPTER: &str = "d1";

/// A D1 database: the [`UserStore`](alleato_core::auth::UserStore),
/// [`ChatStore`](alleato_core::chats::ChatStore),
/// [`MessageStore`](alleato_core::messages::MessageStore) and
/// [`UsageStore`](alleato_core::messages::UsageStore). Cloning is cheap.
#[derive(Clone)]
pub struct D1Store {
    db: Arc<D1Database>,
}

impl fmt::Debug for D1Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("D1Store").finish_non_exhaustive()
    }
}

/// A value bound to a `?N` parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Null,
    Text(String),
    /// INTEGER: D1 takes JavaScript numbers, exact up to 2^53 (milliseconds since the epoch,
    /// counts and days all fit).
    Int(i64),
}

impl From<&Arg> for JsValue {
    fn from(a: &Arg) -> Self {
        match a {
            Arg::Null => JsValue::NULL,
            Arg::Text(s) => JsValue::from_str(s),
            Arg::Int(n) => JsValue::from_f64(*n as f64),
        }
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// A UUID as the schema stores it: lower-case hyphenated text.
pub(crate) fn id(u: &uuid::Uuid) -> Arg {
    Arg::Text(u.hyphenated().to_string())
}

/// A statement and its arguments, not yet bound (binding makes JavaScript values, which only
/// live inside the future that runs them).
pub(crate) struct Query {
    sql: &'static str,
    args: Vec<Arg>,
}

impl Query {
    pub(crate) fn new(sql: &'static str, args: Vec<Arg>) -> Self {
        Self { sql, args }
    }
}

/// A D1 failure as text: `worker::Error` holds a `JsValue`, which may not leave the adapter.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct D1Failure(pub(crate) String);

impl D1Store {
    /// The store on a D1 binding.
    pub fn new(db: D1Database) -> Self {
        Self { db: Arc::new(db) }
    }

    fn prepare(db: &D1Database, q: &Query) -> Result<D1PreparedStatement, StoreError> {
        let args: Vec<JsValue> = q.args.iter().map(JsValue::from).collect();
        db.prepare(q.sql).bind(&args).map_err(|e| map_error(&e))
    }

    /// Every row of a query, each as its columns in order.
    pub(crate) async fn rows(&self, q: Query) -> Result<Vec<Vec<Value>>, StoreError> {
        let db = self.db.clone();
        js(async move {
            let stmt = Self::prepare(&db, &q)?;
            stmt.raw::<Value>().await.map_err(|e| map_error(&e))
        })
        .await
    }

    /// The first row of a query, or `None`.
    pub(crate) async fn row(&self, q: Query) -> Result<Option<Vec<Value>>, StoreError> {
        Ok(self.rows(q).await?.into_iter().next())
    }

    /// Runs a write and returns how many rows it changed.
    pub(crate) async fn run(&self, q: Query) -> Result<usize, StoreError> {
        let db = self.db.clone();
        js(async move {
            let stmt = Self::prepare(&db, &q)?;
            let result = stmt.run().await.map_err(|e| map_error(&e))?;
            changes(&result)
        })
        .await
    }

    /// Runs a write of one row, and turns "no row changed" into `NotFound`.
    pub(crate) async fn change_one(&self, q: Query) -> Result<(), StoreError> {
        match self.run(q).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Runs statements as one batch (one transaction: all or nothing) and returns each one's
    /// outcome.
    pub(crate) async fn batch(&self, queries: Vec<Query>) -> Result<Vec<Outcome>, StoreError> {
        let db = self.db.clone();
        js(async move {
            let stmts = queries
                .iter()
                .map(|q| Self::prepare(&db, q))
                .collect::<Result<Vec<_>, _>>()?;
            let results = db.batch(stmts).await.map_err(|e| map_error(&e))?;
            results
                .iter()
                .map(|r| {
                    Ok(Outcome {
                        changes: changes(r)?,
                        rows: r.results::<Value>().map_err(|e| map_error(&e))?,
                    })
                })
                .collect()
        })
        .await
    }
}

/// What one statement of a batch did.
pub(crate) struct Outcome {
    /// Rows changed.
    pub(crate) changes: usize,
    /// Rows returned, as JSON objects by column name.
    pub(crate) rows: Vec<Value>,
}

fn changes(result: &worker::D1Result) -> Result<usize, StoreError> {
    if let Some(error) = result.error() {
        return Err(classify(&error));
    }
    let meta = result.meta().map_err(|e| map_error(&e))?;
    Ok(meta.and_then(|m| m.changes).unwrap_or(0))
}

/// Maps a D1 failure to the port's error, by its message (D1 reports SQLite's text).
pub(crate) fn map_error(e: &worker::Error) -> StoreError {
    let text = match e {
        worker::Error::D1(d1) => d1.cause(),
        e => e.to_string(),
    };
    classify(&text)
}

fn classify(text: &str) -> StoreError {
    if let Some(rule) = conflict_rule(text) {
        return StoreError::Conflict(rule);
    }
    // A write that refers to a row that is gone (a chat deleted under a send).
    if text.contains("FOREIGN KEY constraint failed") {
        return StoreError::NotFound;
    }
    if text.contains("SQLITE_BUSY") || text.contains("overloaded") || text.contains("Network connection lost") {
        return StoreError::Unavailable(text.to_owned());
    }
    StoreError::Backend {
        adapter: ADAPTER,
        source: Box::new(D1Failure(text.to_owned())),
    }
}

/// The port's name for the uniqueness rule a constraint message names (as the SQLite adapter).
fn conflict_rule(text: &str) -> Option<&'static str> {
    let (_, rest) = text.split_once("UNIQUE constraint failed: ")?;
    let table_column = rest.split(|c: char| c == ':' || c.is_whitespace()).next()?;
    match table_column {
        "users.email" => Some("email"),
        "users.id" => Some("user"),
        "chats.id" => Some("chat"),
        "messages.id" => Some("message"),
        "streams.id" => Some("stream"),
        "sessions.id" => Some("session"),
        _ => None,
    }
}

pub(crate) fn corrupt(column: &str, why: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {why}"))
}
