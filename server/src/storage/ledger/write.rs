//! Storing new changes: their rows (each with the next feed position), the document rows
//! with a snapshot when one is due, and the register rows, in a few statements for many
//! households; and changes the server itself made (staff decisions).

use super::rows::{document_row, stored_hashes};
use super::{COMPACT_AFTER_CHANGES, Ledger, LedgerError};
use crate::storage::db::{Backend, rows_per_statement};
use crate::storage::register::{self, Projection};
use crate::storage::vault::Vault;
use automerge::{AutoCommit, Change, ChangeHash};
use schema::layout::{self, HouseholdView};
use schema::validation::Issue;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;

/// A change to store: what its row holds.
pub(crate) struct NewChange {
    pub(crate) hash: ChangeHash,
    pub(crate) actor: String,
    pub(crate) bytes: Vec<u8>,
}

impl NewChange {
    pub(crate) fn of(change: &Change) -> NewChange {
        NewChange {
            hash: change.hash(),
            actor: change.actor_id().to_hex_string(),
            bytes: change.raw_bytes().to_vec(),
        }
    }
}

/// What a household's document row said before this write.
#[derive(Clone, Copy)]
pub(crate) struct Before {
    pub(crate) snapshot_feed: i64,
    pub(crate) changes_after_snapshot: i64,
}

impl super::StoredDocument {
    pub(crate) fn before(&self) -> Before {
        Before {
            snapshot_feed: self.snapshot_feed,
            changes_after_snapshot: self.changes_after_snapshot,
        }
    }
}

/// A household with new changes to store: its merged document and view, and what to write
/// for it.
pub(crate) struct HouseholdWrite {
    pub(crate) household: String,
    pub(crate) village: String,
    /// `None` for a household the server did not have.
    pub(crate) before: Option<Before>,
    pub(crate) doc: AutoCommit,
    pub(crate) changes: Vec<NewChange>,
    pub(crate) view: HouseholdView,
    /// The register rows of `view`, and its validation issues.
    pub(crate) projection: Projection,
}

/// What storing server-made changes left: the household's view and validation issues as
/// they are now, for the caller to bring the review queue up to date with.
#[derive(Debug)]
pub struct ServerWrite {
    pub view: HouseholdView,
    pub issues: Vec<Issue>,
}

impl Ledger {
    /// Stores changes the server made to a household (a staff decision), inside the caller's
    /// write transaction, as ingest stores a device's: the document gains those it lacks,
    /// each is stored once with the next feed position, and the register rows are rewritten.
    /// The document is not cached: the transaction may still roll back. Returns what was
    /// written, or `None` when the table held every change already; refreshing the review
    /// queue is the caller's.
    pub async fn apply_server_changes(
        &self,
        conn: &mut AnyConnection,
        household: &str,
        village: &str,
        doc: &mut AutoCommit,
        changes: Vec<Change>,
    ) -> Result<Option<ServerWrite>, LedgerError> {
        // A household with no row yet is created: a quarantined change that creates one,
        // released.
        let row = document_row(conn, household).await?;
        // A change may have been made on this very document (it holds it already) or on a
        // fork of it; either way it is stored unless the table has it.
        let lacking: Vec<Change> = changes
            .iter()
            .filter(|change| doc.get_change_by_hash(&change.hash()).is_none())
            .cloned()
            .collect();
        doc.apply_changes(lacking)?;
        let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
        let stored = stored_hashes(conn, &hashes.iter().collect::<Vec<_>>()).await?;
        let rows: Vec<NewChange> = changes
            .iter()
            .filter(|change| !stored.contains(&change.hash()))
            .map(NewChange::of)
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let view = layout::read_household(doc.document())?;
        let mut written = [HouseholdWrite {
            household: household.to_owned(),
            village: village.to_owned(),
            before: row.map(|row| row.before()),
            doc: std::mem::take(doc),
            changes: rows,
            projection: Projection::of(household, &view, self.clock.today()),
            view,
        }];
        let now = self.clock.now_seconds();
        let result = write_households(conn, &self.vault, &mut written, now).await;
        let [written] = written;
        *doc = written.doc;
        result?;
        Ok(Some(ServerWrite {
            view: written.view,
            issues: written.projection.issues,
        }))
    }
}

/// Writes households with new changes: their new document rows, their changes (each gets
/// the next feed position, in upload order), their document rows with a new snapshot when
/// one is due, and their register rows. A few statements for the whole batch. Returns each
/// household's new last feed position.
pub(crate) async fn write_households(
    conn: &mut AnyConnection,
    vault: &Vault,
    households: &mut [HouseholdWrite],
    now: i64,
) -> Result<Vec<i64>, LedgerError> {
    if households.is_empty() {
        return Ok(Vec::new());
    }
    let heads: Vec<Vec<u8>> = households
        .iter_mut()
        .map(|m| {
            m.doc
                .get_heads()
                .iter()
                .flat_map(|h| h.as_ref().to_vec())
                .collect()
        })
        .collect();

    // Changes reference their document, so new documents come first.
    let new: Vec<usize> = (0..households.len())
        .filter(|&i| households[i].before.is_none())
        .collect();
    for batch in new.chunks(rows_per_statement(5)) {
        let sql = format!(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at) VALUES {}",
            Backend::of(conn).value_rows(batch.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &i in batch {
            query = query
                .bind(households[i].household.clone())
                .bind(households[i].village.clone())
                .bind(heads[i].clone())
                .bind(0i64)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }

    let mut owner: HashMap<Vec<u8>, usize> = HashMap::new();
    let rows: Vec<(usize, &NewChange)> = households
        .iter()
        .enumerate()
        .flat_map(|(i, m)| m.changes.iter().map(move |c| (i, c)))
        .collect();
    let mut last_feeds = vec![0i64; households.len()];
    for batch in rows.chunks(rows_per_statement(5)) {
        // The hashes were checked unstored under the write order, so a conflict here is a
        // failure of the server, and fails the request whole.
        let sql = format!(
            "INSERT INTO change (household_id, hash, actor, bytes, received_at) VALUES {}
             RETURNING feed, hash",
            Backend::of(conn).value_rows(batch.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &(i, change) in batch {
            owner.insert(change.hash.as_ref().to_vec(), i);
            query = query
                .bind(households[i].household.clone())
                .bind(change.hash.as_ref().to_vec())
                .bind(change.actor.clone())
                .bind(vault.seal(&change.bytes))
                .bind(now);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let hash: Vec<u8> = row.try_get("hash")?;
            let feed: i64 = row.try_get("feed")?;
            if let Some(&i) = owner.get(&hash) {
                last_feeds[i] = last_feeds[i].max(feed);
            }
        }
    }

    for batch in (0..households.len())
        .collect::<Vec<_>>()
        .chunks(rows_per_statement(8))
    {
        let sql = format!(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at, snapshot,
                 snapshot_feed, changes_after_snapshot)
             VALUES {}
             ON CONFLICT (household_id) DO UPDATE SET
                 village = excluded.village,
                 heads = excluded.heads, last_feed = excluded.last_feed,
                 updated_at = excluded.updated_at,
                 snapshot = COALESCE(excluded.snapshot, document.snapshot),
                 snapshot_feed = excluded.snapshot_feed,
                 changes_after_snapshot = excluded.changes_after_snapshot",
            Backend::of(conn).value_rows(batch.len(), 8)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &i in batch {
            let household = &mut households[i];
            let stored = household.changes.len() as i64;
            // A new document gets its snapshot at once, and an old one when its rows pile
            // up: the next load is then one `AutoCommit::load` and a few changes.
            let (snapshot, snapshot_feed, after) = match household.before {
                Some(before) if before.changes_after_snapshot + stored < COMPACT_AFTER_CHANGES => (
                    None,
                    before.snapshot_feed,
                    before.changes_after_snapshot + stored,
                ),
                _ => (Some(vault.seal(&household.doc.save())), last_feeds[i], 0),
            };
            query = query
                .bind(household.household.clone())
                .bind(household.village.clone())
                .bind(heads[i].clone())
                .bind(last_feeds[i])
                .bind(now)
                .bind(snapshot)
                .bind(snapshot_feed)
                .bind(after);
        }
        query.execute(&mut *conn).await?;
    }

    let projections: Vec<&Projection> = households.iter().map(|m| &m.projection).collect();
    register::write(conn, vault, &projections, now).await?;
    Ok(last_feeds)
}
