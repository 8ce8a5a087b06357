//! Merging a household recorded twice into its survivor, and forwarding the edits that
//! still reach the absorbed one.

use crate::access::accounts;
use crate::access::audit::{self, Entry, Outcome};
use crate::decisions::changes::{
    Copy, Signer, carry_values, copy_values, staff_change, touched_keys,
};
use crate::decisions::error::{DecisionError, ReviewError};
use crate::decisions::review::{self, Kind, ReviewStatus};
use crate::decisions::workflow::{load_live, signer_of};
use crate::decisions::write::store_and_refresh;
use crate::storage::ledger::{Ledger, LedgerError};
use automerge::{AutoCommit, Change};
use schema::Message;
use schema::fields::FieldPath;
use schema::layout::{self, ActorInfo, FieldValue};
use serde::Serialize;
use std::collections::BTreeSet;

/// The changes that merge `absorbed` into `survivor`: the survivor gains every member, visit
/// and value it lacks; where both hold a value and they differ, the survivor holds both, as a
/// conflict for staff to settle, each named by who recorded it; the absorbed household points
/// to the survivor. Returns the survivor's changes and the absorbed household's tombstone.
pub fn merge(
    survivor: &mut AutoCommit,
    absorbed: &mut AutoCommit,
    survivor_id: &str,
    absorbed_id: &str,
    staff: &Signer,
    comment: Option<&str>,
    now: i64,
) -> Result<(Vec<Change>, Change), DecisionError> {
    let info = ActorInfo {
        device: Some("doorstep-server".to_owned()),
        volunteer: None,
        staff: Some(staff.name.clone()),
    };
    let message = layout::review_message(&format!("merge {absorbed_id}"), comment);
    let mut changes: Vec<Change> = copy_values(
        survivor,
        absorbed,
        Copy::Missing,
        &info,
        message.clone(),
        now,
    )?
    .into_iter()
    .collect();
    // Every value copied above is the survivor's now; what remains differs.
    changes.extend(carry_values(survivor, absorbed, |_| true, &message, now)?);
    let tombstone = staff_change(absorbed, staff, &message, now, |doc| {
        let pointer = FieldPath::household("merged_into").map_err(|_| {
            DecisionError::Refused(Message::new(
                "内部错误：缺少字段",
                "Internal: missing field",
            ))
        })?;
        layout::write_field(
            doc,
            &pointer,
            Some(&FieldValue::Text(survivor_id.to_owned())),
        )?;
        Ok(())
    })?;
    Ok((changes, tombstone))
}

/// Carries a late edit, made on a phone that did not yet know of a merge, from the absorbed
/// household into the survivor: every key the edit touched takes the absorbed household's
/// value. The writer is named as the edit's own volunteer, forwarded.
pub fn forward(
    survivor: &mut AutoCommit,
    absorbed: &mut AutoCommit,
    absorbed_id: &str,
    late: &[Change],
    now: i64,
) -> Result<Option<Change>, DecisionError> {
    let keys: BTreeSet<String> = touched_keys(late)
        .into_iter()
        .filter(|key| !key.starts_with("actors."))
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let view = layout::read_household(absorbed.document())?;
    let author = late
        .first()
        .map(|c| c.actor_id().to_hex_string())
        .and_then(|actor| view.actors.get(&actor).cloned())
        .unwrap_or_default();
    let info = ActorInfo {
        device: Some(format!(
            "{} → {absorbed_id}",
            author.device.unwrap_or_else(|| "?".to_owned())
        )),
        volunteer: author.volunteer,
        staff: None,
    };
    let message = late
        .iter()
        .find_map(|c| c.message().map(str::to_owned))
        .unwrap_or_else(|| format!("forwarded from {absorbed_id}"));
    copy_values(
        survivor,
        absorbed,
        Copy::Overwrite(&keys),
        &info,
        message,
        now,
    )
}

/// What became of a merge.
#[derive(Debug, Serialize)]
pub struct MergeOutcome {
    pub kept: String,
    pub absorbed: String,
    /// Duplicate items between the two that the merge closed.
    pub resolved_items: Vec<String>,
    pub message: Message,
}

/// Merges one household into another: the survivor gains what it lacks, the absorbed one
/// stays as a tombstone pointing to it, and both keep their history.
pub async fn merge_households(
    ledger: &Ledger,
    account: &accounts::Account,
    client: &str,
    keep: &str,
    absorb: &str,
    comment: Option<&str>,
) -> Result<MergeOutcome, ReviewError> {
    if keep == absorb {
        return Err(ReviewError::Refused(Message::new(
            "不能把一户并入它自己",
            "A household cannot be merged into itself",
        )));
    }
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (keep_village, mut keep_doc) = load_live(ledger, &mut write.tx, account, keep).await?;
    let (absorb_village, mut absorb_doc) =
        load_live(ledger, &mut write.tx, account, absorb).await?;
    let entry = Entry::new("review.merge", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(format!("{absorb} -> {keep}"))
        .from(client);
    audit::record_in(&mut write.tx, entry, now).await?;
    let staff = signer_of(account);
    let (copied, tombstone) = merge(
        &mut keep_doc,
        &mut absorb_doc,
        keep,
        absorb,
        &staff,
        comment,
        now,
    )?;
    let (first, second) = if keep < absorb {
        (keep, absorb)
    } else {
        (absorb, keep)
    };
    let pair = review::item_id(Kind::Duplicate, &[first, second]);
    let mut resolved_items = Vec::new();
    if let Some(item) = review::item(&mut write.tx, &pair).await?
        && item.status == ReviewStatus::Open
    {
        review::close(&mut write.tx, &pair, ReviewStatus::Resolved, now).await?;
        resolved_items.push(pair.clone());
    }
    if review::item(&mut write.tx, &pair).await?.is_some() {
        review::record(
            &mut write.tx,
            &pair,
            now,
            &account.id,
            "merged",
            &serde_json::json!({
                "staff": staff.name,
                "kept": keep,
                "absorbed": absorb,
                "comment": comment,
            }),
        )
        .await?;
    }
    store_and_refresh(
        ledger,
        &mut write.tx,
        absorb,
        &absorb_village,
        &mut absorb_doc,
        vec![tombstone],
    )
    .await?;
    if !copied.is_empty() {
        store_and_refresh(
            ledger,
            &mut write.tx,
            keep,
            &keep_village,
            &mut keep_doc,
            copied,
        )
        .await?;
    }
    write.commit().await?;
    Ok(MergeOutcome {
        kept: keep.to_owned(),
        absorbed: absorb.to_owned(),
        resolved_items,
        message: Message::new(
            format!(
                "户“{absorb}”已并入户“{keep}”；两户的历史都保留，两户不同的值都留在保留户中待审核，设备下次同步时转到保留户"
            ),
            format!(
                "Household \"{absorb}\" is merged into \"{keep}\"; both histories are kept, values that differed stay on the survivor as conflicts to review, and devices follow on their next sync"
            ),
        ),
    })
}

/// Carries edits that reached a merged (absorbed) household into its survivor, inside the
/// caller's transaction. They come from phones that had not heard of the merge when they
/// recorded them; the absorbed household keeps them in its history too.
pub async fn forward_late_edits(
    ledger: &Ledger,
    conn: &mut sqlx::AnyConnection,
    absorbed_id: &str,
    absorbed: &mut AutoCommit,
    survivor_id: &str,
    late: &[Change],
    now: i64,
) -> Result<(), LedgerError> {
    let Some((village, mut survivor)) = ledger.load_for_write(conn, survivor_id).await? else {
        tracing::warn!(
            absorbed_id,
            survivor_id,
            "merged into a household that is not stored"
        );
        return Ok(());
    };
    match forward(&mut survivor, absorbed, absorbed_id, late, now) {
        Ok(Some(change)) => {
            store_and_refresh(
                ledger,
                conn,
                survivor_id,
                &village,
                &mut survivor,
                vec![change],
            )
            .await
        }
        Ok(None) => Ok(()),
        // The edit is stored in the absorbed household whatever happens here; staff can
        // still see it there.
        Err(err) => {
            tracing::warn!(absorbed_id, survivor_id, %err, "late edit not forwarded");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::decisions::test_support::{household, staff};
    use automerge::ActorId;

    /// Writes `value` at `path` as a phone would: a fresh actor that names its device.
    fn record_as(doc: &mut AutoCommit, device: &str, path: &FieldPath, value: &str, at: i64) {
        let actor = ActorId::random();
        doc.set_actor(actor.clone());
        let info = ActorInfo {
            device: Some(device.to_owned()),
            volunteer: Some(format!("volunteer of {device}")),
            staff: None,
        };
        layout::write_actor(doc, &actor.to_hex_string(), &info).unwrap();
        layout::write_field(doc, path, Some(&FieldValue::Text(value.to_owned()))).unwrap();
        doc.commit_with(automerge::transaction::CommitOptions::default().with_time(at));
    }

    #[test]
    fn a_merge_keeps_the_absorbed_households_different_value_beside_the_survivors() {
        let (mut survivor, mut absorbed) = (household(), household());
        let path = FieldPath::household("address").unwrap();
        record_as(&mut survivor, "phone-a", &path, "东街", 1_750_000_000);
        record_as(&mut absorbed, "phone-b", &path, "西街", 1_760_000_000);
        merge(
            &mut survivor,
            &mut absorbed,
            "s",
            "a",
            &staff("李华"),
            None,
            1_800_000_000,
        )
        .unwrap();
        let view = layout::read_household(survivor.document()).unwrap();
        let candidates = &view.field(&path).unwrap().candidates;
        assert_eq!(candidates.len(), 2, "{candidates:?}");
        let carried = candidates
            .iter()
            .find(|c| c.value.display() == "西街")
            .unwrap();
        assert_eq!(carried.device.as_deref(), Some("phone-b"));
        assert_eq!(carried.volunteer.as_deref(), Some("volunteer of phone-b"));
        assert_eq!(carried.time, Some(1_760_000_000));
        assert_eq!(carried.review.as_deref(), Some("merge a"));
    }
}
