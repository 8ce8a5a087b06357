//! Reading document and change rows, many households per statement.

use super::LedgerError;
use crate::storage::db::{Backend, rows_per_statement};
use automerge::ChangeHash;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::{HashMap, HashSet};

/// A document's row, as read inside a transaction.
pub(crate) struct StoredDocument {
    pub(crate) village: String,
    pub(crate) last_feed: i64,
    /// Sealed: opened only when the document is loaded from it, not when the cache has it.
    pub(crate) snapshot: Option<Vec<u8>>,
    pub(crate) snapshot_feed: i64,
    pub(crate) changes_after_snapshot: i64,
}

/// What a write to the household changes in its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentVersion<'a> {
    village: &'a str,
    last_feed: i64,
    snapshot_feed: i64,
    changes_after_snapshot: i64,
}

impl StoredDocument {
    /// What a write to the household changes in its row; equal before and after means no
    /// write came between.
    pub(crate) fn version(&self) -> DocumentVersion<'_> {
        DocumentVersion {
            village: &self.village,
            last_feed: self.last_feed,
            snapshot_feed: self.snapshot_feed,
            changes_after_snapshot: self.changes_after_snapshot,
        }
    }
}

/// How much of a document row to read.
#[derive(Clone, Copy)]
pub(crate) enum DocumentRead {
    /// With the sealed snapshot, to load the document from.
    WithSnapshot,
    /// Only its [`StoredDocument::version`], to see whether the household was written.
    Version,
}

const DOCUMENT_COLUMNS: &str =
    "household_id, village, last_feed, snapshot, snapshot_feed, changes_after_snapshot";

pub(super) fn stored_document(row: &sqlx::any::AnyRow) -> Result<StoredDocument, sqlx::Error> {
    Ok(StoredDocument {
        village: row.try_get("village")?,
        last_feed: row.try_get("last_feed")?,
        snapshot: row.try_get("snapshot")?,
        snapshot_feed: row.try_get("snapshot_feed")?,
        changes_after_snapshot: row.try_get("changes_after_snapshot")?,
    })
}

pub(super) async fn document_row(
    conn: &mut AnyConnection,
    household: &str,
) -> Result<Option<StoredDocument>, LedgerError> {
    let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM document WHERE household_id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(household)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(stored_document).transpose()?)
}

/// The document rows of these households, in one statement per [`MAX_PARAMS`] households.
/// Read for [`DocumentRead::Version`], a row's snapshot is `None`.
///
/// [`MAX_PARAMS`]: crate::storage::db::MAX_PARAMS
pub(crate) async fn document_rows(
    conn: &mut AnyConnection,
    households: &[&str],
    read: DocumentRead,
) -> Result<HashMap<String, StoredDocument>, LedgerError> {
    let columns = match read {
        DocumentRead::WithSnapshot => DOCUMENT_COLUMNS,
        DocumentRead::Version => {
            "household_id, village, last_feed, NULL AS snapshot, snapshot_feed, \
             changes_after_snapshot"
        }
    };
    let mut stored = HashMap::with_capacity(households.len());
    for batch in households.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT {columns} FROM document WHERE household_id IN ({})",
            Backend::of(conn).placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for household in batch {
            query = query.bind(household.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            stored.insert(row.try_get("household_id")?, stored_document(&row)?);
        }
    }
    Ok(stored)
}

/// The change rows after each household's snapshot, in feed order, sealed. Read under the
/// write order, so no row beyond the document's `last_feed` can exist.
pub(super) async fn changes_after_snapshots(
    conn: &mut AnyConnection,
    households: &[&str],
) -> Result<HashMap<String, Vec<Vec<u8>>>, LedgerError> {
    let mut changes: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for batch in households.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT c.household_id, c.bytes FROM change c
             JOIN document d ON d.household_id = c.household_id
             WHERE c.household_id IN ({}) AND c.feed > d.snapshot_feed ORDER BY c.feed",
            Backend::of(conn).placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for household in batch {
            query = query.bind(household.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            changes
                .entry(row.try_get("household_id")?)
                .or_default()
                .push(row.try_get("bytes")?);
        }
    }
    Ok(changes)
}

/// Which of these change hashes are already stored.
pub(crate) async fn stored_hashes(
    conn: &mut AnyConnection,
    hashes: &[&ChangeHash],
) -> Result<HashSet<ChangeHash>, LedgerError> {
    let mut stored = HashSet::new();
    for batch in hashes.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT hash FROM change WHERE hash IN ({})",
            Backend::of(conn).placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for hash in batch {
            query = query.bind(hash.as_ref().to_vec());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let bytes: Vec<u8> = row.try_get("hash")?;
            if let Ok(hash) = ChangeHash::try_from(bytes.as_slice()) {
                stored.insert(hash);
            }
        }
    }
    Ok(stored)
}

pub(super) async fn max_feed(conn: &mut AnyConnection) -> Result<u64, LedgerError> {
    let max: i64 = sqlx::query("SELECT COALESCE(MAX(last_feed), 0) AS max_feed FROM document")
        .fetch_one(&mut *conn)
        .await?
        .try_get("max_feed")?;
    Ok(u64::try_from(max).unwrap_or_default())
}
