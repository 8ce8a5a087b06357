//! Moving a person recorded in the wrong household of a duplicate pair into the right one.

use crate::access::accounts;
use crate::access::audit::{self, Entry, Outcome};
use crate::decisions::changes::{Signed, carry_values, staff_change};
use crate::decisions::error::{DecisionError, ReviewError};
use crate::decisions::review::{self, ItemRow, ReviewStatus};
use crate::decisions::workflow::{item_not_found, load_live, open_pair, signer_of};
use crate::decisions::write::store_and_refresh;
use crate::storage::ledger::Ledger;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ROOT, ReadDoc};
use schema::Message;
use schema::layout;
use serde::Serialize;
use std::collections::BTreeSet;

/// The root keys that hold one member: its own fields, and the trainings and subsidies
/// recorded for it.
fn member_keys(doc: &mut AutoCommit, member: &str) -> Result<BTreeSet<String>, DecisionError> {
    let doc = doc.document();
    let view = layout::read_household(doc)?;
    let mut prefixes = vec![format!("members.{member}.")];
    for entity in [
        schema::fields::Entity::Training,
        schema::fields::Entity::Subsidy,
    ] {
        for (id, record) in view.records(entity) {
            if record.get("member").and_then(|f| f.value.as_text()) == Some(member) {
                prefixes.push(format!("{}.{id}.", entity.prefix()));
            }
        }
    }
    Ok(doc
        .map_range(ROOT, ..)
        .map(|item| item.key.to_string())
        .filter(|key| {
            prefixes
                .iter()
                .any(|prefix| key.starts_with(prefix.as_str()))
        })
        .collect())
}

/// The changes that move member `member` from `source` into `target`: the target gains the
/// member's values (and its trainings and subsidies), each named by who first recorded it,
/// beside any different value it holds for the same person; the source drops them in a
/// change by the staff member, so its history still shows the member and who removed it.
/// Returns the target's changes and the source's.
pub fn move_member(
    target: &mut AutoCommit,
    source: &mut AutoCommit,
    member: &str,
    source_id: &str,
    signed: &Signed<'_>,
) -> Result<(Vec<Change>, Change), DecisionError> {
    let keys = member_keys(source, member)?;
    if !keys.contains(&format!("members.{member}.name")) {
        return Err(DecisionError::Refused(Message::new(
            format!("户“{source_id}”中没有成员“{member}”"),
            format!("Household \"{source_id}\" has no member \"{member}\""),
        )));
    }
    let message = layout::review_message(signed.item, signed.comment);
    let carried = carry_values(
        target,
        source,
        |key| keys.contains(key),
        &message,
        signed.at,
    )?;
    let removal = staff_change(source, signed.staff, &message, signed.at, |doc| {
        for key in &keys {
            doc.delete(ROOT, key.as_str())?;
        }
        Ok(())
    })?;
    Ok((carried, removal))
}

/// What became of moving a member.
#[derive(Debug, Serialize)]
pub struct MoveOutcome {
    pub item: ItemRow,
    pub member: String,
    pub from: String,
    pub to: String,
    pub message: Message,
}

/// Moves a person recorded in the wrong household of a duplicate pair into the right one:
/// the other household of the pair. The person's values go into `to`, named by whoever first
/// recorded them; the wrong household drops the person in a change by the staff member, so
/// both keep the history. The item is resolved.
#[allow(clippy::too_many_arguments)]
pub async fn move_member_between(
    ledger: &Ledger,
    account: &accounts::Account,
    client: &str,
    item_id: &str,
    member: &str,
    to: &str,
    comment: Option<&str>,
) -> Result<MoveOutcome, ReviewError> {
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (item, other) = open_pair(&mut write.tx, account, item_id).await?;
    let from = if to == item.household_id {
        other
    } else if to == other {
        item.household_id.clone()
    } else {
        return Err(ReviewError::Refused(Message::new(
            format!("户“{to}”不是该重复项的两户之一"),
            format!("Household \"{to}\" is not one of this duplicate's two households"),
        )));
    };
    let (to_village, mut to_doc) = load_live(ledger, &mut write.tx, account, to).await?;
    let (from_village, mut from_doc) = load_live(ledger, &mut write.tx, account, &from).await?;
    let staff = signer_of(account);
    let signed = Signed {
        staff: &staff,
        item: item_id,
        comment,
        at: now,
    };
    let (carried, removal) = move_member(&mut to_doc, &mut from_doc, member, &from, &signed)?;
    review::close(&mut write.tx, item_id, ReviewStatus::Resolved, now).await?;
    review::record(
        &mut write.tx,
        item_id,
        now,
        &account.id,
        "moved",
        &serde_json::json!({
            "staff": staff.name,
            "member": member,
            "from": from,
            "to": to,
            "comment": comment,
        }),
    )
    .await?;
    let entry = Entry::new("review.move", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(item_id)
        .from(client)
        .saying(format!("member {member}: {from} -> {to}"));
    audit::record_in(&mut write.tx, entry, now).await?;
    // The wrong household first: once it no longer holds the person, finding duplicates for
    // the right one does not find the pair again.
    store_and_refresh(
        ledger,
        &mut write.tx,
        &from,
        &from_village,
        &mut from_doc,
        vec![removal],
    )
    .await?;
    if !carried.is_empty() {
        store_and_refresh(ledger, &mut write.tx, to, &to_village, &mut to_doc, carried).await?;
    }
    let after = review::item(&mut write.tx, item_id)
        .await?
        .ok_or_else(|| item_not_found(item_id))?;
    write.commit().await?;
    Ok(MoveOutcome {
        item: after,
        member: member.to_owned(),
        message: Message::new(
            format!("成员已从户“{from}”移到户“{to}”；两户的历史都保留，设备下次同步时更新"),
            format!(
                "The member is moved from household \"{from}\" to \"{to}\"; both histories are kept, and devices follow on their next sync"
            ),
        ),
        from,
        to: to.to_owned(),
    })
}
