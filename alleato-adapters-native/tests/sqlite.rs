//! Behaviours of the SQLite store beyond the port contract: the migrations ledger, durability
//! across reopening, and concurrency.

use std::path::Path;
use std::sync::Arc;

use alleato_adapters_native::sqlite::MIGRATIONS;
use alleato_adapters_native::{SqliteOptions, SqliteStore};
use alleato_core::Timestamp;
use alleato_core::auth::{DisplayName, Email, User, UserKind, UserRecord, UserStore};
use alleato_core::chats::{Chat, ChatListQuery, ChatStore, ChatTitle, Visibility};
use alleato_core::id::{ChatId, UserId};
use alleato_core::page::Limit;
use alleato_core::store::StoreError;
use rusqlite::Connection;
use tempfile::TempDir;
use uuid::Uuid;

fn user(n: u128) -> UserRecord {
    UserRecord {
        user: User {
            id: UserId::from_uuid(Uuid::from_u128(n)),
            email: Some(Email::parse(&format!("user{n}@example.com")).unwrap()),
            name: Some(DisplayName::parse("Ada").unwrap()),
            kind: UserKind::Regular,
            created_at: Timestamp::from_millis(1_700_000_000_000),
        },
        password_hash: Some("$argon2id$hash".to_owned()),
        daily_message_limit: Some(50),
    }
}

fn chat(n: u128, owner: UserId, updated: i64) -> Chat {
    Chat {
        id: ChatId::from_uuid(Uuid::from_u128(n)),
        user_id: owner,
        title: ChatTitle::parse(&format!("chat {n}")).unwrap(),
        visibility: Visibility::Public,
        model: "echo".to_owned(),
        created_at: Timestamp::from_millis(updated),
        updated_at: Timestamp::from_millis(updated),
    }
}

fn all_of(owner: UserId) -> ChatListQuery {
    ChatListQuery {
        owner,
        limit: Limit::new(100).unwrap(),
        after: None,
        search: None,
    }
}

/// The ledger rows, as (id, name, applied_at).
fn ledger(path: &Path) -> Vec<(i64, String, String)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, name, applied_at FROM d1_migrations ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn migrations_are_recorded_once_in_the_d1_ledger() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("alleato.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let first = ledger(&path);
    let names: Vec<&str> = first.iter().map(|(_, name, _)| name.as_str()).collect();
    let expected: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
    assert_eq!(names, expected);
    assert_eq!(names[0], "0001_initial.sql");

    // Reopening applies nothing again: a second run of 0001 would fail on CREATE TABLE.
    drop(SqliteStore::open(&path).await.unwrap());
    assert_eq!(ledger(&path), first);

    // The ledger has wrangler's columns.
    let conn = Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, type, pk FROM pragma_table_info('d1_migrations')")
        .unwrap();
    let columns: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("id", "INTEGER", 1),
        ("name", "TEXT", 0),
        ("applied_at", "TIMESTAMP", 0),
    ];
    let expected: Vec<(String, String, i64)> = expected
        .iter()
        .map(|(n, t, pk)| ((*n).to_owned(), (*t).to_owned(), *pk))
        .collect();
    assert_eq!(columns, expected);
}

#[tokio::test]
async fn empty_tables_names_every_table_and_empties_a_filled_database() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("alleato.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        let owner = user(1);
        store.insert_user(&owner).await.unwrap();
        store
            .insert_chat(&chat(2, owner.user.id, 1_700_000_000_000))
            .await
            .unwrap();
    }
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'd1_migrations' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut emptied: Vec<String> = alleato_sql::EMPTY_TABLES
        .iter()
        .map(|sql| sql.strip_prefix("DELETE FROM ").unwrap().to_owned())
        .collect();
    emptied.sort();
    assert_eq!(emptied, tables, "EMPTY_TABLES must name every table of the schema");
    for sql in alleato_sql::EMPTY_TABLES {
        conn.execute(sql, []).unwrap();
    }
    for table in &tables {
        let rows: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0, "{table}");
    }
    assert_eq!(ledger(&path).len(), MIGRATIONS.len(), "the ledger is kept");
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nested").join("deeper").join("alleato.db");
    let u = user(1);
    let c = chat(10, u.user.id, 5);
    {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.path(), path);
        store.insert_user(&u).await.unwrap();
        store.insert_chat(&c).await.unwrap();
    }
    let store = SqliteStore::open_with(&path, SqliteOptions::new().with_readers(1))
        .await
        .unwrap();
    assert_eq!(store.user_by_id(u.user.id).await.unwrap(), Some(u.clone()));
    assert_eq!(store.list_chats(&all_of(u.user.id)).await.unwrap(), vec![c]);
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("alleato.db")).await.unwrap();
    let orphan = chat(10, UserId::from_uuid(Uuid::from_u128(404)), 5);
    // A row referring to one that does not exist is refused as NotFound, as on D1.
    let err = store.insert_chat(&orphan).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(store.chat(orphan.id).await.unwrap(), None);
}

#[tokio::test]
async fn duplicate_ids_are_conflicts_named_by_record() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("alleato.db")).await.unwrap();
    let u = user(1);
    store.insert_user(&u).await.unwrap();
    let mut same_id = user(2);
    same_id.user.id = u.user.id;
    assert!(matches!(
        store.insert_user(&same_id).await,
        Err(StoreError::Conflict("user"))
    ));
    let c = chat(10, u.user.id, 5);
    store.insert_chat(&c).await.unwrap();
    assert!(matches!(store.insert_chat(&c).await, Err(StoreError::Conflict("chat"))));
}

#[tokio::test]
async fn unreadable_rows_are_corrupt() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("alleato.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let u = user(1);
    store.insert_user(&u).await.unwrap();
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE users SET email = 'not an email'", [])
        .unwrap();
    let err = store.user_by_id(u.user.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_run_while_writing() {
    const CHATS: i64 = 200;
    let dir = TempDir::new().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("alleato.db")).await.unwrap());
    let owner = user(1);
    store.insert_user(&owner).await.unwrap();
    let owner = owner.user.id;

    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for n in 0..CHATS {
                store.insert_chat(&chat(1000 + n as u128, owner, n)).await.unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut seen = 0;
                loop {
                    let page = store.list_chats(&all_of(owner)).await.unwrap();
                    // Committed writes only, newest first, never fewer than seen before.
                    assert!(page.windows(2).all(|w| w[0].updated_at > w[1].updated_at));
                    let total = page.first().map_or(0, |c| c.updated_at.as_millis() + 1);
                    assert!(total >= seen);
                    seen = total;
                    if total == CHATS {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    writer.await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
    assert_eq!(store.list_chats(&all_of(owner)).await.unwrap().len(), 101, "limit + 1");
}

#[tokio::test]
async fn deleting_a_chat_cascades_to_what_it_owns() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("alleato.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let u = user(1);
    let c = chat(10, u.user.id, 5);
    store.insert_user(&u).await.unwrap();
    store.insert_chat(&c).await.unwrap();
    let raw = Connection::open(&path).unwrap();
    let count = || -> i64 {
        raw.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .unwrap()
    };
    raw.execute(
        "INSERT INTO messages (id, chat_id, role, parts, text, status, created_at) \
         VALUES ('m1', ?1, 'user', '[]', '', 'complete', 5)",
        [c.id.to_string()],
    )
    .unwrap();
    assert_eq!(count(), 1);
    store.delete_chat(c.id).await.unwrap();
    assert_eq!(count(), 0);
}
