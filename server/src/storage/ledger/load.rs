//! Documents loaded from their rows: from the cache when it is current, else from the
//! sealed snapshot and the change rows after it.

use super::rows::{StoredDocument, changes_after_snapshots, document_row};
use super::{Ledger, LedgerError};
use crate::storage::vault::Vault;
use automerge::{AutoCommit, Change};
use schema::layout::{self, HouseholdView};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// Where a stored document of a batch comes from.
pub(crate) enum Source {
    Cached(Box<AutoCommit>),
    /// The sealed change rows after the snapshot in the document's row.
    Sealed(Vec<Vec<u8>>),
}

impl Source {
    pub(crate) fn load(
        self,
        vault: &Vault,
        row: Option<&StoredDocument>,
    ) -> Result<AutoCommit, LedgerError> {
        match self {
            Source::Cached(doc) => Ok(*doc),
            Source::Sealed(rows) => {
                load_document(vault, row.and_then(|row| row.snapshot.as_deref()), rows)
            }
        }
    }
}

/// A document from its sealed snapshot and the sealed change rows after it. A row that
/// does not parse is skipped: it was checked when stored, and one bad row must not make the
/// household unreadable. A row that does not open fails the load instead: it means a missing
/// key or altered data, and a document loaded without it could be saved back as a snapshot
/// that lacks the change.
fn load_document(
    vault: &Vault,
    snapshot: Option<&[u8]>,
    rows: Vec<Vec<u8>>,
) -> Result<AutoCommit, LedgerError> {
    let mut doc = match snapshot {
        Some(sealed) => AutoCommit::load(&vault.open(sealed)?)?,
        None => AutoCommit::new(),
    };
    if !rows.is_empty() {
        let mut changes = Vec::with_capacity(rows.len());
        for sealed in rows {
            if let Ok(change) = Change::from_bytes(vault.open(&sealed)?) {
                changes.push(change);
            }
        }
        doc.apply_changes(changes)?;
    }
    Ok(doc)
}

impl Ledger {
    /// Where each stored document of a batch comes from: the cache, or its snapshot and the
    /// change rows after it (one statement for all). Nothing is opened or loaded here; that
    /// is CPU work the caller spreads over the cores.
    pub(crate) async fn document_sources(
        &self,
        conn: &mut AnyConnection,
        stored: &HashMap<String, StoredDocument>,
    ) -> Result<HashMap<String, Source>, LedgerError> {
        let mut sources = HashMap::new();
        let mut behind = Vec::new();
        for (household, row) in stored {
            let source = match self.take_cached(household, row.last_feed) {
                Some(doc) => Source::Cached(Box::new(doc)),
                None => {
                    if row.last_feed > row.snapshot_feed {
                        behind.push(household.as_str());
                    }
                    Source::Sealed(Vec::new())
                }
            };
            sources.insert(household.clone(), source);
        }
        for (household, rows) in changes_after_snapshots(conn, &behind).await? {
            sources.insert(household, Source::Sealed(rows));
        }
        Ok(sources)
    }

    /// Loads a document as its row describes it, from the cache when it is current.
    pub(super) async fn load(
        &self,
        conn: &mut AnyConnection,
        household: &str,
        row: &StoredDocument,
    ) -> Result<AutoCommit, LedgerError> {
        if let Some(doc) = self.take_cached(household, row.last_feed) {
            return Ok(doc);
        }
        let mut changes = Vec::new();
        if row.last_feed > row.snapshot_feed {
            let rows = sqlx::query(
                "SELECT bytes FROM change
                 WHERE household_id = $1 AND feed > $2 AND feed <= $3 ORDER BY feed",
            )
            .bind(household)
            .bind(row.snapshot_feed)
            .bind(row.last_feed)
            .fetch_all(&mut *conn)
            .await?;
            for change in rows {
                changes.push(change.try_get("bytes")?);
            }
        }
        load_document(&self.vault, row.snapshot.as_deref(), changes)
    }

    /// A household's village and document as they stand, outside any transaction.
    pub async fn document(
        &self,
        household: &str,
    ) -> Result<Option<(String, AutoCommit)>, LedgerError> {
        let mut conn = self.db.pool.acquire().await?;
        self.load_for_write(&mut conn, household).await
    }

    /// A household's village and document, read inside the caller's transaction, for
    /// server-made changes to be applied with [`Ledger::apply_server_changes`].
    pub async fn load_for_write(
        &self,
        conn: &mut AnyConnection,
        household: &str,
    ) -> Result<Option<(String, AutoCommit)>, LedgerError> {
        let Some(row) = document_row(conn, household).await? else {
            return Ok(None);
        };
        let doc = self.load(conn, household, &row).await?;
        Ok(Some((row.village, doc)))
    }

    /// Reads a household as it stands, for the register's detail views: its village and what
    /// `then` makes of its document and view (the view alone, or with the fields' history),
    /// the document staying in the cache for the next read.
    pub async fn read<T>(
        &self,
        household: &str,
        then: impl FnOnce(&automerge::Automerge, HouseholdView) -> T,
    ) -> Result<Option<(String, T)>, LedgerError> {
        let mut conn = self.db.pool.acquire().await?;
        let Some(row) = document_row(&mut conn, household).await? else {
            return Ok(None);
        };
        let mut doc = self.load(&mut conn, household, &row).await?;
        let read = layout::read_household(doc.document()).map(|view| then(doc.document(), view));
        self.put_cached(household, doc, row.last_feed);
        Ok(read.ok().map(|read| (row.village, read)))
    }
}
