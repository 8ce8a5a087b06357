//! The device's SQLite database: its tables, their upgrades, and the durability settings.
//!
//! A household is stored as an Automerge snapshot plus the changes made since, one row per
//! change, so an edit appends a few hundred bytes instead of rewriting the document. Every
//! edit commits one SQLite transaction in WAL mode with `synchronous=FULL`: when the commit
//! returns, the edit is on disk and survives power loss.
//!
//! The layout is shaped by what one edit's commit has to write, since every page it dirties
//! is written to the WAL and flushed before the edit returns: an edit touches one leaf of
//! `document_change` (clustered by household, so the new row lands next to its siblings)
//! and one row of `household_index`, and nothing else.

use rusqlite::{Connection, OptionalExtension};
use std::path::Path;

/// The on-device schema version this code writes (`PRAGMA user_version`).
const DB_VERSION: i64 = 6;

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

/// Brings an older database up to [`DB_VERSION`], one step per version. A new database
/// takes every step, so there is one way to reach each layout.
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version < 1 {
        conn.execute_batch(UPGRADE_TO_1)?;
    }
    if version < 2 {
        conn.execute_batch(UPGRADE_TO_2)?;
    }
    if version < 3 {
        conn.execute_batch(UPGRADE_TO_3)?;
    }
    if version < 4 {
        conn.execute_batch(UPGRADE_TO_4)?;
    }
    if version < 5 {
        conn.execute_batch(UPGRADE_TO_5)?;
    }
    if version < 6 {
        conn.execute_batch(UPGRADE_TO_6)?;
    }
    debug_assert_eq!(
        DB_VERSION, 6,
        "add the upgrade step for the new version above"
    );
    Ok(())
}

/// The first layout: unsynced changes in a table of their own, and a document row updated
/// by every edit.
const UPGRADE_TO_1: &str = "BEGIN;
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
    COMMIT;";

/// Version 2 writes two pages per edit instead of about six.
///
/// - `document_change` is clustered by household (`WITHOUT ROWID`) and carries the
///   unsynced mark itself (`unsynced_hash`), so `unsynced_change` and its index are gone.
/// - The document row is no longer touched by an edit: the row count it kept is the
///   change rows' own `seq`, and `updated_at` lives in `household_index` only. Its new
///   `snapshot_seq` says which change rows the snapshot already holds: those are not
///   loaded, and stay only while their unsynced mark does.
/// - `household_index` counts the household's unsynced changes, so the list and the
///   household's detail read the count instead of counting.
///
/// Existing unsynced hashes become marked rows at or below `snapshot_seq` (their changes
/// are in the snapshot or in the rows after it, so they need no bytes), and the existing
/// change rows move up past them.
const UPGRADE_TO_2: &str = "BEGIN;
    CREATE TABLE document_change_v2 (
        household_id TEXT NOT NULL REFERENCES document(household_id),
        seq INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        -- set while the change was recorded here and the server has not confirmed it
        unsynced_hash BLOB,
        PRIMARY KEY (household_id, seq)
    ) WITHOUT ROWID;
    INSERT INTO document_change_v2 (household_id, seq, bytes, unsynced_hash)
        SELECT household_id, ROW_NUMBER() OVER (PARTITION BY household_id ORDER BY hash),
               x'', hash
        FROM unsynced_change;
    INSERT INTO document_change_v2 (household_id, seq, bytes, unsynced_hash)
        SELECT c.household_id,
               c.seq + (SELECT COUNT(*) FROM unsynced_change u
                        WHERE u.household_id = c.household_id),
               c.bytes, NULL
        FROM document_change c;
    ALTER TABLE document ADD COLUMN snapshot_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE document SET snapshot_seq =
        (SELECT COUNT(*) FROM unsynced_change u WHERE u.household_id = document.household_id);
    ALTER TABLE document DROP COLUMN change_rows;
    ALTER TABLE document DROP COLUMN updated_at;
    ALTER TABLE household_index ADD COLUMN unsynced_changes INTEGER NOT NULL DEFAULT 0;
    UPDATE household_index SET unsynced_changes =
        (SELECT COUNT(*) FROM unsynced_change u
         WHERE u.household_id = household_index.household_id);
    DROP TABLE unsynced_change;
    DROP TABLE document_change;
    ALTER TABLE document_change_v2 RENAME TO document_change;
    PRAGMA user_version = 2;
    COMMIT;";

/// Version 3 knows merged households: county staff merged a duplicate into another, and the
/// tombstone leaves the lists (its document stays, with any edits still to upload).
const UPGRADE_TO_3: &str = "BEGIN;
    ALTER TABLE household_index ADD COLUMN merged_into TEXT;
    PRAGMA user_version = 3;
    COMMIT;";

/// Version 4 gives the sync client's state tables of its own: where the device is in the
/// server's feed, whether it was revoked, and its notes on households (sent with their whole
/// history, refused, held in quarantine). Until now they were JSON texts among the settings
/// (`setting.sync.*` in `meta`); an existing device's are carried over.
const UPGRADE_TO_4: &str = "BEGIN;
    CREATE TABLE sync_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        -- where the device is in the server's feed; NULL before its first completed download
        cursor_feed INTEGER,
        cursor_download_after TEXT,
        -- set when the server revoked this device and its data was erased
        revoked_at INTEGER,
        revoked_zh TEXT,
        revoked_en TEXT
    );
    -- No reference to document: a note can outlive its household on the device.
    CREATE TABLE sync_household (
        household_id TEXT PRIMARY KEY,
        -- the server lacked the history of an upload: send every change next time
        full_history INTEGER NOT NULL DEFAULT 0,
        -- the server refused the last upload
        rejected_code TEXT,
        rejected_zh TEXT,
        rejected_en TEXT,
        -- the server holds changes of the last upload in quarantine
        quarantined_rule TEXT,
        quarantined_zh TEXT,
        quarantined_en TEXT,
        quarantined_changes INTEGER
    ) WITHOUT ROWID;
    INSERT INTO sync_state (id, cursor_feed, cursor_download_after)
        SELECT 1, json_extract(value, '$.feed'), json_extract(value, '$.download_after')
        FROM meta
        WHERE key = 'setting.sync.cursor' AND json_valid(value)
          AND json_type(value, '$.feed') = 'integer';
    INSERT INTO sync_state (id, revoked_at, revoked_zh, revoked_en)
        SELECT 1, json_extract(value, '$.at'), json_extract(value, '$.message.zh'),
               json_extract(value, '$.message.en')
        FROM meta
        WHERE key = 'setting.sync.revoked' AND json_valid(value)
        ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at,
            revoked_zh = excluded.revoked_zh, revoked_en = excluded.revoked_en;
    INSERT INTO sync_household (household_id, full_history)
        SELECT substr(key, length('setting.sync.full_history.') + 1), 1
        FROM meta
        WHERE substr(key, 1, length('setting.sync.full_history.')) = 'setting.sync.full_history.';
    INSERT INTO sync_household (household_id, rejected_code, rejected_zh, rejected_en)
        SELECT substr(key, length('setting.sync.rejected.') + 1), json_extract(value, '$.code'),
               json_extract(value, '$.reason.zh'), json_extract(value, '$.reason.en')
        FROM meta
        WHERE substr(key, 1, length('setting.sync.rejected.')) = 'setting.sync.rejected.'
          AND json_valid(value)
        ON CONFLICT (household_id) DO UPDATE SET rejected_code = excluded.rejected_code,
            rejected_zh = excluded.rejected_zh, rejected_en = excluded.rejected_en;
    INSERT INTO sync_household (household_id, quarantined_rule, quarantined_zh,
            quarantined_en, quarantined_changes)
        SELECT substr(key, length('setting.sync.quarantined.') + 1),
               json_extract(value, '$.rule'), json_extract(value, '$.reason.zh'),
               json_extract(value, '$.reason.en'), json_extract(value, '$.changes')
        FROM meta
        WHERE substr(key, 1, length('setting.sync.quarantined.')) = 'setting.sync.quarantined.'
          AND json_valid(value)
        ON CONFLICT (household_id) DO UPDATE SET quarantined_rule = excluded.quarantined_rule,
            quarantined_zh = excluded.quarantined_zh, quarantined_en = excluded.quarantined_en,
            quarantined_changes = excluded.quarantined_changes;
    DELETE FROM meta WHERE substr(key, 1, length('setting.sync.')) = 'setting.sync.';
    PRAGMA user_version = 4;
    COMMIT;";

/// Version 5 keeps photos (issue 18) beside the households, once per content hash: the
/// bytes this phone made, or what it downloaded (a thumbnail, the whole photo on demand);
/// and where each photo this phone attached stands in its upload. A household's document
/// holds only the reference (`photos.<id>.*`). A photo row is large, so it keeps a rowid:
/// a `WITHOUT ROWID` table is for small rows.
const UPGRADE_TO_5: &str = "BEGIN;
    CREATE TABLE photo (
        hash TEXT PRIMARY KEY,
        -- the photo itself: made here, or downloaded whole; NULL while only a thumbnail is held
        bytes BLOB,
        -- the server's thumbnail, downloaded on demand
        thumbnail BLOB,
        stored_at INTEGER NOT NULL
    );
    -- One row per photo this phone attached, until the server holds it.
    CREATE TABLE photo_upload (
        hash TEXT PRIMARY KEY REFERENCES photo(hash),
        -- the household whose reference lets this phone upload it (the first it was attached to)
        household_id TEXT NOT NULL,
        -- set when the server said it holds the whole photo: never asked about again
        confirmed_at INTEGER,
        -- set when the server refused the photo itself; it is not sent again
        refused_code TEXT,
        refused_zh TEXT,
        refused_en TEXT
    );
    PRAGMA user_version = 5;
    COMMIT;";

/// Version 6 counts each household's open visit tasks (layout 3) in its index row, so the
/// to-do list is one query. No household held a task before, so 0 is right for every row.
const UPGRADE_TO_6: &str = "BEGIN;
    ALTER TABLE household_index ADD COLUMN open_tasks INTEGER NOT NULL DEFAULT 0;
    PRAGMA user_version = 6;
    COMMIT;";

pub fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

/// Sync state as a version 3 store kept it, among the settings: a connection, a cursor, a
/// revocation, and notes on two households.
#[cfg(test)]
pub(crate) const VERSION_3_SYNC_SETTINGS: &str = r#"INSERT INTO meta (key, value) VALUES
    ('setting.server', 'https://county.example'),
    ('setting.token', 'secret'),
    ('setting.sync.cursor', '{"feed":42,"download_after":"h9"}'),
    ('setting.sync.revoked', '{"at":7,"message":{"zh":"已撤销","en":"Revoked"}}'),
    ('setting.sync.full_history.h1', '1'),
    ('setting.sync.rejected.h1',
     '{"household":"h1","code":"missing_history","reason":{"zh":"缺少历史","en":"missing"}}'),
    ('setting.sync.quarantined.h2',
     '{"household":"h2","rule":"out_of_scope","reason":{"zh":"不在本村","en":"village"},"changes":3}');"#;

/// A store file as version 3 of this code left it, holding what `rows` inserts.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn create_version_3(path: &Path, rows: &str) {
    let conn = Connection::open(path).unwrap();
    configure(&conn).unwrap();
    for step in [UPGRADE_TO_1, UPGRADE_TO_2, UPGRADE_TO_3] {
        conn.execute_batch(step).unwrap();
    }
    conn.execute_batch(rows).unwrap();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A `document_change` row: household, seq, bytes, unsynced hash.
    type ChangeRow = (String, i64, Vec<u8>, Option<Vec<u8>>);

    #[test]
    fn test_a_version_3_store_keeps_its_sync_state_in_the_new_tables_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        create_version_3(&path, VERSION_3_SYNC_SETTINGS);
        let conn = open(&path).unwrap();

        let state: (i64, String, i64, String, String) = conn
            .query_row(
                "SELECT cursor_feed, cursor_download_after, revoked_at, revoked_zh, revoked_en
                 FROM sync_state",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            state,
            (42, "h9".into(), 7, "已撤销".into(), "Revoked".into())
        );
        type NoteRow = (
            String,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let notes: Vec<NoteRow> = conn
            .prepare(
                "SELECT household_id, full_history, rejected_code, rejected_en,
                        quarantined_rule, quarantined_changes
                 FROM sync_household ORDER BY household_id",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            notes,
            vec![
                (
                    "h1".into(),
                    1,
                    Some("missing_history".into()),
                    Some("missing".into()),
                    None,
                    None
                ),
                (
                    "h2".into(),
                    0,
                    None,
                    None,
                    Some("out_of_scope".into()),
                    Some(3)
                ),
            ]
        );
        let left: Vec<String> = conn
            .prepare("SELECT key FROM meta ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, vec!["setting.server", "setting.token"]);
    }

    #[test]
    fn test_a_version_1_store_keeps_its_changes_and_unsynced_marks_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let conn = Connection::open(&path).unwrap();
            configure(&conn).unwrap();
            conn.execute_batch(UPGRADE_TO_1).unwrap();
            conn.execute_batch(
                "INSERT INTO document (household_id, village, snapshot, change_rows, updated_at)
                     VALUES ('h1', '141124100201', x'01', 2, 5), ('h2', '141124100201', x'02', 0, 6);
                 INSERT INTO document_change (household_id, seq, bytes)
                     VALUES ('h1', 1, x'a1'), ('h1', 2, x'a2');
                 INSERT INTO unsynced_change (household_id, hash)
                     VALUES ('h1', x'f1'), ('h1', x'f2'), ('h2', x'f3');
                 INSERT INTO household_index (household_id, village, number, member_count,
                         error_count, warning_count, conflict_count, search_text, updated_at)
                     VALUES ('h1', '141124100201', '1', 0, 0, 0, 0, '', 5),
                            ('h2', '141124100201', '2', 0, 0, 0, 0, '', 6);",
            )
            .unwrap();
        }
        let conn = open(&path).unwrap();

        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, DB_VERSION);
        let rows: Vec<ChangeRow> = conn
            .prepare("SELECT household_id, seq, bytes, unsynced_hash FROM document_change")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let h1 = |seq: i64, bytes: &[u8], hash: Option<&[u8]>| {
            (
                "h1".to_owned(),
                seq,
                bytes.to_vec(),
                hash.map(<[u8]>::to_vec),
            )
        };
        assert_eq!(
            rows,
            vec![
                h1(1, b"", Some(b"\xf1")),
                h1(2, b"", Some(b"\xf2")),
                h1(3, b"\xa1", None),
                h1(4, b"\xa2", None),
                ("h2".to_owned(), 1, Vec::new(), Some(b"\xf3".to_vec())),
            ]
        );
        let documents: Vec<(String, i64)> = conn
            .prepare("SELECT household_id, snapshot_seq FROM document ORDER BY household_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(documents, vec![("h1".to_owned(), 2), ("h2".to_owned(), 1)]);
        let unsynced: Vec<i64> = conn
            .prepare("SELECT unsynced_changes FROM household_index ORDER BY household_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(unsynced, vec![2, 1]);
    }
}
