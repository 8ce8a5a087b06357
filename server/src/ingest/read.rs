//! Step 2: the stored documents of a batch's households, and the quarantine's changes of
//! them.

use super::parse::ParsedUpload;
use crate::decisions::quarantine::{self, HeldChange, HoldStatus};
use crate::storage::ledger::{
    DocumentRead, Ledger, LedgerError, Source, StoredDocument, document_rows,
};
use automerge::{Change, ChangeHash};
use schema::ids::HouseholdId;
use sqlx::AnyConnection;
use std::collections::HashMap;

/// A held change as a merge saw it: what a staff decision or another device's upload
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeldState {
    hash: ChangeHash,
    status: HoldStatus,
}

pub(super) fn held_states(held: &[HeldChange]) -> Vec<HeldState> {
    held.iter()
        .map(|h| HeldState {
            hash: h.change.hash(),
            status: h.status,
        })
        .collect()
}

/// One upload to merge, with what it merges into.
pub(super) struct MergeJob {
    /// The upload's position in its batch.
    pub(super) index: usize,
    pub(super) household: HouseholdId,
    pub(super) changes: Vec<Change>,
    /// Where the stored document comes from; `None` for a household the server lacks.
    pub(super) source: Option<Source>,
    /// The quarantine's changes of the household.
    pub(super) held: Vec<HeldChange>,
}

/// A batch's documents as read for merging, with the uploads to merge into them.
pub(super) struct ReadForMerge {
    pub(super) stored: HashMap<String, StoredDocument>,
    pub(super) held_seen: HashMap<String, Vec<HeldState>>,
    pub(super) jobs: Vec<MergeJob>,
}

/// Reads the documents of these uploads' households, for [`super::merge::merge_all`].
/// `held` is the quarantine's changes of these households when the caller has read them
/// already.
pub(super) async fn read_for_merge(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    parsed: Vec<ParsedUpload>,
    held: Option<HashMap<String, Vec<HeldChange>>>,
) -> Result<ReadForMerge, LedgerError> {
    let ids: Vec<&str> = parsed.iter().map(|p| p.household.as_str()).collect();
    let stored = document_rows(conn, &ids, DocumentRead::WithSnapshot).await?;
    // Documents outside the device's villages are loaded too: screening decides what of an
    // upload the device may write, and holds the rest in quarantine.
    let mut sources = ledger.document_sources(conn, &stored).await?;
    let mut held = match held {
        Some(held) => held,
        None => quarantine::held_for(conn, ledger.vault(), &ids).await?,
    };
    let held_seen = held
        .iter()
        .map(|(household, held)| (household.clone(), held_states(held)))
        .collect();
    let jobs = parsed
        .into_iter()
        .map(|upload| MergeJob {
            source: sources.remove(upload.household.as_str()),
            held: held.remove(upload.household.as_str()).unwrap_or_default(),
            index: upload.index,
            household: upload.household,
            changes: upload.changes,
        })
        .collect();
    Ok(ReadForMerge {
        stored,
        held_seen,
        jobs,
    })
}
