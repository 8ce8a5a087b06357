//! What a household is sent as, and how data received from elsewhere (another device, or
//! the server) is checked and merged; and dropping households the device no longer covers.

use super::confirmation::{
    join_heads, read_confirmed, smallest_heads, store_confirmed, widened_confirmation,
};
use super::derived::Checked;
use super::documents::{Loaded, append_change, document_exists, has_change};
use super::index::{insert_index, update_index};
use super::{Inner, Store};
use crate::error::{Error, Result};
use automerge::{AutoCommit, ChangeHash};
use rusqlite::params;
use schema::ids::{AreaCode, HouseholdId};
use schema::layout::{self, HouseholdView};

/// Who data received from elsewhere came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// Another device, directly: nothing is known about what the server holds.
    Peer,
    /// The server: it holds what it sent, and all of its history.
    Server,
}

impl Store {
    /// The household's current heads.
    pub fn heads(&self, household: &HouseholdId) -> Result<Vec<ChangeHash>> {
        let mut inner = self.lock();
        Ok(inner.load(household)?.1.doc.get_heads())
    }

    /// The changes of a household that a peer holding `since` lacks, one Automerge change
    /// per element, in an order that applies cleanly.
    pub fn changes_since(
        &self,
        household: &HouseholdId,
        since: &[ChangeHash],
    ) -> Result<Vec<Vec<u8>>> {
        let mut inner = self.lock();
        let doc = &mut inner.load(household)?.1.doc;
        let known: Vec<ChangeHash> = since
            .iter()
            .copied()
            .filter(|hash| has_change(doc, hash))
            .collect();
        Ok(doc
            .get_changes(&known)
            .iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect())
    }

    /// The whole household as one saved Automerge document, the compact form for a first
    /// download.
    pub fn document_bytes(&self, household: &HouseholdId) -> Result<Vec<u8>> {
        let mut inner = self.lock();
        Ok(inner.load(household)?.1.doc.save())
    }

    /// Merges changes received from elsewhere, creating the household if this device did
    /// not have it. Every change is checked before any is applied, so damaged data is
    /// refused whole. Returns whether anything new arrived.
    pub fn apply_changes(&self, household: &HouseholdId, changes: &[Vec<u8>]) -> Result<bool> {
        self.receive_changes(household, changes, Origin::Peer)
    }

    /// As [`Store::apply_changes`], for changes the server sent. The server holds them and
    /// their history, so they count as confirmed, with any change of this device's among
    /// their ancestors, and the next upload leaves them out.
    pub fn apply_server_changes(
        &self,
        household: &HouseholdId,
        changes: &[Vec<u8>],
    ) -> Result<bool> {
        self.receive_changes(household, changes, Origin::Server)
    }

    /// Merges a whole saved document received from elsewhere, creating the household if
    /// this device did not have it. Returns whether anything new arrived.
    pub fn apply_document(&self, household: &HouseholdId, bytes: &[u8]) -> Result<bool> {
        self.receive_document(household, bytes, Origin::Peer)
    }

    /// As [`Store::apply_document`], for a document the server sent (a first download): the
    /// server holds every change in it, so they count as confirmed.
    pub fn apply_server_document(&self, household: &HouseholdId, bytes: &[u8]) -> Result<bool> {
        self.receive_document(household, bytes, Origin::Server)
    }

    pub(super) fn receive_changes(
        &self,
        household: &HouseholdId,
        changes: &[Vec<u8>],
        origin: Origin,
    ) -> Result<bool> {
        let parsed = changes
            .iter()
            .map(|bytes| automerge::Change::from_bytes(bytes.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| Error::DamagedData(err.to_string()))?;
        if parsed.is_empty() {
            return Ok(false);
        }
        let stored: Vec<u8> = changes.concat();
        let hashes: Vec<ChangeHash> = parsed.iter().map(automerge::Change::hash).collect();
        self.lock().merge_remote(household, &stored, origin, |doc| {
            doc.apply_changes(parsed)?;
            Ok(hashes)
        })
    }

    pub(super) fn receive_document(
        &self,
        household: &HouseholdId,
        bytes: &[u8],
        origin: Origin,
    ) -> Result<bool> {
        let strict = automerge::LoadOptions::new()
            .on_partial_load(automerge::OnPartialLoad::Error)
            .verification_mode(automerge::VerificationMode::Check);
        automerge::Automerge::load_with_options(bytes, strict)
            .map_err(|err| Error::DamagedData(err.to_string()))?;
        let mut incoming = AutoCommit::load(bytes)?;
        // Merged into a household it is not, it could win the id's conflict: check it alone.
        check_filed_under(household, &layout::read_household(incoming.document())?)?;
        let heads = incoming.get_heads();
        self.lock().merge_remote(household, bytes, origin, |doc| {
            doc.merge(&mut incoming)?;
            Ok(heads)
        })
    }

    /// Removes the households of villages outside `keep` (villages this device no longer
    /// covers) that hold nothing the server lacks: no unsynced change of this device, no
    /// change of any origin beyond what the server confirmed, and no visit under way. The
    /// others stay until a sync delivers them; nothing is lost. Households in `spare` stay
    /// whatever their state. Returns what was removed.
    pub fn drop_households_outside(
        &self,
        keep: &[AreaCode],
        spare: &[HouseholdId],
    ) -> Result<Vec<HouseholdId>> {
        let mut inner = self.lock();
        let candidates: Vec<(String, String)> = inner
            .conn
            .prepare(
                "SELECT household_id, village FROM household_index
                 WHERE unsynced_changes = 0
                   AND household_id NOT IN (SELECT household_id FROM open_visit)
                 ORDER BY household_id",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut dropped = Vec::new();
        for (id, village) in candidates {
            if keep.iter().any(|v| v.as_str() == village) {
                continue;
            }
            let household = HouseholdId::parse(&id)?;
            if spare.contains(&household) {
                continue;
            }
            let confirmed = read_confirmed(&inner.conn, &household)?;
            let doc = &mut inner.load(&household)?.1.doc;
            let known: Vec<ChangeHash> = confirmed
                .into_iter()
                .filter(|hash| has_change(doc, hash))
                .collect();
            if !doc.get_changes(&known).is_empty() {
                continue;
            }
            inner.cache.pop(&id);
            let tx = inner.conn.transaction()?;
            for table in [
                "open_visit",
                "document_change",
                "household_index",
                "document",
            ] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE household_id = ?1"),
                    [&id],
                )?;
            }
            tx.commit()?;
            dropped.push(household);
        }
        Ok(dropped)
    }
}

impl Inner {
    /// Applies data received from elsewhere and stores it as it came, in one transaction
    /// with the household's index row. `apply` returns the changes the sender is known to
    /// hold with their history, which count as confirmed when the sender is the server.
    pub(super) fn merge_remote(
        &mut self,
        household: &HouseholdId,
        stored: &[u8],
        origin: Origin,
        apply: impl FnOnce(&mut AutoCommit) -> Result<Vec<ChangeHash>>,
    ) -> Result<bool> {
        if !document_exists(&self.conn, household)? {
            let mut doc = AutoCommit::new().with_actor(self.actor.clone());
            let held = apply(&mut doc)?;
            check_complete(&mut doc)?;
            layout::migrate(&mut doc)?;
            let view = layout::read_household(doc.document())?;
            check_filed_under(household, &view)?;
            let village =
                AreaCode::parse_village(view.household_text("village").unwrap_or_default())?;
            self.check_village(&village)?;
            let confirmed = match origin {
                Origin::Server => smallest_heads(doc.document(), held),
                Origin::Peer => Vec::new(),
            };
            let checked = Checked::of(&view);
            let tx = self.conn.transaction()?;
            tx.execute(
                "INSERT INTO document (household_id, village, snapshot, confirmed_heads)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    household.as_str(),
                    village.as_str(),
                    doc.save(),
                    join_heads(&confirmed)
                ],
            )?;
            insert_index(&tx, household.as_str(), &view, &checked, 0)?;
            tx.commit()?;
            self.cache.put(
                household.to_string(),
                Loaded {
                    doc,
                    last_seq: 0,
                    snapshot_seq: 0,
                    derived: None,
                },
            );
            return Ok(true);
        }
        let (conn, loaded) = self.load(household)?;
        let before = loaded.doc.get_heads();
        // What arrives is not followed field by field: read the household afresh next time.
        loaded.derived = None;
        let saved = (|| -> Result<bool> {
            let held = apply(&mut loaded.doc)?;
            check_complete(&mut loaded.doc)?;
            let arrived = loaded.doc.get_heads() != before;
            let view = if arrived {
                Some(layout::read_household(loaded.doc.document())?)
            } else {
                None
            };
            if let Some(view) = &view {
                check_filed_under(household, view)?;
            }
            let confirmed = match origin {
                Origin::Server => {
                    let (heads, changed) =
                        widened_confirmation(conn, household, &mut loaded.doc, &held)?;
                    changed.then_some(heads)
                }
                Origin::Peer => None,
            };
            if !arrived && confirmed.is_none() {
                return Ok(false);
            }
            let tx = conn.transaction()?;
            let cleared = match &confirmed {
                Some(heads) => store_confirmed(&tx, household.as_str(), loaded, heads)?,
                None => 0,
            };
            if let Some(view) = &view {
                append_change(&tx, household.as_str(), loaded, stored, None)?;
                let checked = Checked::of(view);
                update_index(&tx, household.as_str(), view, &checked, -cleared)?;
            } else if cleared > 0 {
                tx.prepare_cached(
                    "UPDATE household_index SET unsynced_changes = unsynced_changes - ?2
                     WHERE household_id = ?1",
                )?
                .execute(params![household.as_str(), cleared])?;
            }
            tx.commit()?;
            Ok(arrived)
        })();
        if saved.is_err() {
            // The document in memory may hold what was refused; reload it from disk.
            self.cache.pop(household.as_str());
        }
        saved
    }
}

/// Refuses a received document that names another household as itself, as the server
/// refuses such an upload: filed under the wrong id, it would show one family's record as
/// another's.
pub(super) fn check_filed_under(household: &HouseholdId, view: &HouseholdView) -> Result<()> {
    match view.household_text("id") {
        Some(id) if id == household.as_str() => Ok(()),
        names => Err(Error::NotThisHousehold {
            filed_under: household.to_string(),
            names: names.unwrap_or_default().to_owned(),
        }),
    }
}

/// Refuses changes whose dependencies never arrived: Automerge would hold them back in
/// memory, where a restart would lose them, so the sender must send them again with
/// their history.
pub(super) fn check_complete(doc: &mut AutoCommit) -> Result<()> {
    let missing = doc.get_missing_deps(&[]);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingDependencies(missing.len()))
    }
}
