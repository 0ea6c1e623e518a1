//! Contract suite of the [`Generations`] port: one async function per behaviour, run against
//! every adapter with [`generations_contract_tests!`](crate::generations_contract_tests).
//!
//! Each function takes a fresh adapter whose tasks really run in the background (the suite
//! waits for them without driving them).

use super::Case;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use crate::auth::{User, UserKind, UserRecord};
use crate::chats::{Chat, ChatTitle, Visibility};
use crate::generations::{GenerationError, Generations};
use crate::id::{ChatId, StreamId, UserId};
use crate::signal::Signal;
use crate::time::Timestamp;

fn chat(n: u128) -> ChatId {
    ChatId::from_uuid(Uuid::from_u128(0xc0 + n))
}

/// The user and the chats the suite claims: an adapter whose claims reference chats (D1's
/// foreign keys) must have them before the suite runs.
pub fn generation_fixtures() -> (UserRecord, Vec<Chat>) {
    let at = Timestamp::from_millis(1_700_000_000_000);
    let owner = UserRecord {
        user: User {
            id: UserId::from_uuid(Uuid::from_u128(0x6e)),
            email: None,
            name: None,
            kind: UserKind::Guest,
            created_at: at,
        },
        password_hash: None,
        daily_message_limit: None,
    };
    let chats = (1..=2)
        .map(|n| Chat {
            id: chat(n),
            user_id: owner.user.id,
            title: ChatTitle::parse("generations").expect("a valid title"),
            visibility: Visibility::Private,
            model: "echo".to_owned(),
            created_at: at,
            updated_at: at,
        })
        .collect();
    (owner, chats)
}

fn stream(n: u128) -> StreamId {
    StreamId::from_uuid(Uuid::from_u128(0x6e00 + n))
}

/// A second claim of a busy chat is `Busy` and changes nothing; other chats are free.
pub async fn generation_claim_twice_is_busy(g: Arc<dyn Generations>) {
    g.claim(chat(1), stream(1)).await.unwrap();
    match g.claim(chat(1), stream(2)).await {
        Err(GenerationError::Busy) => {}
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(g.is_running(chat(1), stream(1)).await.unwrap());
    assert!(!g.is_running(chat(1), stream(2)).await.unwrap());
    g.claim(chat(2), stream(3)).await.unwrap();
}

/// Releasing frees the chat for the next generation; releasing a claim not held changes
/// nothing.
pub async fn generation_release_frees_the_chat(g: Arc<dyn Generations>) {
    g.claim(chat(1), stream(1)).await.unwrap();
    // Not the holder: the claim stays.
    g.release(chat(1), stream(9)).await;
    assert!(matches!(g.claim(chat(1), stream(2)).await, Err(GenerationError::Busy)));
    g.release(chat(1), stream(1)).await;
    assert!(!g.is_running(chat(1), stream(1)).await.unwrap());
    g.claim(chat(1), stream(2)).await.unwrap();
    assert!(g.is_running(chat(1), stream(2)).await.unwrap());
    g.release(chat(1), stream(2)).await;
    g.release(chat(1), stream(2)).await;
}

/// A generation runs to its end with nobody waiting for it, and its end frees the chat.
pub async fn generation_runs_without_anyone_waiting(g: Arc<dyn Generations>) {
    let finished = Signal::new();
    g.claim(chat(1), stream(1)).await.unwrap();
    let (end, gens) = (finished.clone(), Arc::clone(&g));
    g.run(
        chat(1),
        stream(1),
        Box::new(move |_stop| {
            Box::pin(async move {
                gens.release(chat(1), stream(1)).await;
                end.set();
            })
        }),
    );
    finished.wait().await;
    assert!(!g.is_running(chat(1), stream(1)).await.unwrap());
    g.claim(chat(1), stream(2)).await.unwrap();
}

/// `stop` signals the task, and returns only once the task has ended (its answer saved).
pub async fn generation_stop_signals_the_task_and_waits_for_its_end(g: Arc<dyn Generations>) {
    let started = Signal::new();
    let saved = Arc::new(AtomicBool::new(false));
    g.claim(chat(1), stream(1)).await.unwrap();
    let (start, save, gens) = (started.clone(), Arc::clone(&saved), Arc::clone(&g));
    g.run(
        chat(1),
        stream(1),
        Box::new(move |stop| {
            Box::pin(async move {
                start.set();
                stop.await;
                save.store(true, Ordering::SeqCst);
                gens.release(chat(1), stream(1)).await;
            })
        }),
    );
    started.wait().await;
    assert!(g.is_running(chat(1), stream(1)).await.unwrap());
    assert!(g.stop(chat(1), stream(1)).await.unwrap());
    assert!(saved.load(Ordering::SeqCst), "stop returns after the task has ended");
    assert!(!g.is_running(chat(1), stream(1)).await.unwrap());
    assert!(
        !g.stop(chat(1), stream(1)).await.unwrap(),
        "it has ended: nothing to stop"
    );
}

/// A stop asked between the claim and the start is seen by the task as soon as it starts.
pub async fn generation_stop_before_run_is_seen_at_start(g: Arc<dyn Generations>) {
    let saw_stop = Arc::new(AtomicBool::new(false));
    g.claim(chat(1), stream(1)).await.unwrap();
    let stopping = {
        let g = Arc::clone(&g);
        async move { g.stop(chat(1), stream(1)).await.unwrap() }
    };
    let starting = {
        let (g, seen) = (Arc::clone(&g), Arc::clone(&saw_stop));
        async move {
            let gens = Arc::clone(&g);
            g.run(
                chat(1),
                stream(1),
                Box::new(move |stop| {
                    Box::pin(async move {
                        stop.await;
                        seen.store(true, Ordering::SeqCst);
                        gens.release(chat(1), stream(1)).await;
                    })
                }),
            );
        }
    };
    // `stop` is polled first: it asks before the task exists, then waits for its end.
    let (stopped, ()) = crate::join::join2(stopping, starting).await;
    assert!(stopped);
    assert!(saw_stop.load(Ordering::SeqCst));
}

/// Stopping a generation that does not run is `false`, and changes nothing.
pub async fn generation_stop_of_nothing_is_false(g: Arc<dyn Generations>) {
    assert!(!g.stop(chat(1), stream(1)).await.unwrap());
    g.claim(chat(1), stream(2)).await.unwrap();
    assert!(!g.stop(chat(1), stream(1)).await.unwrap());
    assert!(g.is_running(chat(1), stream(2)).await.unwrap());
}

/// A claim that never runs, once released, leaves nothing running and nothing to wait for.
pub async fn generation_released_before_run_is_not_running(g: Arc<dyn Generations>) {
    assert!(!g.is_running(chat(1), stream(1)).await.unwrap());
    g.claim(chat(1), stream(1)).await.unwrap();
    assert!(g.is_running(chat(1), stream(1)).await.unwrap());
    g.release(chat(1), stream(1)).await;
    assert!(!g.is_running(chat(1), stream(1)).await.unwrap());
    assert!(!g.stop(chat(1), stream(1)).await.unwrap());
}

/// Every generations behaviour, for a harness that runs them itself: each on a fresh adapter.
pub fn cases() -> Vec<Case<Arc<dyn Generations>>> {
    vec![
        Case {
            name: "generation_claim_twice_is_busy",
            run: |g, _| Box::pin(generation_claim_twice_is_busy(Arc::clone(g))),
        },
        Case {
            name: "generation_release_frees_the_chat",
            run: |g, _| Box::pin(generation_release_frees_the_chat(Arc::clone(g))),
        },
        Case {
            name: "generation_runs_without_anyone_waiting",
            run: |g, _| Box::pin(generation_runs_without_anyone_waiting(Arc::clone(g))),
        },
        Case {
            name: "generation_stop_signals_the_task_and_waits_for_its_end",
            run: |g, _| Box::pin(generation_stop_signals_the_task_and_waits_for_its_end(Arc::clone(g))),
        },
        Case {
            name: "generation_stop_before_run_is_seen_at_start",
            run: |g, _| Box::pin(generation_stop_before_run_is_seen_at_start(Arc::clone(g))),
        },
        Case {
            name: "generation_stop_of_nothing_is_false",
            run: |g, _| Box::pin(generation_stop_of_nothing_is_false(Arc::clone(g))),
        },
        Case {
            name: "generation_released_before_run_is_not_running",
            run: |g, _| Box::pin(generation_released_before_run_is_not_running(Arc::clone(g))),
        },
    ]
}

/// Expands to one test per generations behaviour, under `#[runner]` when one is given first (else
/// `#[tokio::test]`); `$make` builds a fresh adapter
/// (an expression of a type implementing [`Generations`], awaited if `async`) whose tasks run
/// on the test's runtime.
#[macro_export]
macro_rules! generations_contract_tests {
    (@each [$runner:meta] $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[$runner]
            async fn $name() {
                let generations = ::std::sync::Arc::new($make);
                $crate::testing::generations::$name(generations).await;
            }
        )*
    };
    (#[$runner:meta] $make:expr) => {
        $crate::generations_contract_tests!(@each [$runner] $make;
            generation_claim_twice_is_busy, generation_release_frees_the_chat,
            generation_runs_without_anyone_waiting, generation_stop_signals_the_task_and_waits_for_its_end,
            generation_stop_before_run_is_seen_at_start, generation_stop_of_nothing_is_false,
            generation_released_before_run_is_not_running);
    };
    ($make:expr) => {
        $crate::generations_contract_tests!(#[tokio::test] $make);
    };
}
