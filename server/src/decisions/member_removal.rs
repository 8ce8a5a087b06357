//! Removing a member entered by mistake: a county decision, made as a staff change that
//! deletes the member's keys from the household document.
//!
//! Only an entry whose status is 04 误录 (entered by mistake) can be removed: a member who
//! moved out or died is history and stays, with their status. The deletion is an ordinary
//! Automerge change by a fresh staff actor, like any review decision (`changes.rs`), so the
//! member's values stay in the document's history, the register and the review queue are
//! refreshed in the same transaction, and phones lose the member on their next sync.
//!
//! A phone that edits the member before it hears of the removal writes keys the removal
//! did not delete; they come back as a member without a name, which the review queue shows.

use crate::access::accounts;
use crate::access::audit::{self, Entry, Outcome};
use crate::decisions::changes::{Signer, staff_change};
use crate::decisions::error::{DecisionError, ReviewError};
use crate::decisions::workflow::covers;
use crate::decisions::write::store_and_refresh;
use crate::storage::ledger::Ledger;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ROOT, ReadDoc};
use schema::Message;
use schema::codes;
use schema::ids::MemberKey;
use schema::layout;
use serde::Serialize;

/// What became of a removal.
#[derive(Debug, Serialize)]
pub struct RemovalOutcome {
    pub household: String,
    pub member: String,
    /// What happened, for the staff member.
    pub message: Message,
}

fn member_not_found(household: &str, member: &str) -> ReviewError {
    ReviewError::NotFound(Message::new(
        format!("户“{household}”中没有成员“{member}”，或该户不在您的区划内"),
        format!("No member \"{member}\" in household \"{household}\" in your area"),
    ))
}

/// Every document key of member `key`. A record's keys lie between `members.<key>.` and
/// `members.<key>/` (ADR 0001); the codes of a multi-select are keys of their own.
fn member_keys(doc: &AutoCommit, key: &MemberKey) -> Vec<String> {
    let start = format!("members.{key}.");
    let end = format!("members.{key}/");
    doc.map_range(ROOT, start..end)
        .map(|item| item.key.to_string())
        .collect()
}

/// Makes the change that deletes every key of member `key` from `doc`, signed by `staff`.
/// Refused unless the member's status is entered by mistake, and while a training or
/// subsidy of the household still names the member.
pub fn removal(
    doc: &mut AutoCommit,
    key: &MemberKey,
    staff: &Signer,
    comment: Option<&str>,
    now: i64,
) -> Result<Change, DecisionError> {
    let view = layout::read_household(doc.document())?;
    let Some(member) = view.members.get(key.as_str()) else {
        return Err(DecisionError::Refused(Message::new(
            format!("本户没有成员“{key}”"),
            format!("This household has no member \"{key}\""),
        )));
    };
    let status = layout::member_status(member);
    if status != codes::ENTERED_BY_MISTAKE {
        let label = codes::MEMBER_STATUS
            .label(status)
            .unwrap_or_else(|| Message::new(status, status));
        return Err(DecisionError::Refused(Message::new(
            format!(
                "只能删除在户状态为“04 误录”的成员；该成员为“{}”，应保留为历史记录",
                label.zh
            ),
            format!(
                "Only a member whose status is \"04 entered by mistake\" can be removed; this member is \"{}\" and stays as history",
                label.en
            ),
        )));
    }
    let naming = view
        .trainings
        .iter()
        .map(|(id, record)| ("培训", "training", id, record))
        .chain(
            view.subsidies
                .iter()
                .map(|(id, record)| ("补贴", "subsidy", id, record)),
        )
        .find(|(_, _, _, record)| {
            record.get("member").and_then(|f| f.value.as_text()) == Some(key.as_str())
        });
    if let Some((zh, en, id, _)) = naming {
        return Err(DecisionError::Refused(Message::new(
            format!("{zh}记录“{id}”仍指向该成员；请先更正该记录，再删除成员"),
            format!(
                "The {en} record \"{id}\" still names this member; correct it before removing the member"
            ),
        )));
    }
    let keys = member_keys(doc, key);
    let message = layout::review_message(&format!("remove member {key}"), comment);
    staff_change(doc, staff, &message, now, |doc| {
        for name in keys {
            doc.delete(ROOT, name.as_str())?;
        }
        Ok(())
    })
}

/// Removes a member entered by mistake from a household in the staff member's area, in one
/// write transaction with its audit record, the register rows and the review queue.
pub async fn remove_member(
    ledger: &Ledger,
    account: &accounts::Account,
    client: &str,
    household: &str,
    member: &str,
    comment: Option<&str>,
) -> Result<RemovalOutcome, ReviewError> {
    let key = MemberKey::parse(member).map_err(|_| member_not_found(household, member))?;
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (village, mut doc) = ledger
        .load_for_write(&mut write.tx, household)
        .await?
        .filter(|(village, _)| covers(account, village))
        .ok_or_else(|| member_not_found(household, member))?;
    if member_keys(&doc, &key).is_empty() {
        return Err(member_not_found(household, member));
    }
    let staff = Signer {
        id: account.id.clone(),
        name: account.name.clone(),
    };
    let change = removal(&mut doc, &key, &staff, comment, now)?;
    let entry = Entry::new("member.remove", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(format!("{household} {key}"))
        .from(client);
    audit::record_in(&mut write.tx, entry, now).await?;
    store_and_refresh(
        ledger,
        &mut write.tx,
        household,
        &village,
        &mut doc,
        vec![change],
    )
    .await?;
    write.commit().await?;
    Ok(RemovalOutcome {
        household: household.to_owned(),
        member: key.to_string(),
        message: Message::new(
            format!("已删除误录成员“{key}”；其历史保留在档案中，设备下次同步时删除"),
            format!(
                "The member \"{key}\" entered by mistake is removed; the history stays in the document, and devices drop the member on their next sync"
            ),
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use schema::fields::FieldPath;
    use schema::ids::{AreaCode, HouseholdId};
    use schema::layout::FieldValue;

    fn household_with(key: &MemberKey, status: &str) -> AutoCommit {
        let mut doc = AutoCommit::new();
        let id = HouseholdId::from_random([1; 16]);
        let village = AreaCode::parse_village("141124100201").unwrap();
        layout::init_household(&mut doc, &id, &village, "0007", 1_700_000_000).unwrap();
        for (name, value) in [
            ("name", FieldValue::Text("张冒".to_owned())),
            ("status", FieldValue::Text(status.to_owned())),
            ("health", FieldValue::Codes(["02".to_owned()].into())),
        ] {
            let path = FieldPath::member(key, name).unwrap();
            layout::write_field(&mut doc, &path, Some(&value)).unwrap();
        }
        doc.commit();
        doc
    }

    fn staff() -> Signer {
        Signer {
            id: "1".to_owned(),
            name: "李华".to_owned(),
        }
    }

    #[test]
    fn test_an_entry_made_by_mistake_loses_every_key_and_its_history_stays() {
        let key = MemberKey::from_random([2; 16]);
        let mut doc = household_with(&key, "04");
        let before = doc.get_heads();
        let change = removal(&mut doc, &key, &staff(), Some("无此人"), 1_700_000_100).unwrap();
        assert!(member_keys(&doc, &key).is_empty());
        let view = layout::read_household(doc.document()).unwrap();
        assert!(view.members.is_empty());
        assert!(
            view.actors
                .values()
                .any(|a| a.staff.as_deref() == Some("李华"))
        );
        let origin = layout::ChangeOrigin::of_message(change.message());
        assert_eq!(origin.comment.as_deref(), Some("无此人"));
        let then = layout::read_household(&doc.document().fork_at(&before).unwrap()).unwrap();
        assert_eq!(then.members.len(), 1, "the history keeps the entry");
    }

    #[test]
    fn test_a_member_who_moved_out_is_not_removed() {
        let key = MemberKey::from_random([2; 16]);
        let mut doc = household_with(&key, "02");
        let err = removal(&mut doc, &key, &staff(), None, 1_700_000_100).unwrap_err();
        let message = err.message();
        assert!(message.zh.contains("迁出"), "{message:?}");
        assert!(message.en.contains("Moved out"), "{message:?}");
        assert_eq!(member_keys(&doc, &key).len(), 3);
    }
}
