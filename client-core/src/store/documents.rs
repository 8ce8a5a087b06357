//! Households' documents: in memory (a bounded cache) and on disk (a snapshot and the
//! change rows since), and how a change is appended and folded into a new snapshot.

use super::derived::Derived;
use crate::error::{Error, Result};
use automerge::{ActorId, AutoCommit, ChangeHash};
use lru::LruCache;
use rusqlite::{Connection, OptionalExtension, params};
use schema::ids::HouseholdId;
use schema::layout;
use std::num::NonZeroUsize;

/// Open documents kept in memory: a fixed number, so memory does not grow with the number
/// of households stored.
pub(super) const CACHE_CAPACITY: NonZeroUsize = NonZeroUsize::new(32).expect("non-zero");

/// Change rows after which a document is folded into a new snapshot.
pub(super) const COMPACT_AFTER_ROWS: i64 = 128;

/// A household's document in memory, and where its change rows stand on disk.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) doc: AutoCommit,
    /// The `seq` the household's next change row follows.
    pub(super) last_seq: i64,
    /// Change rows up to this `seq` are already in the snapshot.
    pub(super) snapshot_seq: i64,
    /// The household as last read from `doc` and checked, kept so an edit re-reads and
    /// re-checks only the fields it wrote. `None` until first read, and whenever `doc`
    /// changed in a way that was not followed field by field (data from elsewhere).
    pub(super) derived: Option<Derived>,
}

impl Loaded {
    /// The household as its document now stands, read and checked if it is not at hand
    /// (or was checked on another day).
    pub(super) fn derived(&mut self, today: jiff::civil::Date) -> Result<&Derived> {
        if self.derived.as_ref().is_none_or(|d| d.today != today) {
            self.derived = Some(Derived::read(self.doc.document(), today)?);
        }
        Ok(self.derived.as_ref().expect("just read"))
    }
}

/// Loads a household into the cache (if it is not there) and returns it.
pub(super) fn load<'c>(
    conn: &Connection,
    cache: &'c mut LruCache<String, Loaded>,
    actor: &ActorId,
    household: &HouseholdId,
) -> Result<&'c mut Loaded> {
    if cache.get_mut(household.as_str()).is_none() {
        let stored: Option<(Vec<u8>, i64)> = conn
            .prepare_cached("SELECT snapshot, snapshot_seq FROM document WHERE household_id = ?1")?
            .query_row([household.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let (snapshot, snapshot_seq) =
            stored.ok_or_else(|| Error::HouseholdNotFound(household.to_string()))?;
        let mut doc = AutoCommit::load(&snapshot)?.with_actor(actor.clone());
        let mut last_seq = snapshot_seq;
        let mut statement = conn.prepare_cached(
            "SELECT seq, bytes FROM document_change WHERE household_id = ?1 AND seq > ?2
             ORDER BY seq",
        )?;
        let mut rows = statement.query(params![household.as_str(), snapshot_seq])?;
        while let Some(row) = rows.next()? {
            last_seq = row.get(0)?;
            doc.load_incremental(&row.get::<_, Vec<u8>>(1)?)?;
        }
        layout::migrate(&mut doc)?;
        cache.put(
            household.to_string(),
            Loaded {
                doc,
                last_seq,
                snapshot_seq,
                derived: None,
            },
        );
    }
    cache
        .get_mut(household.as_str())
        .ok_or_else(|| Error::HouseholdNotFound(household.to_string()))
}

pub(super) fn document_exists(conn: &Connection, household: &HouseholdId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM document WHERE household_id = ?1")?
        .query_row([household.as_str()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Appends change bytes to a household in the caller's transaction, marked unsynced when
/// they are this device's own change, and folds the rows into a new snapshot every
/// [`COMPACT_AFTER_ROWS`]. Only the household's own leaf of `document_change` is written:
/// the document row is left alone unless it is time to fold.
pub(super) fn append_change(
    tx: &Connection,
    household: &str,
    loaded: &mut Loaded,
    bytes: &[u8],
    unsynced: Option<&ChangeHash>,
) -> Result<()> {
    let seq = loaded.last_seq + 1;
    tx.prepare_cached(
        "INSERT INTO document_change (household_id, seq, bytes, unsynced_hash)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![household, seq, bytes, unsynced.map(|h| h.as_ref())])?;
    loaded.last_seq = seq;
    if seq - loaded.snapshot_seq >= COMPACT_AFTER_ROWS {
        compact(tx, household, loaded.doc.save(), seq)?;
        loaded.snapshot_seq = seq;
    }
    Ok(())
}

/// Folds a household's change rows up to `seq` into a new snapshot, in the caller's
/// transaction, so a crash leaves either the old rows or the new snapshot, never neither.
/// Rows still marked unsynced stay, without their bytes, to carry the mark.
pub(super) fn compact(tx: &Connection, household: &str, snapshot: Vec<u8>, seq: i64) -> Result<()> {
    tx.execute(
        "UPDATE document SET snapshot = ?2, snapshot_seq = ?3 WHERE household_id = ?1",
        params![household, snapshot, seq],
    )?;
    tx.execute(
        "DELETE FROM document_change
         WHERE household_id = ?1 AND seq <= ?2 AND unsynced_hash IS NULL",
        params![household, seq],
    )?;
    tx.execute(
        "UPDATE document_change SET bytes = x''
         WHERE household_id = ?1 AND seq <= ?2 AND length(bytes) > 0",
        params![household, seq],
    )?;
    Ok(())
}

pub(super) fn has_change(doc: &mut AutoCommit, hash: &ChangeHash) -> bool {
    doc.get_change_meta_by_hash(hash).is_some()
}
