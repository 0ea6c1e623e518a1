//! The port contract suites of the core, run in workerd against this crate's adapters: a test
//! Worker's routes, compiled in only with the `contract-suites` feature
//! (`./scripts/worker --contract-suites`; never in a deployment).
//!
//! - `GET /__contract`: every case, one `suite case` line each;
//! - `POST /__contract/{suite}/{case}`: empties D1 (the ledger kept), adds the suite's fixtures,
//!   and runs the case on fresh adapters. `200 ok` when it holds; a broken contract panics, which
//!   in a Worker aborts the request (`500`, the message in wrangler's log).
//!
//! Workers KV expires values on the platform's own clock: its case runs with
//! [`Capabilities::real_time`], which leaves its expiry checks out, and the list says so with a
//! third word, `real-time`. The counters' Durable Objects are timed by the Worker's clock, so
//! they run on a [`ManualClock`] the suite moves. The other suites check no expiry.

use std::sync::Arc;

use alleato_core::Timestamp;
use alleato_core::auth::{SessionStore, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatStore};
use alleato_core::generations::Generations;
use alleato_core::memory::ManualClock;
use alleato_core::ports::{Clock, Counters, KvCache};
use alleato_core::streams::StreamHub;
use alleato_core::testing::messages::FullStore;
use alleato_core::testing::ports::TestStore;
use alleato_core::testing::{self, Capabilities, Case};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use worker::{Context, Env, HttpRequest};

use crate::d1::{D1Generations, D1Store, D1StreamHub, Query};
use crate::durable::DurableCounters;
use crate::kv::WorkersKvCache;
use crate::platform::WorkerClock;
use crate::{COUNTERS_BINDING, D1_BINDING, KV_BINDING};

/// The suites, by the name the routes use, with whether their expiry checks are left out (the
/// adapter expires on the platform's clock).
const SUITES: [(&str, bool); 7] = [
    ("store", false),
    ("messages", false),
    ("sessions", false),
    ("streams", false),
    ("generations", false),
    ("cache", true),
    ("counters", false),
];

/// The case names of a suite.
fn names(suite: &str) -> Vec<&'static str> {
    fn of<A: ?Sized>(cases: Vec<Case<A>>) -> Vec<&'static str> {
        cases.iter().map(|c| c.name).collect()
    }
    match suite {
        "store" => of(testing::ports::cases()),
        "messages" => of(testing::messages::cases()),
        "sessions" => of(testing::sessions::cases()),
        "streams" => of(testing::streams::cases()),
        "generations" => of(testing::generations::cases()),
        "cache" => of(testing::ports::cache_cases()),
        "counters" => of(testing::ports::counter_cases()),
        _ => Vec::new(),
    }
}

/// Answers the harness's routes; `None` for any other request.
pub async fn route(req: &HttpRequest, env: &Env, ctx: &Arc<Context>) -> Option<Response> {
    let path = req.uri().path().strip_prefix("/__contract")?;
    std::panic::set_hook(Box::new(|info| worker::console_error!("contract case failed: {info}")));
    if path.is_empty() || path == "/" {
        let mut list = String::new();
        for (suite, real_time) in SUITES {
            for case in names(suite) {
                list.push_str(&format!(
                    "{suite} {case}{}\n",
                    if real_time { " real-time" } else { "" }
                ));
            }
        }
        return Some(list.into_response());
    }
    let Some((suite, case)) = path.trim_start_matches('/').split_once('/') else {
        return Some((StatusCode::NOT_FOUND, "usage: /__contract/{suite}/{case}").into_response());
    };
    if !names(suite).contains(&case) {
        return Some((StatusCode::NOT_FOUND, format!("no case {suite}/{case}")).into_response());
    }
    Some(match run(env, ctx, suite, case).await {
        Ok(()) => "ok".into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    })
}

/// Runs one case on fresh adapters.
async fn run(env: &Env, ctx: &Arc<Context>, suite: &str, case: &str) -> Result<(), String> {
    let db = env.d1(D1_BINDING).map_err(|e| format!("binding {D1_BINDING}: {e}"))?;
    let store = D1Store::new(db);
    for sql in alleato_sql::EMPTY_TABLES {
        store
            .run(Query::new(sql, Vec::new()))
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
    }
    let clock: Arc<dyn Clock> = Arc::new(WorkerClock);
    let real_time = Capabilities::real_time();
    match suite {
        "store" => run_case(testing::ports::cases(), case, &store as &dyn TestStore, &real_time).await,
        "messages" => run_case(testing::messages::cases(), case, &store as &dyn FullStore, &real_time).await,
        "sessions" => {
            add(&store, &testing::sessions::session_users(), &[]).await?;
            run_case(
                testing::sessions::cases(),
                case,
                &store as &dyn SessionStore,
                &real_time,
            )
            .await;
        }
        "streams" => {
            add(
                &store,
                &[testing::streams::stream_owner()],
                &[testing::streams::stream_chat()],
            )
            .await?;
            let hub = D1StreamHub::new(&store, clock);
            run_case(testing::streams::cases(), case, &hub as &dyn StreamHub, &real_time).await;
        }
        "generations" => {
            let (owner, chats) = testing::generations::generation_fixtures();
            add(&store, &[owner], &chats).await?;
            let generations: Arc<dyn Generations> = Arc::new(D1Generations::new(store, clock, ctx.clone()));
            run_case(testing::generations::cases(), case, &generations, &real_time).await;
        }
        "cache" => {
            let kv = env.kv(KV_BINDING).map_err(|e| format!("binding {KV_BINDING}: {e}"))?;
            let cache = WorkersKvCache::new(kv);
            run_case(testing::ports::cache_cases(), case, &cache as &dyn KvCache, &real_time).await;
        }
        "counters" => {
            let namespace = env
                .durable_object(COUNTERS_BINDING)
                .map_err(|e| format!("binding {COUNTERS_BINDING}: {e}"))?;
            // Each run counts from a time of its own, so that windows of an earlier run (the
            // objects keep their state) are long over.
            let start = Timestamp::from_millis(WorkerClock.now().as_millis() * 2);
            let manual = Arc::new(ManualClock::new(start));
            let counters = DurableCounters::new(namespace, manual.clone());
            let caps = Capabilities::manual_clock(manual);
            run_case(testing::ports::counter_cases(), case, &counters as &dyn Counters, &caps).await;
        }
        other => return Err(format!("no suite {other}")),
    }
    Ok(())
}

async fn run_case<A: ?Sized>(cases: Vec<Case<A>>, name: &str, adapter: &A, caps: &Capabilities) {
    let case = cases.into_iter().find(|c| c.name == name).expect("listed by names()");
    (case.run)(adapter, caps).await;
}

/// Inserts the users and chats a suite's cases refer to.
async fn add(store: &D1Store, users: &[UserRecord], chats: &[Chat]) -> Result<(), String> {
    for user in users {
        store
            .insert_user(user)
            .await
            .map_err(|e| format!("fixture user: {e}"))?;
    }
    for chat in chats {
        store
            .insert_chat(chat)
            .await
            .map_err(|e| format!("fixture chat: {e}"))?;
    }
    Ok(())
}
