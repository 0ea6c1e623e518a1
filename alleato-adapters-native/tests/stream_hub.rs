//! The stream-hub contract suite against `MemoryStreamHub` and `SqliteStreamHub` (on a real
//! file), and what only the SQLite hub promises: logs that outlive the process, streams a crash
//! left open, purging expired logs, and streams deleted with their chat.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alleato_adapters_native::{SqliteStore, SqliteStreamHub, SystemClock};
use alleato_core::Timestamp;
use alleato_core::auth::UserStore;
use alleato_core::chats::ChatStore;
use alleato_core::id::{ChatId, UserId};
use alleato_core::memory::ManualClock;
use alleato_core::ports::Clock;
use alleato_core::streams::{
    EventStream, StreamError, StreamEvent, StreamHub, StreamHubExt, StreamId, StreamMeta, StreamStatus, StreamUsage,
};
use alleato_core::testing::streams::{stream_chat, stream_owner};
use async_trait::async_trait;
use futures_util::StreamExt;
use tempfile::TempDir;
use uuid::Uuid;

mod memory_stream_hub {
    use std::sync::Arc;

    use alleato_core::Timestamp;
    use alleato_core::memory::{ManualClock, MemoryStreamHub};

    alleato_core::stream_hub_contract_tests!(MemoryStreamHub::new(Arc::new(ManualClock::new(
        Timestamp::from_millis(1_700_000_000_000)
    ))));
}

mod sqlite_stream_hub {
    alleato_core::stream_hub_contract_tests!(super::TempHub::open().await);
}

/// An `SqliteStreamHub` on a file in a temporary directory, with the suite's user and chat.
struct TempHub {
    hub: SqliteStreamHub,
    store: SqliteStore,
    dir: TempDir,
}

impl TempHub {
    async fn open() -> Self {
        Self::open_with(Arc::new(SystemClock)).await
    }

    async fn open_with(clock: Arc<dyn Clock>) -> Self {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(db(dir.path())).await.unwrap();
        store.insert_user(&stream_owner()).await.unwrap();
        store.insert_chat(&stream_chat()).await.unwrap();
        let hub = SqliteStreamHub::new(&store, clock);
        Self { hub, store, dir }
    }
}

fn db(dir: &Path) -> std::path::PathBuf {
    dir.join("alleato.db")
}

// The contract functions take `&dyn StreamHub`: delegate to the hub.
#[async_trait]
impl StreamHub for TempHub {
    async fn create(&self, meta: &StreamMeta) -> Result<(), StreamError> {
        self.hub.create(meta).await
    }

    async fn meta(&self, id: StreamId) -> Result<Option<StreamMeta>, StreamError> {
        self.hub.meta(id).await
    }

    async fn append(&self, id: StreamId, data: &[String]) -> Result<u64, StreamError> {
        self.hub.append(id, data).await
    }

    async fn events(&self, id: StreamId, after: Option<u64>) -> Result<Vec<StreamEvent>, StreamError> {
        self.hub.events(id, after).await
    }

    async fn close(&self, id: StreamId) -> Result<(), StreamError> {
        self.hub.close(id).await
    }

    async fn follow(&self, id: StreamId, after: Option<u64>) -> Result<EventStream, StreamError> {
        self.hub.follow(id, after).await
    }

    async fn delete(&self, id: StreamId) -> Result<(), StreamError> {
        self.hub.delete(id).await
    }

    async fn usage(&self, owner: UserId, stream: Option<StreamId>) -> Result<StreamUsage, StreamError> {
        self.hub.usage(owner, stream).await
    }

    async fn delete_chat_streams(&self, chat: ChatId) -> Result<(), StreamError> {
        self.hub.delete_chat_streams(chat).await
    }
}

fn meta(n: u128, chat: bool) -> StreamMeta {
    StreamMeta {
        id: StreamId::from_uuid(Uuid::from_u128(0x7000 + n)),
        owner: stream_owner().user.id,
        chat_id: chat.then(|| stream_chat().id),
        status: StreamStatus::Open,
        created_at: Timestamp::from_millis(1_700_000_000_000 + n as i64),
    }
}

fn events(range: std::ops::Range<u64>) -> Vec<StreamEvent> {
    range
        .map(|n| StreamEvent {
            seq: n,
            data: format!("{{\"n\":{n}}}"),
        })
        .collect()
}

async fn append_all(hub: &SqliteStreamHub, id: StreamId, range: std::ops::Range<u64>) {
    for e in events(range) {
        assert_eq!(hub.append_one(id, &e.data).await.unwrap(), e.seq);
    }
}

fn count(path: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn a_reopened_hub_replays_every_event_and_finds_streams_left_open() {
    let t = TempHub::open().await;
    let (open, closed) = (meta(1, true), meta(2, false));
    t.hub.create(&open).await.unwrap();
    t.hub.create(&closed).await.unwrap();
    append_all(&t.hub, open.id, 0..20).await;
    append_all(&t.hub, closed.id, 0..5).await;
    t.hub.close(closed.id).await.unwrap();
    let TempHub { hub, store, dir } = t;
    // The process goes away without closing `open`, as a crash would leave it.
    drop(hub);
    drop(store);

    let store = SqliteStore::open(db(dir.path())).await.unwrap();
    let hub = SqliteStreamHub::new(&store, Arc::new(SystemClock));
    assert_eq!(hub.open_streams().await.unwrap(), std::slice::from_ref(&open));
    assert_eq!(hub.meta(open.id).await.unwrap(), Some(open.clone()));
    let closed_meta = StreamMeta {
        status: StreamStatus::Closed,
        ..closed.clone()
    };
    assert_eq!(hub.meta(closed.id).await.unwrap(), Some(closed_meta));
    // Both logs read from the database, without loading the open one.
    assert_eq!(hub.events(open.id, Some(16)).await.unwrap(), events(17..20));
    assert_eq!(hub.events(closed.id, None).await.unwrap(), events(0..5));

    // The closed stream replays from the database and ends.
    let replay: Vec<StreamEvent> = hub.follow(closed.id, None).await.unwrap().collect().await;
    assert_eq!(replay, events(0..5));
    let tail: Vec<StreamEvent> = hub.follow(closed.id, Some(2)).await.unwrap().collect().await;
    assert_eq!(tail, events(3..5));

    // The open one replays, then follows live: appends go on from where they stopped.
    let mut live = hub.follow(open.id, None).await.unwrap();
    let mut from_15 = hub.follow(open.id, Some(15)).await.unwrap();
    for e in events(0..20) {
        assert_eq!(live.next().await, Some(e));
    }
    append_all(&hub, open.id, 20..22).await;
    assert_eq!(live.next().await, Some(events(20..21).remove(0)));
    hub.close(open.id).await.unwrap();
    assert!(hub.open_streams().await.unwrap().is_empty());
    let rest: Vec<StreamEvent> = live.collect().await;
    assert_eq!(rest, events(21..22));
    let rest: Vec<StreamEvent> = from_15.by_ref().collect().await;
    assert_eq!(rest, events(16..22));
    assert!(matches!(hub.append_one(open.id, "{}").await, Err(StreamError::Closed)));
}

#[tokio::test]
async fn a_stream_left_open_can_be_closed_after_a_restart_without_reading_it() {
    let t = TempHub::open().await;
    let m = meta(1, false);
    t.hub.create(&m).await.unwrap();
    append_all(&t.hub, m.id, 0..3).await;
    let TempHub { hub, store, dir } = t;
    drop((hub, store));

    let store = SqliteStore::open(db(dir.path())).await.unwrap();
    let hub = SqliteStreamHub::new(&store, Arc::new(SystemClock));
    for s in hub.open_streams().await.unwrap() {
        hub.close(s.id).await.unwrap();
    }
    assert!(hub.open_streams().await.unwrap().is_empty());
    let replay: Vec<StreamEvent> = hub.follow(m.id, None).await.unwrap().collect().await;
    assert_eq!(replay, events(0..3));
}

#[tokio::test]
async fn purge_deletes_logs_closed_more_than_24_hours_ago() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let t = TempHub::open_with(clock.clone()).await;
    let (old, recent, open) = (meta(1, true), meta(2, false), meta(3, true));
    for m in [&old, &recent, &open] {
        t.hub.create(m).await.unwrap();
        append_all(&t.hub, m.id, 0..4).await;
    }
    t.hub.close(old.id).await.unwrap();
    clock.advance(Duration::from_secs(23 * 3600));
    t.hub.close(recent.id).await.unwrap();
    assert_eq!(t.hub.purge_expired().await.unwrap(), 0);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(t.hub.purge_expired().await.unwrap(), 1);

    assert_eq!(t.hub.meta(old.id).await.unwrap(), None);
    assert!(matches!(t.hub.follow(old.id, None).await, Err(StreamError::NotFound)));
    let kept: Vec<StreamEvent> = t.hub.follow(recent.id, None).await.unwrap().collect().await;
    assert_eq!(kept, events(0..4));
    assert_eq!(t.hub.meta(open.id).await.unwrap().unwrap().status, StreamStatus::Open);
    let path = db(t.dir.path());
    assert_eq!(count(&path, "SELECT COUNT(*) FROM streams"), 2);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM stream_events"), 8);

    // Open streams never expire, however old; idle ones leave memory and come back.
    clock.advance(Duration::from_secs(48 * 3600));
    assert_eq!(t.hub.purge_expired().await.unwrap(), 1);
    assert_eq!(t.hub.append_one(open.id, "{\"n\":4}").await.unwrap(), 4);
    let all: Vec<StreamEvent> = {
        t.hub.close(open.id).await.unwrap();
        t.hub.follow(open.id, None).await.unwrap().collect().await
    };
    assert_eq!(all, events(0..5));
}

#[tokio::test]
async fn idle_open_streams_leave_memory_but_not_while_followed() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let t = TempHub::open_with(clock.clone()).await;
    let (followed, idle) = (meta(1, false), meta(2, false));
    t.hub.create(&followed).await.unwrap();
    t.hub.create(&idle).await.unwrap();
    append_all(&t.hub, followed.id, 0..2).await;
    append_all(&t.hub, idle.id, 0..2).await;
    let mut follower = t.hub.follow(followed.id, Some(1)).await.unwrap();
    clock.advance(Duration::from_secs(2 * 3600));
    t.hub.purge_expired().await.unwrap();
    assert!(format!("{:?}", t.hub).contains("live: 1"), "{:?}", t.hub);
    // The follower still gets what is appended, and the idle stream reloads where it was.
    append_all(&t.hub, followed.id, 2..3).await;
    assert_eq!(follower.next().await, Some(events(2..3).remove(0)));
    append_all(&t.hub, idle.id, 2..4).await;
    let mut reloaded = t.hub.follow(idle.id, None).await.unwrap();
    t.hub.close(idle.id).await.unwrap();
    let all: Vec<StreamEvent> = reloaded.by_ref().collect().await;
    assert_eq!(all, events(0..4));
}

#[tokio::test]
async fn deleting_a_chat_deletes_its_streams() {
    let t = TempHub::open().await;
    let (live, closed, own) = (meta(1, true), meta(2, true), meta(3, false));
    for m in [&live, &closed, &own] {
        t.hub.create(m).await.unwrap();
        append_all(&t.hub, m.id, 0..2).await;
    }
    t.hub.close(closed.id).await.unwrap();
    let mut follower = t.hub.follow(live.id, Some(1)).await.unwrap();
    t.store.delete_chat(stream_chat().id).await.unwrap();

    assert_eq!(t.hub.meta(closed.id).await.unwrap(), None);
    // The live one learns it is gone at its next write, and its followers end.
    assert!(matches!(
        t.hub.append_one(live.id, "{}").await,
        Err(StreamError::NotFound)
    ));
    assert_eq!(follower.next().await, None);
    assert_eq!(t.hub.meta(live.id).await.unwrap(), None);
    assert!(matches!(t.hub.close(live.id).await, Err(StreamError::NotFound)));
    // A stream of no chat stays.
    assert_eq!(t.hub.append_one(own.id, "{}").await.unwrap(), 2);
    let path = db(t.dir.path());
    assert_eq!(count(&path, "SELECT COUNT(*) FROM stream_events"), 3);
}

#[tokio::test]
async fn a_stream_of_an_unknown_user_is_not_created() {
    let t = TempHub::open().await;
    let mut m = meta(1, false);
    m.owner = alleato_core::id::UserId::from_uuid(Uuid::from_u128(404));
    assert!(matches!(t.hub.create(&m).await, Err(StreamError::NotFound)));
    assert_eq!(t.hub.meta(m.id).await.unwrap(), None);
    // The failure was the create's alone: the hub goes on.
    let ok = meta(2, true);
    t.hub.create(&ok).await.unwrap();
    assert_eq!(t.hub.append_one(ok.id, "{}").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_generations_on_many_streams_keep_every_log_whole() {
    const STREAMS: u128 = 64;
    const EVENTS: u64 = 15;
    let t = TempHub::open().await;
    let hub = Arc::new(t.hub.clone());
    let mut tasks = Vec::new();
    for n in 0..STREAMS {
        let hub = Arc::clone(&hub);
        tasks.push(tokio::spawn(async move {
            let m = meta(n, n % 2 == 0);
            hub.create(&m).await.unwrap();
            let follower = hub.follow(m.id, None).await.unwrap();
            let reader = tokio::spawn(follower.collect::<Vec<StreamEvent>>());
            append_all(&hub, m.id, 0..EVENTS).await;
            hub.close(m.id).await.unwrap();
            assert_eq!(reader.await.unwrap(), events(0..EVENTS));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let path = db(t.dir.path());
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM stream_events"),
        (STREAMS as i64) * EVENTS as i64
    );
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM streams WHERE status = 'closed'"),
        STREAMS as i64
    );
}
