//! What the server is known to hold of a household: its confirmed heads, which only grow,
//! and the unsynced marks they clear.

use super::Store;
use super::documents::{Loaded, has_change};
use crate::error::{Error, Result};
use automerge::{AutoCommit, ChangeHash};
use rusqlite::{Connection, OptionalExtension, params};
use schema::ids::HouseholdId;
use std::collections::{BTreeSet, HashSet};

impl Store {
    /// The heads the server last confirmed for this household (empty if never synced).
    pub fn confirmed_heads(&self, household: &HouseholdId) -> Result<Vec<ChangeHash>> {
        read_confirmed(&self.lock().conn, household)
    }

    /// Records that the server holds the household up to `heads`, as well as everything it
    /// was confirmed to hold before: local changes covered by them no longer count as
    /// unsynced.
    pub fn confirm(&self, household: &HouseholdId, heads: &[ChangeHash]) -> Result<()> {
        let mut inner = self.lock();
        let (conn, loaded) = inner.load(household)?;
        let (confirmed, _) = widened_confirmation(conn, household, &mut loaded.doc, heads)?;
        // Stored even when unchanged: clearing marks costs little here, and a mark left
        // behind would keep the household in every upload.
        let tx = conn.transaction()?;
        let cleared = store_confirmed(&tx, household.as_str(), loaded, &confirmed)?;
        if cleared > 0 {
            tx.prepare_cached(
                "UPDATE household_index SET unsynced_changes = unsynced_changes - ?2
                 WHERE household_id = ?1",
            )?
            .execute(params![household.as_str(), cleared])?;
        }
        tx.commit()?;
        Ok(())
    }
}

pub(super) fn read_confirmed(
    conn: &Connection,
    household: &HouseholdId,
) -> Result<Vec<ChangeHash>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT confirmed_heads FROM document WHERE household_id = ?1")?
        .query_row([household.as_str()], |row| row.get(0))
        .optional()?;
    let bytes = bytes.ok_or_else(|| Error::HouseholdNotFound(household.to_string()))?;
    Ok(bytes
        .chunks_exact(32)
        .filter_map(|chunk| ChangeHash::try_from(chunk).ok())
        .collect())
}

pub(super) fn join_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.as_ref().to_vec()).collect()
}

/// The household's confirmed heads once the server is also known to hold `held` (and
/// their history), and whether that adds anything to what was confirmed before.
///
/// The server never forgets a change, so what it confirmed before still holds: the new
/// heads cover both. Only changes this device has count, since only they can be left
/// out of an upload.
pub(super) fn widened_confirmation(
    conn: &Connection,
    household: &HouseholdId,
    doc: &mut AutoCommit,
    held: &[ChangeHash],
) -> Result<(Vec<ChangeHash>, bool)> {
    let mut before = read_confirmed(conn, household)?;
    before.sort_unstable();
    let candidates: BTreeSet<ChangeHash> = before
        .iter()
        .chain(held)
        .copied()
        .filter(|hash| has_change(doc, hash))
        .collect();
    let heads = smallest_heads(doc.document(), candidates);
    let changed = heads != before;
    Ok((heads, changed))
}

/// The heads of everything `hashes` and their ancestors make up: the hashes that are not
/// an ancestor of another, sorted. All must be in `doc`.
pub(super) fn smallest_heads(
    doc: &automerge::Automerge,
    hashes: impl IntoIterator<Item = ChangeHash>,
) -> Vec<ChangeHash> {
    let mut heads: BTreeSet<ChangeHash> = hashes.into_iter().collect();
    // A run of changes received together is mostly a chain: dropping direct dependencies
    // first leaves few to check the slow way.
    let deps: Vec<ChangeHash> = heads
        .iter()
        .filter_map(|hash| doc.get_change_meta_by_hash(hash))
        .flat_map(|meta| meta.deps)
        .collect();
    for dep in &deps {
        heads.remove(dep);
    }
    if heads.len() > 1 {
        let all: Vec<ChangeHash> = heads.iter().copied().collect();
        heads.retain(|hash| {
            let others: Vec<ChangeHash> = all.iter().copied().filter(|h| h != hash).collect();
            // Not among the changes the others lack: an ancestor of one of them.
            doc.get_changes_meta(&others)
                .iter()
                .any(|meta| meta.hash == *hash)
        });
    }
    heads.into_iter().collect()
}

/// Stores `confirmed` as the household's confirmed heads, in the caller's transaction, and
/// clears the unsynced mark of every change of this device they cover. Returns how many
/// marks it cleared.
pub(super) fn store_confirmed(
    tx: &Connection,
    household: &str,
    loaded: &mut Loaded,
    confirmed: &[ChangeHash],
) -> Result<i64> {
    let still_missing: HashSet<ChangeHash> = loaded
        .doc
        .document()
        .get_changes_meta(confirmed)
        .iter()
        .map(|meta| meta.hash)
        .collect();
    let marked: Vec<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT seq, unsynced_hash FROM document_change
             WHERE household_id = ?1 AND unsynced_hash IS NOT NULL",
        )?
        .query_map([household], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut cleared = 0;
    for (seq, hash) in marked {
        let covered = ChangeHash::try_from(hash.as_slice())
            .is_ok_and(|h| has_change(&mut loaded.doc, &h) && !still_missing.contains(&h));
        if !covered {
            continue;
        }
        // A row the snapshot already holds was kept only for its mark.
        let statement = if seq <= loaded.snapshot_seq {
            "DELETE FROM document_change WHERE household_id = ?1 AND seq = ?2"
        } else {
            "UPDATE document_change SET unsynced_hash = NULL WHERE household_id = ?1 AND seq = ?2"
        };
        tx.prepare_cached(statement)?
            .execute(params![household, seq])?;
        cleared += 1;
    }
    tx.prepare_cached("UPDATE document SET confirmed_heads = ?2 WHERE household_id = ?1")?
        .execute(params![household, join_heads(confirmed)])?;
    Ok(cleared)
}
