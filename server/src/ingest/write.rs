//! Steps 4 to 7, under the write order, in the batch's transaction: refuse what belongs to
//! another household, write, refresh the review queue, forward late edits of merged
//! households, hold what screening refused.

use super::merge::{Merge, Merging};
use super::outcome::{accepted, of_another_household};
use crate::access::device_tokens::Device;
use crate::decisions::quarantine::{self, ScreenedUpload};
use crate::decisions::{merge, review, tasks};
use crate::reports::comparison;
use crate::storage::ledger::{
    HouseholdWrite, Ledger, LedgerError, ToCache, stored_hashes, write_households,
};
use automerge::{Change, ChangeHash};
use schema::wire::UploadOutcome;
use sqlx::AnyConnection;
use std::collections::HashSet;

/// A batch's merges sorted by what they came to: households to write, uploads to hold, and
/// the outcomes known already.
struct Sorted {
    outcomes: Vec<Option<UploadOutcome>>,
    /// Each with its upload's position in the batch.
    to_write: Vec<(usize, HouseholdWrite)>,
    holds: Vec<ScreenedUpload>,
}

/// Writes a batch's merges: the changes, the document and register rows, the review queue
/// and the quarantine. Returns every upload's outcome.
pub(super) async fn write_batch(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    device: &Device,
    client: &str,
    merging: Merging,
    outcomes: Vec<Option<UploadOutcome>>,
    to_cache: &mut ToCache,
) -> Result<Vec<UploadOutcome>, LedgerError> {
    let mut sorted = sort(merging, outcomes, to_cache);
    refuse_changes_of_another_household(conn, &mut sorted).await?;
    let Sorted {
        mut outcomes,
        to_write,
        holds,
    } = sorted;
    let now = ledger.clock().now_seconds();
    let (indices, mut households): (Vec<usize>, Vec<HouseholdWrite>) = to_write.into_iter().unzip();
    let last_feeds = write_households(conn, ledger.vault(), &mut households, now).await?;
    // Every accepted household is written now, its register rows included, and each one's
    // merged document, view and validation issues are at hand inside the transaction:
    // per-household work that needs them goes here.
    refresh_review(ledger, conn, &households, now).await?;
    forward_late_edits(ledger, conn, &mut households, now).await?;
    // The device is answered with the heads of what it uploaded merged, before the server's
    // own settling change, which reaches it through the feed like any other.
    let answers: Vec<UploadOutcome> = households
        .iter_mut()
        .map(|household| accepted(&mut household.doc))
        .collect();
    settle_tasks(ledger, conn, &mut households, now).await?;
    for (((index, household), last_feed), outcome) in indices
        .into_iter()
        .zip(households)
        .zip(last_feeds)
        .zip(answers)
    {
        outcomes[index] = Some(match holds.iter().find(|h| h.index == index) {
            Some(hold) => hold.screened.outcome(outcome),
            None => outcome,
        });
        to_cache.push(household.household, household.doc, last_feed);
    }
    quarantine::write_holds(conn, ledger.vault(), device, client, &holds, now).await?;
    Ok(outcomes.into_iter().flatten().collect())
}

/// Sorts the merges: a refusal is an outcome; a document unchanged, or with everything new
/// held, is answered at once and cached; new changes are to be written; and what screening
/// refused or admitted is for the quarantine.
fn sort(
    merging: Merging,
    mut outcomes: Vec<Option<UploadOutcome>>,
    to_cache: &mut ToCache,
) -> Sorted {
    let Merging { stored, merges, .. } = merging;
    let mut to_write = Vec::new();
    let mut holds = Vec::new();
    for merged in merges {
        let (index, household) = (merged.index, merged.household.to_string());
        let row = stored.get(household.as_str());
        match merged.merge {
            Merge::Rejected(rejection) => outcomes[index] = Some(rejection),
            Merge::Unchanged(mut doc) => {
                outcomes[index] = Some(accepted(&mut doc));
                if let Some(row) = row {
                    to_cache.push(household, *doc, row.last_feed);
                }
            }
            Merge::Held(mut doc, screened) => {
                outcomes[index] = Some(screened.outcome(accepted(&mut doc)));
                if let Some(row) = row {
                    to_cache.push(household.clone(), *doc, row.last_feed);
                }
                holds.push(ScreenedUpload {
                    index,
                    household,
                    screened: *screened,
                });
            }
            Merge::Changed(write, screened) => {
                if let Some(screened) = screened {
                    holds.push(ScreenedUpload {
                        index,
                        household,
                        screened: *screened,
                    });
                }
                to_write.push((index, *write));
            }
        }
    }
    Sorted {
        outcomes,
        to_write,
        holds,
    }
}

/// A change the household's document did not hold, yet the table does (or an earlier
/// household of this request brought), belongs to another household; so does one the
/// quarantine holds for another. Such an upload is refused whole.
async fn refuse_changes_of_another_household(
    conn: &mut AnyConnection,
    sorted: &mut Sorted,
) -> Result<(), LedgerError> {
    let uploaded: Vec<(usize, Vec<ChangeHash>)> = sorted
        .to_write
        .iter()
        .map(|(index, w)| (*index, w.changes.iter().map(|c| c.hash).collect()))
        .chain(sorted.holds.iter().map(|h| (h.index, h.new_hashes())))
        .collect();
    let hashes: Vec<&ChangeHash> = uploaded.iter().flat_map(|(_, h)| h).collect();
    let taken = stored_hashes(conn, &hashes).await?;
    let mut foreign = quarantine::held_elsewhere(conn, &sorted.holds).await?;
    let mut claimed: HashSet<ChangeHash> = HashSet::new();
    for (index, hashes) in &uploaded {
        if hashes
            .iter()
            .any(|h| taken.contains(h) || claimed.contains(h))
        {
            foreign.insert(*index);
        } else {
            claimed.extend(hashes.iter().copied());
        }
    }
    for &index in &foreign {
        sorted.outcomes[index] = Some(of_another_household());
    }
    sorted.holds.retain(|h| !foreign.contains(&h.index));
    sorted
        .to_write
        .retain(|(index, _)| !foreign.contains(index));
    Ok(())
}

/// Brings the review queue up to date with the written households.
async fn refresh_review(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    households: &[HouseholdWrite],
    now: i64,
) -> Result<(), LedgerError> {
    let subjects: Vec<review::Subject<'_>> = households
        .iter()
        .map(|h| review::Subject {
            household: &h.household,
            village: &h.village,
            view: &h.view,
            issues: &h.projection.issues,
        })
        .collect();
    review::refresh_all(conn, ledger.vault(), &subjects, now).await?;
    Ok(())
}

/// Visit tasks after the uploads: those whose field now agrees with the other roster are
/// settled; the comparison is recomputed for each household, and its tasks follow it (new
/// mismatches open tasks, vanished ones settle theirs).
async fn settle_tasks(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    households: &mut [HouseholdWrite],
    now: i64,
) -> Result<(), LedgerError> {
    let today = ledger.clock().today();
    for household in households.iter_mut() {
        if !household.view.tasks.is_empty() {
            tasks::settle_agreeing(
                ledger,
                conn,
                &household.household,
                &household.village,
                &mut household.doc,
                &household.view,
                now,
            )
            .await?;
        }
        let id = household.household.as_str();
        if let Err(err) =
            comparison::recompute_household(conn, ledger.vault(), id, now, today).await
        {
            tracing::warn!(household = id, %err, "comparison not recomputed");
            continue;
        }
        let followed = super::tasks::follow_loaded(
            ledger,
            conn,
            id,
            &household.village,
            &mut household.doc,
            &household.view,
            now,
        )
        .await;
        if let Err(err) = followed {
            tracing::warn!(household = id, %err, "tasks not brought up to date");
        }
    }
    Ok(())
}

/// Edits that reached a household merged into another are carried into its survivor.
async fn forward_late_edits(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    households: &mut [HouseholdWrite],
    now: i64,
) -> Result<(), LedgerError> {
    for household in households {
        let Some(survivor) = household.view.household_text("merged_into") else {
            continue;
        };
        let late: Vec<Change> = household
            .changes
            .iter()
            .filter_map(|c| Change::from_bytes(c.bytes.clone()).ok())
            .collect();
        merge::forward_late_edits(
            ledger,
            conn,
            &household.household,
            &mut household.doc,
            survivor,
            &late,
            now,
        )
        .await?;
    }
    Ok(())
}
