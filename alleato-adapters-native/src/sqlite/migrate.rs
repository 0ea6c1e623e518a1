//! The embedded schema migrations and the ledger that records them.

use rusqlite::{Connection, TransactionBehavior};

use alleato_sql as sql;

/// One schema migration: a file of `migrations/` at the repository root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The file name, as recorded in `d1_migrations.name` (`0001_initial.sql`).
    pub name: &'static str,
    /// The SQL it runs.
    pub sql: &'static str,
}

macro_rules! migrations {
    ($($name:literal),* $(,)?) => {
        &[$(Migration { name: $name, sql: include_str!(concat!("../../../migrations/", $name)) }),*]
    };
}

/// Every migration this build knows, oldest first: the same files `wrangler d1 migrations
/// apply` runs on D1.
pub const MIGRATIONS: &[Migration] = migrations![
    "0001_initial.sql",
    "0002_streams.sql",
    "0003_messages.sql",
    "0004_cache.sql",
    "0005_turn_mark.sql",
    "0006_sessions.sql",
    "0007_generation_claims.sql",
    "0008_retired_chat_ids.sql",
    "0009_refresh_successors.sql",
    "0010_stream_sizes.sql",
];

/// Why a migration could not be applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrateError {
    #[error("cannot read the migrations ledger: {0}")]
    Ledger(#[source] rusqlite::Error),
    #[error("migration {name} failed: {source}")]
    Apply {
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

/// Applies the pending migrations, each in its own transaction together with its ledger row,
/// and returns the names of those it applied.
///
/// The check for "already applied" runs inside the migration's `IMMEDIATE` transaction, so two
/// processes opening the same file at once do not both apply it.
pub(crate) fn migrate(conn: &mut Connection) -> Result<Vec<&'static str>, MigrateError> {
    conn.execute_batch(sql::CREATE_LEDGER).map_err(MigrateError::Ledger)?;
    warn_about_unknown(conn)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let apply = |conn: &mut Connection| -> rusqlite::Result<bool> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let done: bool = tx.query_row(sql::MIGRATION_APPLIED, [m.name], |r| r.get(0))?;
            if done {
                return Ok(false);
            }
            tx.execute_batch(m.sql)?;
            tx.execute(sql::RECORD_MIGRATION, [m.name])?;
            tx.commit()?;
            Ok(true)
        };
        if apply(conn).map_err(|source| MigrateError::Apply { name: m.name, source })? {
            tracing::info!(migration = m.name, "applied SQLite migration");
            applied.push(m.name);
        }
    }
    Ok(applied)
}

/// A database migrated by a newer build works as long as the changes were additive, but say so.
fn warn_about_unknown(conn: &Connection) -> Result<(), MigrateError> {
    let mut stmt = conn.prepare(sql::APPLIED_MIGRATIONS).map_err(MigrateError::Ledger)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(MigrateError::Ledger)?;
    for name in names {
        let name = name.map_err(MigrateError::Ledger)?;
        if !MIGRATIONS.iter().any(|m| m.name == name) {
            tracing::warn!(migration = %name, "the database has a migration this build does not know");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_migrations_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, embedded);
    }

    #[test]
    fn migrations_apply_once_on_a_fresh_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        let names: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(migrate(&mut conn).unwrap(), names);
        assert!(migrate(&mut conn).unwrap().is_empty());
    }
}
