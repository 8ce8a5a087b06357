//! The device's SQLite database: its tables, their upgrades, and the durability settings.
//!
//! A household is stored as an Automerge snapshot plus the changes made since, one row per
//! change, so an edit appends a few hundred bytes instead of rewriting the document. Every
//! edit commits one SQLite transaction in WAL mode with `synchronous=FULL`: when the commit
//! returns, the edit is on disk and survives power loss.

use rusqlite::Connection;
use std::path::Path;

/// The on-device schema version this code writes (`PRAGMA user_version`).
const DB_VERSION: i64 = 1;

pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    upgrade(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Brings an older database up to [`DB_VERSION`], one step per version.
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version < 1 {
        conn.execute_batch(
            "BEGIN;
             CREATE TABLE meta (
                 key TEXT PRIMARY KEY,
                 value TEXT NOT NULL
             );
             CREATE TABLE document (
                 household_id TEXT PRIMARY KEY,
                 village TEXT NOT NULL,
                 snapshot BLOB NOT NULL,
                 change_rows INTEGER NOT NULL DEFAULT 0,
                 -- the heads the server has confirmed, 32 bytes each, concatenated
                 confirmed_heads BLOB NOT NULL DEFAULT x'',
                 updated_at INTEGER NOT NULL
             );
             CREATE TABLE document_change (
                 household_id TEXT NOT NULL REFERENCES document(household_id),
                 seq INTEGER NOT NULL,
                 bytes BLOB NOT NULL,
                 PRIMARY KEY (household_id, seq)
             );
             CREATE TABLE unsynced_change (
                 household_id TEXT NOT NULL REFERENCES document(household_id),
                 hash BLOB NOT NULL,
                 PRIMARY KEY (household_id, hash)
             );
             CREATE TABLE household_index (
                 household_id TEXT PRIMARY KEY REFERENCES document(household_id),
                 village TEXT NOT NULL,
                 number TEXT NOT NULL,
                 head_name TEXT,
                 member_count INTEGER NOT NULL,
                 error_count INTEGER NOT NULL,
                 warning_count INTEGER NOT NULL,
                 conflict_count INTEGER NOT NULL,
                 search_text TEXT NOT NULL,
                 updated_at INTEGER NOT NULL
             );
             CREATE INDEX household_index_village ON household_index(village, number);
             CREATE TABLE open_visit (
                 household_id TEXT PRIMARY KEY REFERENCES document(household_id),
                 visit_id TEXT NOT NULL
             );
             PRAGMA user_version = 1;
             COMMIT;",
        )?;
    }
    debug_assert_eq!(
        DB_VERSION, 1,
        "add the upgrade step for the new version above"
    );
    Ok(())
}

pub fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
        row.get(0)
    })
    .optional()
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}
