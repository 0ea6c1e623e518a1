//! Contract suite of the [`StreamHub`] port: one async function per behaviour, run against
//! every adapter with [`stream_hub_contract_tests!`](crate::stream_hub_contract_tests).
//!
//! Every stream of the suite belongs to [`stream_owner`], and some are tied to
//! [`stream_chat`]: a hub whose storage checks references (SQLite's foreign keys) must have
//! both records before the suite runs.

use super::{Case, cases};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use uuid::Uuid;

use crate::auth::{Email, User, UserKind, UserRecord};
use crate::chats::{Chat, ChatTitle, Visibility};
use crate::id::{ChatId, UserId};
use crate::streams::{
    EventStream, StreamError, StreamEvent, StreamHub, StreamHubExt, StreamId, StreamMeta, StreamStatus, StreamUsage,
};
use crate::time::Timestamp;

/// The user every stream of the suite belongs to.
pub fn stream_owner() -> UserRecord {
    UserRecord {
        user: User {
            id: UserId::from_uuid(Uuid::from_u128(0x5e)),
            email: Some(Email::parse("streams@example.com").unwrap()),
            name: None,
            kind: UserKind::Regular,
            created_at: Timestamp::from_millis(1_700_000_000_000),
        },
        password_hash: Some("$argon2id$hash".to_owned()),
        daily_message_limit: None,
    }
}

/// The chat (of [`stream_owner`]) that some streams of the suite belong to.
pub fn stream_chat() -> Chat {
    Chat {
        id: ChatId::from_uuid(Uuid::from_u128(0x5c)),
        user_id: stream_owner().user.id,
        title: ChatTitle::parse("streams").unwrap(),
        visibility: Visibility::Private,
        model: "echo".to_owned(),
        created_at: Timestamp::from_millis(1_700_000_000_000),
        updated_at: Timestamp::from_millis(1_700_000_000_000),
    }
}

/// Stream `n`: odd ones belong to [`stream_chat`].
fn meta(n: u128) -> StreamMeta {
    StreamMeta {
        id: StreamId::from_uuid(Uuid::from_u128(0x5000 + n)),
        owner: stream_owner().user.id,
        chat_id: (n % 2 == 1).then(|| stream_chat().id),
        status: StreamStatus::Open,
        created_at: Timestamp::from_millis(1_700_000_000_000 + n as i64),
    }
}

async fn created(hub: &dyn StreamHub, n: u128) -> StreamId {
    let m = meta(n);
    hub.create(&m).await.unwrap();
    m.id
}

fn event(seq: u64, data: impl Into<String>) -> StreamEvent {
    StreamEvent { seq, data: data.into() }
}

/// The stream's next event, or `None` at its end.
async fn next(s: &mut EventStream) -> Option<StreamEvent> {
    poll_fn(|cx| s.as_mut().poll_next(cx)).await
}

/// Every event up to the end of the stream.
async fn rest(s: &mut EventStream) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    while let Some(e) = next(s).await {
        events.push(e);
    }
    events
}

/// The next `n` events; panics if the stream ends first.
async fn take(s: &mut EventStream, n: usize) -> Vec<StreamEvent> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next(s).await.expect("the stream ended early"));
    }
    events
}

/// A waker that records whether it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Flag {
    fn woken(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Polls the stream once with `flag` as the waker.
fn poll_once(s: &mut EventStream, flag: &Arc<Flag>) -> Poll<Option<StreamEvent>> {
    let waker = Waker::from(Arc::clone(flag));
    s.as_mut().poll_next(&mut Context::from_waker(&waker))
}

/// Polls the stream until it is waiting for more, and returns the flag that its waker sets.
fn waiting(s: &mut EventStream) -> Arc<Flag> {
    let flag = Arc::new(Flag::default());
    match poll_once(s, &flag) {
        Poll::Pending => flag,
        Poll::Ready(e) => panic!("expected a follower waiting for events, got {e:?}"),
    }
}

type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs the futures concurrently on the current task and returns their outputs in order.
async fn join_all<T>(mut tasks: Vec<Task<'_, T>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = tasks.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (task, out) in tasks.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match task.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("joined")).collect()
}

fn assert_not_found<T>(r: Result<T, StreamError>, what: &str) {
    match r {
        Err(StreamError::NotFound) => {}
        Err(e) => panic!("{what}: expected NotFound, got {e:?}"),
        Ok(_) => panic!("{what}: expected NotFound, got Ok"),
    }
}

/// A created stream reads back open with its owner, chat and time; its id cannot be reused.
pub async fn stream_create_and_meta(hub: &dyn StreamHub) {
    let (a, b) = (meta(1), meta(2));
    hub.create(&a).await.unwrap();
    hub.create(&b).await.unwrap();
    assert_eq!(hub.meta(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(hub.meta(b.id).await.unwrap(), Some(b.clone()));
    assert!(a.chat_id.is_some() && b.chat_id.is_none());
    match hub.create(&a).await {
        Err(StreamError::Conflict) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    // The failed create changed nothing.
    assert_eq!(hub.meta(a.id).await.unwrap(), Some(a));
    assert_eq!(hub.meta(meta(3).id).await.unwrap(), None);
}

/// Appends are numbered 0, 1, 2… per stream.
pub async fn stream_append_numbers_from_zero(hub: &dyn StreamHub) {
    let a = created(hub, 1).await;
    let b = created(hub, 2).await;
    for expected in 0..3 {
        assert_eq!(
            hub.append_one(a, &format!("{{\"n\":{expected}}}")).await.unwrap(),
            expected
        );
    }
    assert_eq!(hub.append_one(b, "{}").await.unwrap(), 0);
    assert_eq!(hub.append_one(a, "{}").await.unwrap(), 3);
}

/// A batch takes consecutive numbers in order and returns the last; followers get it whole.
pub async fn stream_append_batch_returns_the_last_number(hub: &dyn StreamHub) {
    let id = created(hub, 1).await;
    let mut f = hub.follow(id, None).await.unwrap();
    let flag = waiting(&mut f);
    let batch: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    assert_eq!(hub.append(id, &batch).await.unwrap(), 2);
    assert!(flag.woken(), "a batch wakes a waiting follower");
    assert_eq!(take(&mut f, 3).await, [event(0, "a"), event(1, "b"), event(2, "c")]);
    assert_eq!(hub.append(id, &["d".to_owned()]).await.unwrap(), 3);
    assert_eq!(hub.append(id, &batch[..2]).await.unwrap(), 5);
    match hub.append(id, &[]).await {
        Err(StreamError::EmptyBatch) => {}
        other => panic!("expected EmptyBatch, got {other:?}"),
    }
    hub.close(id).await.unwrap();
    match hub.append(id, &batch).await {
        Err(StreamError::Closed) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    let data: Vec<String> = rest(&mut f).await.into_iter().map(|e| e.data).collect();
    assert_eq!(data, ["d", "a", "b"]);
    assert_not_found(hub.append(meta(9).id, &batch).await, "append to an unknown stream");
}

/// Concurrent batches to one stream never interleave: each lands whole, in its order.
pub async fn stream_concurrent_batches_stay_whole(hub: &dyn StreamHub) {
    const WRITERS: usize = 4;
    const BATCHES: usize = 10;
    const EACH: usize = 5;
    let id = created(hub, 1).await;
    let tasks: Vec<Task<'_, Vec<u64>>> = (0..WRITERS)
        .map(|w| {
            Box::pin(async move {
                let mut lasts = Vec::new();
                for b in 0..BATCHES {
                    let batch: Vec<String> = (0..EACH).map(|i| format!("\"w{w}-b{b}-{i}\"")).collect();
                    lasts.push(hub.append(id, &batch).await.unwrap());
                }
                lasts
            }) as Task<'_, _>
        })
        .collect();
    let lasts = join_all(tasks).await;
    hub.close(id).await.unwrap();
    let log = rest(&mut hub.follow(id, None).await.unwrap()).await;
    assert_eq!(log.len(), WRITERS * BATCHES * EACH);
    for (w, mine) in lasts.iter().enumerate() {
        for (b, last) in mine.iter().enumerate() {
            let first = usize::try_from(*last).unwrap() + 1 - EACH;
            for i in 0..EACH {
                assert_eq!(log[first + i], event((first + i) as u64, format!("\"w{w}-b{b}-{i}\"")));
            }
        }
    }
}

/// `events` reads the log as it is, after the point asked, without waiting: an open stream's
/// events so far, a closed stream's whole log; `NotFound` for no stream.
pub async fn stream_events_reads_the_log_without_waiting(hub: &dyn StreamHub) {
    let id = created(hub, 1).await;
    assert!(hub.events(id, None).await.unwrap().is_empty());
    hub.append(id, &["a".to_owned(), "b".to_owned(), "c".to_owned()])
        .await
        .unwrap();
    let all = [event(0, "a"), event(1, "b"), event(2, "c")];
    assert_eq!(hub.events(id, None).await.unwrap(), all);
    assert_eq!(hub.events(id, Some(0)).await.unwrap(), all[1..]);
    assert!(hub.events(id, Some(2)).await.unwrap().is_empty());
    assert!(hub.events(id, Some(u64::MAX)).await.unwrap().is_empty());
    hub.close(id).await.unwrap();
    assert_eq!(hub.events(id, None).await.unwrap(), all);
    assert_eq!(hub.events(id, Some(1)).await.unwrap(), all[2..]);
    hub.delete(id).await.unwrap();
    assert_not_found(hub.events(id, None).await, "events of a deleted stream");
    assert_not_found(hub.events(meta(9).id, None).await, "events of an unknown stream");
}

/// Events keep their text exactly: Unicode, escapes, newlines, long payloads.
pub async fn stream_events_keep_their_data(hub: &dyn StreamHub) {
    let id = created(hub, 1).await;
    let long = format!("\"{}\"", "x".repeat(100_000));
    let payloads = [
        r#"{"type":"text-delta","id":"0","delta":"Ünïcödé 🚀 مرحبا \u0000 \"quoted\"\nnext"}"#,
        "[]",
        " \n\t ",
        long.as_str(),
    ];
    for p in payloads {
        hub.append_one(id, p).await.unwrap();
    }
    hub.close(id).await.unwrap();
    let mut f = hub.follow(id, None).await.unwrap();
    let expected: Vec<StreamEvent> = payloads.iter().enumerate().map(|(i, p)| event(i as u64, *p)).collect();
    assert_eq!(rest(&mut f).await, expected);
}

/// `follow(None)` replays the whole log, then yields live events until the stream closes.
pub async fn stream_follow_replays_then_live(hub: &dyn StreamHub) {
    let id = created(hub, 1).await;
    hub.append_one(id, "a").await.unwrap();
    hub.append_one(id, "b").await.unwrap();
    let mut f = hub.follow(id, None).await.unwrap();
    assert_eq!(take(&mut f, 2).await, [event(0, "a"), event(1, "b")]);
    let flag = waiting(&mut f);
    hub.append_one(id, "c").await.unwrap();
    assert!(flag.woken(), "an append wakes a waiting follower");
    assert_eq!(next(&mut f).await, Some(event(2, "c")));
    hub.append_one(id, "d").await.unwrap();
    hub.close(id).await.unwrap();
    assert_eq!(rest(&mut f).await, [event(3, "d")]);
}

/// `follow(Some(n))` starts after sequence number `n`, even past the end of the log.
pub async fn stream_follow_after_replays_the_rest(hub: &dyn StreamHub) {
    let id = created(hub, 1).await;
    for n in 0..5 {
        hub.append_one(id, &n.to_string()).await.unwrap();
    }
    let mut from_2 = hub.follow(id, Some(2)).await.unwrap();
    assert_eq!(take(&mut from_2, 2).await, [event(3, "3"), event(4, "4")]);
    let mut from_4 = hub.follow(id, Some(4)).await.unwrap();
    let flag = waiting(&mut from_4);
    let mut from_5 = hub.follow(id, Some(5)).await.unwrap();
    hub.append_one(id, "5").await.unwrap();
    assert!(flag.woken());
    assert_eq!(next(&mut from_4).await, Some(event(5, "5")));
    hub.append_one(id, "6").await.unwrap();
    hub.close(id).await.unwrap();
    assert_eq!(rest(&mut from_2).await, [event(5, "5"), event(6, "6")]);
    assert_eq!(rest(&mut from_4).await, [event(6, "6")]);
    assert_eq!(rest(&mut from_5).await, [event(6, "6")]);
}

/// Following a closed stream replays the log (after the point asked) and ends.
pub async fn stream_follow_closed_replays_and_ends(hub: &dyn StreamHub) {
    let id = created(hub, 1).await;
    for n in 0..3 {
        hub.append_one(id, &n.to_string()).await.unwrap();
    }
    hub.close(id).await.unwrap();
    let all: Vec<StreamEvent> = (0..3).map(|n| event(n, n.to_string())).collect();
    assert_eq!(rest(&mut hub.follow(id, None).await.unwrap()).await, all);
    assert_eq!(rest(&mut hub.follow(id, Some(0)).await.unwrap()).await, all[1..]);
    assert!(rest(&mut hub.follow(id, Some(2)).await.unwrap()).await.is_empty());
    assert!(
        rest(&mut hub.follow(id, Some(u64::MAX)).await.unwrap())
            .await
            .is_empty()
    );
    // A closed stream with no events ends at once.
    let empty = created(hub, 2).await;
    hub.close(empty).await.unwrap();
    assert!(rest(&mut hub.follow(empty, None).await.unwrap()).await.is_empty());
}

/// A closed stream refuses appends with `Closed`; closing it again is not an error; its meta
/// says closed and its log is unchanged.
pub async fn stream_append_to_closed_is_closed(hub: &dyn StreamHub) {
    let m = meta(1);
    hub.create(&m).await.unwrap();
    hub.append_one(m.id, "kept").await.unwrap();
    hub.close(m.id).await.unwrap();
    match hub.append_one(m.id, "late").await {
        Err(StreamError::Closed) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    hub.close(m.id).await.unwrap();
    let closed = StreamMeta {
        status: StreamStatus::Closed,
        ..m.clone()
    };
    assert_eq!(hub.meta(m.id).await.unwrap(), Some(closed));
    assert_eq!(
        rest(&mut hub.follow(m.id, None).await.unwrap()).await,
        [event(0, "kept")]
    );
}

/// Closing wakes every waiting follower; each gets the rest of the log and then the end.
pub async fn stream_close_wakes_live_followers(hub: &dyn StreamHub) {
    let id = created(hub, 1).await;
    hub.append_one(id, "0").await.unwrap();
    let mut caught_up = hub.follow(id, None).await.unwrap();
    assert_eq!(next(&mut caught_up).await, Some(event(0, "0")));
    let mut others: Vec<EventStream> = Vec::new();
    for _ in 0..4 {
        others.push(hub.follow(id, Some(0)).await.unwrap());
    }
    let mut flags = vec![waiting(&mut caught_up)];
    flags.extend(others.iter_mut().map(waiting));
    hub.close(id).await.unwrap();
    assert!(flags.iter().all(|f| f.woken()), "close wakes every waiting follower");
    assert_eq!(next(&mut caught_up).await, None);
    for mut f in others {
        assert_eq!(next(&mut f).await, None);
    }
    // Behind a follower that has not read everything, close keeps the rest for it.
    let id = created(hub, 2).await;
    let mut behind = hub.follow(id, None).await.unwrap();
    let flag = waiting(&mut behind);
    hub.append_one(id, "a").await.unwrap();
    hub.append_one(id, "b").await.unwrap();
    hub.close(id).await.unwrap();
    assert!(flag.woken());
    assert_eq!(rest(&mut behind).await, [event(0, "a"), event(1, "b")]);
}

/// Deleting ends every follower, and then the stream is `NotFound` for every method.
pub async fn stream_delete_ends_followers_then_not_found(hub: &dyn StreamHub) {
    let id = created(hub, 1).await;
    hub.append_one(id, "a").await.unwrap();
    let mut live = hub.follow(id, None).await.unwrap();
    assert_eq!(next(&mut live).await, Some(event(0, "a")));
    let flag = waiting(&mut live);
    hub.delete(id).await.unwrap();
    assert!(flag.woken(), "delete wakes a waiting follower");
    assert_eq!(next(&mut live).await, None);
    assert_eq!(hub.meta(id).await.unwrap(), None);
    assert_not_found(hub.append_one(id, "b").await, "append");
    assert_not_found(hub.close(id).await, "close");
    assert_not_found(hub.follow(id, None).await, "follow");
    assert_not_found(hub.delete(id).await, "delete");
    // A closed stream can be deleted too, and its id is free again.
    let id = created(hub, 2).await;
    hub.append_one(id, "x").await.unwrap();
    hub.close(id).await.unwrap();
    hub.delete(id).await.unwrap();
    assert_eq!(hub.meta(id).await.unwrap(), None);
    assert_not_found(hub.follow(id, None).await, "follow");
    let again = created(hub, 2).await;
    assert_eq!(hub.append_one(again, "fresh").await.unwrap(), 0);
}

/// Ids never created are `NotFound` (and `None` for `meta`).
pub async fn stream_unknown_ids_are_not_found(hub: &dyn StreamHub) {
    let id = meta(42).id;
    assert_eq!(hub.meta(id).await.unwrap(), None);
    assert_not_found(hub.append_one(id, "{}").await, "append");
    assert_not_found(hub.close(id).await, "close");
    assert_not_found(hub.follow(id, None).await, "follow");
    assert_not_found(hub.follow(id, Some(3)).await, "follow after");
    assert_not_found(hub.delete(id).await, "delete");
}

/// Many followers reading while events are appended all see the same events, in order,
/// whether they started before the first event or in the middle.
pub async fn stream_many_followers_see_the_same_events(hub: &dyn StreamHub) {
    const HALF: u64 = 100;
    let id = created(hub, 1).await;
    let all: Vec<StreamEvent> = (0..2 * HALF).map(|n| event(n, format!("{{\"n\":{n}}}"))).collect();
    let mut early: Vec<EventStream> = Vec::new();
    for _ in 0..8 {
        early.push(hub.follow(id, None).await.unwrap());
    }

    // Phase 1: the first half, appended while the early followers read it.
    let append_first = Box::pin(async {
        for e in &all[..HALF as usize] {
            assert_eq!(hub.append_one(id, &e.data).await.unwrap(), e.seq);
        }
        Vec::new()
    }) as Task<'_, Vec<StreamEvent>>;
    let mut tasks = vec![append_first];
    for f in early.iter_mut() {
        tasks.push(Box::pin(take(f, HALF as usize)));
    }
    let seen = join_all(tasks).await;
    for s in &seen[1..] {
        assert_eq!(s[..], all[..HALF as usize]);
    }

    // Phase 2: followers joining in the middle, and the second half.
    let mut middle = vec![hub.follow(id, None).await.unwrap()];
    for after in [0, HALF / 2, HALF - 1, HALF + 10] {
        middle.push(hub.follow(id, Some(after)).await.unwrap());
    }
    let append_rest = Box::pin(async {
        for e in &all[HALF as usize..] {
            assert_eq!(hub.append_one(id, &e.data).await.unwrap(), e.seq);
        }
        hub.close(id).await.unwrap();
        Vec::new()
    }) as Task<'_, Vec<StreamEvent>>;
    let mut tasks = vec![append_rest];
    for f in early.iter_mut().chain(middle.iter_mut()) {
        tasks.push(Box::pin(rest(f)));
    }
    let seen = join_all(tasks).await;
    for s in &seen[1..9] {
        assert_eq!(s[..], all[HALF as usize..]);
    }
    let starts = [1, HALF / 2 + 1, HALF, HALF + 11];
    assert_eq!(seen[9], all);
    for (s, start) in seen[10..].iter().zip(starts) {
        assert_eq!(s[..], all[start as usize..]);
    }
}

/// Concurrent appends to one stream get distinct sequence numbers without gaps, each writer's
/// events keep its order, and the log holds each event at the number its append returned.
pub async fn stream_concurrent_appends_are_numbered_without_gaps(hub: &dyn StreamHub) {
    const WRITERS: usize = 4;
    const EACH: usize = 50;
    let id = created(hub, 1).await;
    let mut follower = hub.follow(id, None).await.unwrap();
    let tasks: Vec<Task<'_, Vec<(u64, String)>>> = (0..WRITERS)
        .map(|w| {
            Box::pin(async move {
                let mut mine = Vec::with_capacity(EACH);
                for i in 0..EACH {
                    let data = format!("\"w{w}-{i}\"");
                    mine.push((hub.append_one(id, &data).await.unwrap(), data));
                }
                mine
            }) as Task<'_, _>
        })
        .collect();
    let written = join_all(tasks).await;
    for mine in &written {
        assert!(
            mine.windows(2).all(|p| p[0].0 < p[1].0),
            "a writer's events keep its order"
        );
    }
    let mut by_seq: Vec<(u64, String)> = written.into_iter().flatten().collect();
    by_seq.sort();
    let seqs: Vec<u64> = by_seq.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..(WRITERS * EACH) as u64).collect::<Vec<_>>());
    hub.close(id).await.unwrap();
    let expected: Vec<StreamEvent> = by_seq.into_iter().map(|(s, d)| event(s, d)).collect();
    assert_eq!(rest(&mut follower).await, expected);
    assert_eq!(rest(&mut hub.follow(id, None).await.unwrap()).await, expected);
}

/// A follower that reads nothing while many events are appended loses none of them.
pub async fn stream_slow_follower_loses_nothing(hub: &dyn StreamHub) {
    const EVENTS: u64 = 2_000;
    let id = created(hub, 1).await;
    let mut slow = hub.follow(id, None).await.unwrap();
    let flag = waiting(&mut slow);
    let payload = "y".repeat(256);
    for n in 0..EVENTS {
        hub.append_one(id, &format!("{{\"n\":{n},\"pad\":\"{payload}\"}}"))
            .await
            .unwrap();
    }
    assert!(flag.woken());
    // It reads everything while the stream is still open…
    let events = take(&mut slow, EVENTS as usize).await;
    for (n, e) in events.iter().enumerate() {
        assert_eq!(e.seq, n as u64);
        assert_eq!(e.data, format!("{{\"n\":{n},\"pad\":\"{payload}\"}}"));
    }
    assert!(matches!(
        poll_once(&mut slow, &Arc::new(Flag::default())),
        Poll::Pending
    ));
    // …and then the end.
    hub.close(id).await.unwrap();
    assert_eq!(next(&mut slow).await, None);
}

/// Usage counts the owner's open streams and the bytes of all their streams' events, and the
/// events and bytes of the stream asked about; a closed stream's bytes still count.
pub async fn stream_usage_counts_open_streams_and_bytes(hub: &dyn StreamHub) {
    let owner = stream_owner().user.id;
    assert_eq!(hub.usage(owner, None).await.unwrap(), StreamUsage::default());
    let a = created(hub, 1).await;
    let b = created(hub, 2).await;
    hub.append(a, &["\"abc\"".to_owned(), "{\"é\":1}".to_owned()])
        .await
        .unwrap();
    hub.append_one(b, "[1,2]").await.unwrap();
    let usage = hub.usage(owner, Some(a)).await.unwrap();
    // Bytes, not characters: `é` is two.
    assert_eq!(
        usage,
        StreamUsage {
            open_streams: 2,
            bytes: 5 + 8 + 5,
            stream_events: 2,
            stream_bytes: 13,
        }
    );
    hub.close(a).await.unwrap();
    let usage = hub.usage(owner, Some(b)).await.unwrap();
    assert_eq!(
        (usage.open_streams, usage.bytes, usage.stream_events, usage.stream_bytes),
        (1, 18, 1, 5)
    );
    // Another user's view: nothing, even when naming this user's stream.
    let other = UserId::from_uuid(Uuid::from_u128(0xbad));
    assert_eq!(hub.usage(other, Some(b)).await.unwrap(), StreamUsage::default());
    hub.delete(b).await.unwrap();
    assert_eq!(hub.usage(owner, None).await.unwrap().bytes, 13);
}

/// Every stream-hub behaviour, for a harness that runs them itself: each on a fresh adapter.
pub fn cases() -> Vec<Case<dyn StreamHub>> {
    cases![
        stream_create_and_meta,
        stream_append_numbers_from_zero,
        stream_events_keep_their_data,
        stream_follow_replays_then_live,
        stream_follow_after_replays_the_rest,
        stream_follow_closed_replays_and_ends,
        stream_append_to_closed_is_closed,
        stream_close_wakes_live_followers,
        stream_delete_ends_followers_then_not_found,
        stream_unknown_ids_are_not_found,
        stream_many_followers_see_the_same_events,
        stream_concurrent_appends_are_numbered_without_gaps,
        stream_slow_follower_loses_nothing,
        stream_append_batch_returns_the_last_number,
        stream_concurrent_batches_stay_whole,
        stream_events_reads_the_log_without_waiting,
        stream_usage_counts_open_streams_and_bytes,
    ]
}

/// Expands to one test per stream-hub behaviour, under `#[runner]` when one is given first (else
/// `#[tokio::test]`); `$make` builds a fresh, empty hub
/// (an expression of a type implementing [`StreamHub`], awaited if `async`) in which
/// [`stream_owner`] and [`stream_chat`] exist.
#[macro_export]
macro_rules! stream_hub_contract_tests {
    (@each [$runner:meta] $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[$runner]
            async fn $name() {
                let hub = $make;
                $crate::testing::streams::$name(&hub).await;
            }
        )*
    };
    (#[$runner:meta] $make:expr) => {
        $crate::stream_hub_contract_tests!(@each [$runner] $make;
            stream_create_and_meta, stream_append_numbers_from_zero, stream_events_keep_their_data,
            stream_follow_replays_then_live, stream_follow_after_replays_the_rest,
            stream_follow_closed_replays_and_ends, stream_append_to_closed_is_closed,
            stream_close_wakes_live_followers, stream_delete_ends_followers_then_not_found,
            stream_unknown_ids_are_not_found, stream_many_followers_see_the_same_events,
            stream_concurrent_appends_are_numbered_without_gaps, stream_slow_follower_loses_nothing,
            stream_append_batch_returns_the_last_number, stream_concurrent_batches_stay_whole,
            stream_events_reads_the_log_without_waiting, stream_usage_counts_open_streams_and_bytes);
    };
    ($make:expr) => {
        $crate::stream_hub_contract_tests!(#[tokio::test] $make);
    };
}
