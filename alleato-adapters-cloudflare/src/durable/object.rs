//! The counter Durable Object class, exported by the Worker as `AlleatoCounter`.

use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

use super::{Counted, CounterRequest};

/// The object's one table: the counters it holds (one, with one object per key).
const CREATE: &str = "CREATE TABLE IF NOT EXISTS counters (\
key TEXT NOT NULL PRIMARY KEY, total INTEGER NOT NULL, resets_at INTEGER NOT NULL)";

/// `key`, `by`, `resets_at` of a new window, `now`: adds `by`, or starts a new window when the
/// current one has ended (`resets_at <= now`). `SET` reads the row as it was, so both columns
/// see the old `resets_at`.
const INCREMENT: &str = "INSERT INTO counters (key, total, resets_at) VALUES (?, ?, ?) \
ON CONFLICT (key) DO UPDATE SET \
total = CASE WHEN resets_at <= ? THEN excluded.total ELSE total + excluded.total END, \
resets_at = CASE WHEN resets_at <= ? THEN excluded.resets_at ELSE resets_at END \
RETURNING total, resets_at";

/// `key`, `now`.
const GET: &str = "SELECT total, resets_at FROM counters WHERE key = ? AND resets_at > ?";

/// `now`: forgets ended windows.
const PURGE: &str = "DELETE FROM counters WHERE resets_at <= ?";

/// Remaining counters.
const COUNT: &str = "SELECT COUNT(*) AS n FROM counters";

/// A SQLite-backed Durable Object holding exact counters in fixed windows.
///
/// Increments run one at a time (a Durable Object handles one event at a time and its SQL is
/// synchronous), so two never see the same total. An alarm at the end of a window forgets it,
/// and deletes the object's storage once nothing is left.
#[durable_object(alarm)]
pub struct AlleatoCounter {
    state: State,
}

#[derive(Deserialize)]
struct Remaining {
    n: u64,
}

impl AlleatoCounter {
    fn increment(&self, key: &str, by: u64, window_ms: u64, now: i64) -> Result<Counted> {
        let sql = self.state.storage().sql();
        sql.exec(CREATE, None)?;
        let by = i64::try_from(by).unwrap_or(i64::MAX);
        let resets_at = now.saturating_add(i64::try_from(window_ms).unwrap_or(i64::MAX));
        let bindings = vec![key.into(), by.into(), resets_at.into(), now.into(), now.into()];
        let counted: Counted = sql.exec(INCREMENT, bindings)?.one()?;
        Ok(counted)
    }

    fn get(&self, key: &str, now: i64) -> Result<Counted> {
        let sql = self.state.storage().sql();
        sql.exec(CREATE, None)?;
        let rows: Vec<Counted> = sql.exec(GET, vec![key.into(), now.into()])?.to_array()?;
        Ok(rows.into_iter().next().unwrap_or(Counted {
            total: 0,
            resets_at: now,
        }))
    }

    /// Wakes up when the window ends, to forget it.
    async fn schedule_cleanup(&self, resets_at: i64) -> Result<()> {
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none() {
            let delay = resets_at.saturating_sub(js_sys::Date::now() as i64).max(0);
            storage.set_alarm(delay).await?;
        }
        Ok(())
    }
}

impl DurableObject for AlleatoCounter {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let asked: CounterRequest = match req.json().await {
            Ok(asked) => asked,
            Err(e) => return Response::error(format!("bad counter request: {e}"), 400),
        };
        let counted = match asked {
            CounterRequest::Increment {
                key,
                by,
                window_ms,
                now,
            } => {
                let counted = self.increment(&key, by, window_ms, now)?;
                self.schedule_cleanup(counted.resets_at).await?;
                counted
            }
            CounterRequest::Get { key, now } => self.get(&key, now)?,
        };
        Response::from_json(&counted)
    }

    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let sql = storage.sql();
        sql.exec(CREATE, None)?;
        let now = js_sys::Date::now() as i64;
        sql.exec(PURGE, vec![now.into()])?;
        let left: Remaining = sql.exec(COUNT, None)?.one()?;
        if left.n == 0 {
            storage.delete_all().await?;
        } else {
            // Still counting (a clock skew between the Worker and here): look again shortly.
            storage.set_alarm(60_000_i64).await?;
        }
        Response::ok("")
    }
}
