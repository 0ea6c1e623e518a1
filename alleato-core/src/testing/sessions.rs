//! Contract suite of the [`SessionStore`] port: one async function per behaviour, run against
//! every adapter with [`session_store_contract_tests!`](crate::session_store_contract_tests).
//!
//! Sessions belong to the users of [`session_users`]: a store whose storage checks references
//! (SQLite's foreign keys) must have them before the suite runs.

use super::{Case, cases};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use uuid::Uuid;

use crate::auth::{SPENT_REFRESH_KEPT, Session, SessionStore, User, UserKind, UserRecord};
use crate::id::{SessionId, UserId};
use crate::store::StoreError;
use crate::time::Timestamp;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

/// The two users whose sessions the suite makes.
pub fn session_users() -> [UserRecord; 2] {
    [1, 2].map(|n| UserRecord {
        user: User {
            id: UserId::from_uuid(Uuid::from_u128(0x5e55 + n)),
            email: None,
            name: None,
            kind: UserKind::Guest,
            created_at: Timestamp::from_millis(T0),
        },
        password_hash: None,
        daily_message_limit: None,
    })
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

fn hash(n: u64) -> String {
    format!("{n:064x}")
}

/// Session `n` of user `u` (0 or 1), with refresh hash `n`, ending in an hour.
fn session(n: u128, u: usize) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::from_u128(0x5e5500 + n)),
        user: session_users()[u].user.id,
        refresh_hash: hash(n as u64),
        expires_at: at(HOUR),
    }
}

/// A session reads back as created; its id cannot be reused; unknown ids read as `None`.
pub async fn session_create_and_read(s: &dyn SessionStore) {
    let a = session(1, 0);
    s.create_session(&a).await.unwrap();
    assert_eq!(s.session(a.id, at(0)).await.unwrap(), Some(a.clone()));
    let mut again = session(1, 1);
    again.refresh_hash = hash(99);
    match s.create_session(&again).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(s.session(a.id, at(0)).await.unwrap(), Some(a));
    assert_eq!(s.session(session(2, 0).id, at(0)).await.unwrap(), None);
}

/// A session reads as absent from its end on, and cannot be rotated then.
pub async fn session_expired_reads_as_absent(s: &dyn SessionStore) {
    let a = session(1, 0);
    s.create_session(&a).await.unwrap();
    assert!(s.session(a.id, at(HOUR - 1)).await.unwrap().is_some());
    assert_eq!(s.session(a.id, at(HOUR)).await.unwrap(), None);
    assert!(
        !s.rotate_refresh(a.id, &a.refresh_hash, &hash(50), "sealed", at(3 * HOUR), at(HOUR))
            .await
            .unwrap()
    );
    // The failed rotation changed nothing.
    assert_eq!(s.session(a.id, at(0)).await.unwrap(), Some(a));
}

/// Rotation replaces the current hash and extends the session, only from the current hash;
/// the spent hash is remembered, the current one is not spent.
pub async fn session_rotate_only_from_the_current_hash(s: &dyn SessionStore) {
    let a = session(1, 0);
    s.create_session(&a).await.unwrap();
    assert!(!s.is_spent(a.id, &a.refresh_hash).await.unwrap());
    assert!(
        s.rotate_refresh(a.id, &hash(1), &hash(2), "sealed", at(2 * HOUR), at(10))
            .await
            .unwrap()
    );
    let rotated = Session {
        refresh_hash: hash(2),
        expires_at: at(2 * HOUR),
        ..a.clone()
    };
    assert_eq!(s.session(a.id, at(HOUR + 1)).await.unwrap(), Some(rotated.clone()));
    assert!(s.is_spent(a.id, &hash(1)).await.unwrap());
    assert!(!s.is_spent(a.id, &hash(2)).await.unwrap());
    assert!(!s.is_spent(a.id, &hash(77)).await.unwrap());
    // The spent hash rotates nothing any more, and neither does a hash never issued.
    assert!(
        !s.rotate_refresh(a.id, &hash(1), &hash(3), "sealed", at(3 * HOUR), at(20))
            .await
            .unwrap()
    );
    assert!(
        !s.rotate_refresh(a.id, &hash(77), &hash(3), "sealed", at(3 * HOUR), at(20))
            .await
            .unwrap()
    );
    assert!(
        !s.rotate_refresh(session(5, 0).id, &hash(5), &hash(3), "sealed", at(3 * HOUR), at(20))
            .await
            .unwrap()
    );
    assert_eq!(s.session(a.id, at(30)).await.unwrap(), Some(rotated));
    // Another session's spent hashes are its own.
    let b = session(6, 0);
    s.create_session(&b).await.unwrap();
    assert!(!s.is_spent(b.id, &hash(1)).await.unwrap());
}

/// A spent hash yields the successor recorded with it, only when spent at or after `since`.
pub async fn session_spent_successor_within_the_interval(s: &dyn SessionStore) {
    let a = session(1, 0);
    s.create_session(&a).await.unwrap();
    assert_eq!(s.spent_successor(a.id, &hash(1), at(0)).await.unwrap(), None);
    assert!(
        s.rotate_refresh(a.id, &hash(1), &hash(2), "next-of-1", at(2 * HOUR), at(100))
            .await
            .unwrap()
    );
    assert_eq!(
        s.spent_successor(a.id, &hash(1), at(100)).await.unwrap().as_deref(),
        Some("next-of-1")
    );
    assert_eq!(
        s.spent_successor(a.id, &hash(1), at(101)).await.unwrap(),
        None,
        "spent too long ago"
    );
    assert_eq!(
        s.spent_successor(a.id, &hash(2), at(0)).await.unwrap(),
        None,
        "the current hash"
    );
    s.delete_session(a.id).await.unwrap();
    assert_eq!(s.spent_successor(a.id, &hash(1), at(0)).await.unwrap(), None);
}

/// Of two rotations from the same hash at once, exactly one succeeds.
pub async fn session_concurrent_rotations_one_wins(s: &dyn SessionStore) {
    let a = session(1, 0);
    s.create_session(&a).await.unwrap();
    let (h1, h2, h3) = (hash(1), hash(2), hash(3));
    let mut first = s.rotate_refresh(a.id, &h1, &h2, "sealed", at(2 * HOUR), at(1));
    let mut second = s.rotate_refresh(a.id, &h1, &h3, "sealed", at(2 * HOUR), at(1));
    let (mut r1, mut r2) = (None, None);
    poll_fn(|cx| {
        poll_into(&mut first, &mut r1, cx);
        poll_into(&mut second, &mut r2, cx);
        if r1.is_some() && r2.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let (r1, r2) = (r1.unwrap().unwrap(), r2.unwrap().unwrap());
    assert!(r1 ^ r2, "exactly one rotation wins: {r1} {r2}");
    let current = s.session(a.id, at(2)).await.unwrap().unwrap().refresh_hash;
    assert_eq!(current, if r1 { hash(2) } else { hash(3) });
    assert!(s.is_spent(a.id, &hash(1)).await.unwrap());
}

fn poll_into<T>(
    f: &mut Pin<Box<dyn Future<Output = T> + Send + '_>>,
    out: &mut Option<T>,
    cx: &mut std::task::Context<'_>,
) {
    if out.is_none()
        && let Poll::Ready(v) = f.as_mut().poll(cx)
    {
        *out = Some(v);
    }
}

/// At least the latest [`SPENT_REFRESH_KEPT`] spent hashes are remembered.
pub async fn session_the_latest_spent_hashes_are_remembered(s: &dyn SessionStore) {
    let a = session(1, 0);
    s.create_session(&a).await.unwrap();
    let rotations = SPENT_REFRESH_KEPT as u64 + 8;
    for n in 1..=rotations {
        let now = at(n as i64);
        assert!(
            s.rotate_refresh(a.id, &hash(n), &hash(n + 1), "sealed", at(HOUR), now)
                .await
                .unwrap()
        );
    }
    for n in rotations + 1 - SPENT_REFRESH_KEPT as u64..=rotations {
        assert!(
            s.is_spent(a.id, &hash(n)).await.unwrap(),
            "spent hash {n} is remembered"
        );
    }
    assert!(!s.is_spent(a.id, &hash(rotations + 1)).await.unwrap());
}

/// Deleting a session ends it (and forgets its spent hashes); deleting all of a user's
/// sessions leaves other users' alone.
pub async fn session_delete_and_delete_all_of_a_user(s: &dyn SessionStore) {
    let (a, b, c) = (session(1, 0), session(2, 0), session(3, 1));
    for x in [&a, &b, &c] {
        s.create_session(x).await.unwrap();
    }
    assert!(
        s.rotate_refresh(a.id, &hash(1), &hash(10), "sealed", at(HOUR), at(1))
            .await
            .unwrap()
    );
    s.delete_session(a.id).await.unwrap();
    assert_eq!(s.session(a.id, at(2)).await.unwrap(), None);
    assert!(!s.is_spent(a.id, &hash(1)).await.unwrap());
    s.delete_session(a.id).await.unwrap();
    let d = session(4, 0);
    s.create_session(&d).await.unwrap();
    assert_eq!(s.delete_user_sessions(session_users()[0].user.id).await.unwrap(), 2);
    assert_eq!(s.session(b.id, at(2)).await.unwrap(), None);
    assert_eq!(s.session(d.id, at(2)).await.unwrap(), None);
    assert_eq!(s.session(c.id, at(2)).await.unwrap(), Some(c));
    assert_eq!(s.delete_user_sessions(session_users()[0].user.id).await.unwrap(), 0);
}

/// Every session-store behaviour, for a harness that runs them itself: each on a fresh adapter.
pub fn cases() -> Vec<Case<dyn SessionStore>> {
    cases![
        session_create_and_read,
        session_expired_reads_as_absent,
        session_rotate_only_from_the_current_hash,
        session_concurrent_rotations_one_wins,
        session_spent_successor_within_the_interval,
        session_the_latest_spent_hashes_are_remembered,
        session_delete_and_delete_all_of_a_user,
    ]
}

/// Expands to one test per session-store behaviour, under `#[runner]` when one is given first (else
/// `#[tokio::test]`); `$make` builds a fresh, empty
/// store (an expression of a type implementing [`SessionStore`], awaited if `async`) in which
/// the [`session_users`] exist.
#[macro_export]
macro_rules! session_store_contract_tests {
    (@each [$runner:meta] $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[$runner]
            async fn $name() {
                let store = $make;
                $crate::testing::sessions::$name(&store).await;
            }
        )*
    };
    (#[$runner:meta] $make:expr) => {
        $crate::session_store_contract_tests!(@each [$runner] $make;
            session_create_and_read, session_expired_reads_as_absent,
            session_rotate_only_from_the_current_hash, session_concurrent_rotations_one_wins,
            session_spent_successor_within_the_interval,
            session_the_latest_spent_hashes_are_remembered, session_delete_and_delete_all_of_a_user);
    };
    ($make:expr) => {
        $crate::session_store_contract_tests!(#[tokio::test] $make);
    };
}
