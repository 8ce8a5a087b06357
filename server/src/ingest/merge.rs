//! Step 3: each upload screened and merged into its household's document, in memory; and,
//! under the write order, merged again where another write came between.

use super::outcome::{out_of_scope, rejected};
use super::parse::{ParsedUpload, parse_upload};
use super::read::{HeldState, MergeJob, ReadForMerge, held_states, read_for_merge};
use crate::access::device_tokens::Device;
use crate::decisions::quarantine::{self, HeldChange, Screened};
use crate::parallel;
use crate::storage::ledger::{
    DocumentRead, HouseholdWrite, Ledger, LedgerError, NewChange, StoredDocument, document_rows,
};
use crate::storage::register::Projection;
use automerge::{AutoCommit, Change};
use jiff::civil::Date;
use schema::Message;
use schema::ids::{AreaCode, HouseholdId};
use schema::layout::{self, HouseholdView};
use schema::wire::{RejectCode, Upload, UploadOutcome};
use sqlx::AnyConnection;
use std::collections::{HashMap, HashSet};

/// A batch's uploads merged in memory, with what each merge read.
pub(super) struct Merging {
    /// The document rows the merges started from; a household without one is new.
    pub(super) stored: HashMap<String, StoredDocument>,
    /// The quarantine's changes of each household, as the merges saw them.
    pub(super) held_seen: HashMap<String, Vec<HeldState>>,
    pub(super) merges: Vec<MergedUpload>,
}

/// One upload merged.
pub(super) struct MergedUpload {
    /// The upload's position in its batch.
    pub(super) index: usize,
    pub(super) household: HouseholdId,
    pub(super) merge: Merge,
}

/// What merging one upload into its document came to.
pub(super) enum Merge {
    Rejected(UploadOutcome),
    /// Nothing new: the device re-sent what the server has.
    Unchanged(Box<AutoCommit>),
    /// Nothing to apply: everything new is held in quarantine.
    Held(Box<AutoCommit>, Box<Screened>),
    /// New changes to apply, and, when screening refused some or admitted held ones, what
    /// the quarantine records.
    Changed(Box<HouseholdWrite>, Option<Box<Screened>>),
}

/// Merges each upload into its household's document, in memory, on every core. Nothing is
/// written, and no database connection is held.
pub(super) async fn merge_all(
    ledger: &Ledger,
    device: &Device,
    read: ReadForMerge,
) -> Result<Merging, LedgerError> {
    let ReadForMerge {
        stored,
        held_seen,
        jobs,
    } = read;
    // One batch merges at a time. Batches then finish merging in the order they came, each
    // ready for the write order as soon as it can be, instead of all at the end together;
    // and the merge blocks one async worker, never every one, so the requests that are
    // writing go on.
    let _cores = ledger.cores().acquire().await;
    let (vault, rows, today) = (ledger.vault(), &stored, ledger.clock().today());
    let merges = parallel::map(jobs, |job: MergeJob| {
        let row = rows.get(job.household.as_str());
        let doc = match job.source {
            Some(source) => source.load(vault, row)?,
            None => AutoCommit::new(),
        };
        let merge = merge(
            device,
            &job.household,
            row,
            doc,
            job.changes,
            &job.held,
            today,
        );
        Ok::<_, LedgerError>(MergedUpload {
            index: job.index,
            household: job.household,
            merge,
        })
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Merging {
        stored,
        held_seen,
        merges,
    })
}

/// Under the write order: the merges whose household another write changed since its
/// document was read (a device, staff, compaction, another server), or whose held changes
/// the quarantine no longer holds as they were, are done again on what is stored now.
/// Usually none is: two statements that read no document.
pub(super) async fn merge_again_if_changed(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    device: &Device,
    uploads: &[Upload],
    mut merging: Merging,
) -> Result<Merging, LedgerError> {
    let ids: Vec<&str> = merging
        .merges
        .iter()
        .map(|m| m.household.as_str())
        .collect();
    let now = document_rows(conn, &ids, DocumentRead::Version).await?;
    let held_now = quarantine::held_for(conn, ledger.vault(), &ids).await?;
    let unchanged = |household: &str| {
        let held_then = merging.held_seen.get(household).map(Vec::as_slice);
        let held_now = held_now.get(household).map(|held| held_states(held));
        merging.stored.get(household).map(StoredDocument::version)
            == now.get(household).map(StoredDocument::version)
            && held_then.unwrap_or_default() == held_now.unwrap_or_default()
    };
    let changed: HashSet<usize> = merging
        .merges
        .iter()
        .filter(|m| !unchanged(m.household.as_str()))
        .map(|m| m.index)
        .collect();
    if changed.is_empty() {
        return Ok(merging);
    }
    tracing::debug!(
        households = changed.len(),
        "merging again after a concurrent write"
    );
    let parsed: Vec<ParsedUpload> = changed
        .iter()
        .filter_map(|&index| parse_upload(index, &uploads[index]).ok())
        .collect();
    let held: HashMap<String, Vec<HeldChange>> = held_now
        .into_iter()
        .filter(|(household, _)| parsed.iter().any(|p| p.household.as_str() == household))
        .collect();
    let read = read_for_merge(ledger, conn, parsed, Some(held)).await?;
    let again = merge_all(ledger, device, read).await?;
    merging.merges.retain(|m| {
        let again = changed.contains(&m.index);
        if again {
            merging.stored.remove(m.household.as_str());
        }
        !again
    });
    merging.merges.extend(again.merges);
    merging.stored.extend(again.stored);
    Ok(merging)
}

/// Merges an upload into its household's document, in memory, and checks the result: the
/// history is whole, and the document is this household's, in a real village. What the
/// device may not write (`decisions::screen`) is left out and held in quarantine; `held` are
/// the household's changes held there already, which the upload may build on or send again.
/// `today` is the date the merged household is validated on.
fn merge(
    device: &Device,
    household: &HouseholdId,
    row: Option<&StoredDocument>,
    mut doc: AutoCommit,
    changes: Vec<Change>,
    held: &[HeldChange],
    today: Date,
) -> Merge {
    let new_changes: Vec<Change> = changes
        .into_iter()
        .filter(|change| doc.get_change_by_hash(&change.hash()).is_none())
        .collect();
    if new_changes.is_empty() {
        return match Screened::still_held(device, held) {
            Some(screened) => Merge::Held(Box::new(doc), Box::new(screened)),
            None => Merge::Unchanged(Box::new(doc)),
        };
    }
    let stored_village = row.map(|row| row.village.as_str());
    let mut screened = Screened::of(device, stored_village, doc.document(), new_changes, held);
    if screened.holds() {
        // Only a sound upload is quarantined: one that is not a whole household history is
        // refused as before, and the device sends it again.
        let mut whole = doc.fork();
        match apply_checked(household, &mut whole, screened.whole(held)) {
            Ok((_, village)) if row.is_none() => screened.village = village,
            Ok(_) => {}
            Err(rejection) => return Merge::Rejected(rejection),
        }
    }
    let new_changes = std::mem::take(&mut screened.accepted);
    let screened = screened.records().then(|| Box::new(screened));
    if new_changes.is_empty() {
        return match screened {
            Some(screened) => Merge::Held(Box::new(doc), screened),
            None => Merge::Unchanged(Box::new(doc)),
        };
    }
    let rows: Vec<NewChange> = new_changes.iter().map(NewChange::of).collect();
    let (view, village) = match apply_checked(household, &mut doc, new_changes) {
        Ok(checked) => checked,
        Err(rejection) => return Merge::Rejected(rejection),
    };
    // Screening holds back what would break these; they stay as the last word.
    if !device.covers(&village) {
        return Merge::Rejected(out_of_scope(&village));
    }
    if let Some(row) = row
        && row.village != village
    {
        return Merge::Rejected(rejected(
            RejectCode::Invalid,
            Message::new(
                "不能把户迁到另一个村；请联系县里的工作人员",
                "A household cannot be moved to another village from a device; ask county staff",
            ),
        ));
    }
    Merge::Changed(
        Box::new(HouseholdWrite {
            household: household.to_string(),
            village,
            before: row.map(StoredDocument::before),
            doc,
            projection: Projection::of(household.as_str(), &view, today),
            changes: rows,
            view,
        }),
        screened,
    )
}

/// Applies changes to a document in memory and checks the result: its history is whole,
/// and it is the document of this household, in a real village. Returns its view and
/// village.
fn apply_checked(
    household: &HouseholdId,
    doc: &mut AutoCommit,
    changes: Vec<Change>,
) -> Result<(HouseholdView, String), UploadOutcome> {
    if let Err(err) = doc.apply_changes(changes) {
        return Err(rejected(
            RejectCode::Invalid,
            Message::new(
                format!("无法应用上传的修改：{err}"),
                format!("The uploaded changes cannot be applied: {err}"),
            ),
        ));
    }
    if !doc.get_missing_deps(&[]).is_empty() {
        return Err(rejected(
            RejectCode::MissingHistory,
            Message::new(
                "服务器缺少这些修改的前序记录，请上传该户的全部记录",
                "The server lacks the history these changes build on; upload the household's whole history",
            ),
        ));
    }
    let view = layout::migrate(doc)
        .and_then(|_| layout::read_household(doc.document()))
        .map_err(|err| rejected(RejectCode::Invalid, err.message()))?;
    // The reason names the key at fault and the type it must hold: a client written from
    // docs/LAYOUT.md, not from this code, fixes itself from it.
    let identity = layout::identity_problem(doc.document(), household.as_str())
        .map_err(|err| rejected(RejectCode::Invalid, err.message()))?;
    if let Some(reason) = identity {
        return Err(rejected(RejectCode::Invalid, reason));
    }
    let village = view
        .household_text("village")
        .unwrap_or_default()
        .to_owned();
    if AreaCode::parse_village(&village).is_err() {
        return Err(out_of_scope(&village));
    }
    Ok((view, village))
}
