//! How one edit becomes a durable change: written to the document, committed as one
//! Automerge change, and stored with the household's index row in one SQLite transaction.

use super::derived::{Checked, REFRESH_MAX_KEYS, root_keys_of};
use super::documents::append_change;
use super::index::update_index;
use super::{Inner, now, today};
use crate::error::Result;
use automerge::AutoCommit;
use automerge::transaction::{CommitOptions, Transactable};
use rusqlite::{OptionalExtension, params};
use schema::ids::{HouseholdId, RecordId};
use schema::layout;

/// What an edit does to the household's open visit.
pub(super) enum OpenVisit<'a> {
    Unchanged,
    Start(&'a RecordId),
    Finish(&'a RecordId),
}

impl Inner {
    /// Applies `write` to a household as one Automerge change and commits it durably.
    /// On any failure the change is discarded, in memory and on disk alike.
    pub(super) fn edit(
        &mut self,
        household: &HouseholdId,
        write: impl FnOnce(&mut AutoCommit) -> Result<()>,
    ) -> Result<Checked> {
        self.edit_with_visit(household, OpenVisit::Unchanged, write)
    }

    /// As [`Inner::edit`], also opening or closing a visit in the same transaction, so a
    /// crash can never leave the visit's bookkeeping out of step with the document.
    pub(super) fn edit_with_visit(
        &mut self,
        household: &HouseholdId,
        open_visit: OpenVisit<'_>,
        write: impl FnOnce(&mut AutoCommit) -> Result<()>,
    ) -> Result<Checked> {
        // Who wrote the change, for a household this install has not written to before.
        let actor = self.actor.to_hex_string();
        let actor_info = self.profile.actor_info();
        let (conn, loaded) = self.load(household)?;
        let doc = &mut loaded.doc;
        if let Err(err) = write(doc) {
            doc.rollback();
            return Err(err);
        }
        if doc.pending_ops() > 0 && !layout::has_actor(doc, &actor) {
            layout::write_actor(doc, &actor, &actor_info)?;
        }
        let visit: Option<String> = conn
            .prepare_cached("SELECT visit_id FROM open_visit WHERE household_id = ?1")?
            .query_row([household.as_str()], |row| row.get(0))
            .optional()?;
        let mut options = CommitOptions::default().with_time(now());
        if let Some(visit) = visit.and_then(|v| RecordId::parse(&v).ok()) {
            options = options.with_message(layout::visit_message(&visit));
        }
        let committed = doc.commit_with(options);
        let saved = (|| -> Result<Checked> {
            let today = today();
            let Some(hash) = committed else {
                return Ok(loaded.derived(today)?.checked());
            };
            let (change, keys) = match loaded.doc.get_last_local_change() {
                Some(change) => {
                    // A change of more ops than that is read whole; do not decode it.
                    let keys = (change.len() <= REFRESH_MAX_KEYS)
                        .then(|| root_keys_of(&change))
                        .flatten();
                    (change.raw_bytes().to_vec(), keys)
                }
                None => (Vec::new(), None),
            };
            // Re-read and re-check only the fields the change wrote, when the household
            // as it was is at hand; otherwise the whole household.
            let refreshed = match (loaded.derived.as_mut(), &keys) {
                (Some(derived), Some(keys)) => {
                    derived.refresh(loaded.doc.document(), keys, today)?
                }
                _ => false,
            };
            if !refreshed {
                loaded.derived = None;
            }
            let derived = loaded.derived(today)?;
            let checked = derived.checked();
            let tx = conn.transaction()?;
            update_index(&tx, household.as_str(), &derived.view, &checked, 1)?;
            append_change(&tx, household.as_str(), loaded, &change, Some(&hash))?;
            match open_visit {
                OpenVisit::Unchanged => {}
                OpenVisit::Start(visit) => {
                    tx.prepare_cached(
                        "INSERT INTO open_visit (household_id, visit_id) VALUES (?1, ?2)
                         ON CONFLICT (household_id) DO UPDATE SET visit_id = excluded.visit_id",
                    )?
                    .execute(params![household.as_str(), visit.as_str()])?;
                }
                OpenVisit::Finish(visit) => {
                    tx.prepare_cached(
                        "DELETE FROM open_visit WHERE household_id = ?1 AND visit_id = ?2",
                    )?
                    .execute(params![household.as_str(), visit.as_str()])?;
                }
            }
            tx.commit()?;
            Ok(checked)
        })();
        if saved.is_err() {
            self.cache.pop(household.as_str());
        }
        saved
    }
}
