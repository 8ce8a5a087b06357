//! Resolving a conflict or rule item: the staff member's value written into the household.
//!
//! A decision is an ordinary change, so it syncs to every phone like any edit. It is made
//! against the document *as the staff member saw it* (the heads their view showed), not as it
//! is when they press the button: when two staff members decide the same field at once, their
//! changes are concurrent and the field holds both decisions, a new conflict, instead of the
//! later one silently replacing the earlier.

use crate::access::accounts;
use crate::access::audit::{self, Entry, Outcome};
use crate::decisions::changes::Signed;
use crate::decisions::error::{DecisionError, ReviewError};
use crate::decisions::review::{self, ItemRow, Kind, ReviewStatus};
use crate::decisions::workflow::{covers, item_not_found, signer_of};
use crate::decisions::write::store_and_refresh;
use crate::storage::ledger::Ledger;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ROOT, ReadDoc};
use schema::Message;
use schema::fields::{FieldKind, FieldPath};
use schema::layout::{self, ActorInfo, FieldValue};
use schema::validation::{self, Severity};
use serde::Serialize;
use std::collections::BTreeSet;

/// What the staff member chose.
#[derive(Debug, Clone)]
pub enum Choice {
    /// One of the candidates shown, counted from 1.
    Pick(usize),
    /// A value typed in, as a volunteer would type it.
    Value(String),
}

/// A field's value, decided, made into a change.
#[derive(Debug)]
pub struct Resolution {
    pub change: Change,
    pub value: FieldValue,
    /// The field changed between the view the staff member decided on and now: someone
    /// else decided or edited it meanwhile. The decision is kept beside theirs.
    pub stale: bool,
}

pub fn parse_heads(heads: &[String]) -> Result<Vec<ChangeHash>, DecisionError> {
    heads
        .iter()
        .map(|head| {
            head.parse::<ChangeHash>().map_err(|_| {
                DecisionError::Refused(Message::new(
                    format!("版本标识“{head}”无效"),
                    format!("\"{head}\" is not a valid version (change hash)"),
                ))
            })
        })
        .collect()
}

fn stale_view() -> DecisionError {
    DecisionError::Stale(Message::new(
        "你看到的版本服务器上没有，请重新打开该项",
        "The version you saw is unknown to the server; open the item again",
    ))
}

/// The values a key holds at some heads, with the ids of the operations that wrote them.
fn values_at(doc: &AutoCommit, key: &str, heads: Option<&[ChangeHash]>) -> BTreeSet<String> {
    let values = match heads {
        Some(heads) => doc.get_all_at(ROOT, key, heads),
        None => doc.get_all(ROOT, key),
    };
    values
        .unwrap_or_default()
        .into_iter()
        .map(|(_, id)| id.to_string())
        .collect()
}

/// Makes the change that sets `path` as the staff member chose, against the heads they saw.
/// `doc` is not modified; the caller applies the change with the server's other changes.
pub fn decide(
    doc: &mut AutoCommit,
    seen: &[ChangeHash],
    path: &FieldPath,
    choice: &Choice,
    signed: &Signed<'_>,
) -> Result<Resolution, DecisionError> {
    if path.spec().system {
        return Err(DecisionError::Refused(Message::new(
            "系统字段不能在审核中修改",
            "A system field cannot be changed in review",
        )));
    }
    let mut fork = if seen.is_empty() {
        doc.fork()
    } else {
        doc.fork_at(seen).map_err(|_| stale_view())?
    };
    let key = path.to_string();
    let seen_view = layout::read_household(fork.document())?;
    let value = match choice {
        Choice::Pick(number) => {
            let candidates = seen_view
                .field(path)
                .map(|f| f.candidates.clone())
                .unwrap_or_default();
            let Some(candidate) = number.checked_sub(1).and_then(|i| candidates.get(i)) else {
                return Err(DecisionError::Refused(Message::new(
                    format!("没有第 {number} 个候选值；该字段有 {} 个", candidates.len()),
                    format!(
                        "There is no candidate {number}; the field has {}",
                        candidates.len()
                    ),
                )));
            };
            candidate.value.clone()
        }
        Choice::Value(input) => {
            let kind = path.spec().kind;
            FieldValue::from_input(kind, input).ok_or_else(|| {
                DecisionError::Refused(Message::new(
                    "请输入一个值；审核不能清空字段",
                    "Enter a value; review cannot clear a field",
                ))
            })?
        }
    };
    let actor = ActorId::random();
    fork.set_actor(actor.clone());
    let info = ActorInfo {
        device: Some("doorstep-server".to_owned()),
        volunteer: None,
        staff: Some(signed.staff.name.clone()),
    };
    layout::write_actor(&mut fork, &actor.to_hex_string(), &info)?;
    // Automerge records a value that one of a key's concurrent values already has as a
    // deletion of the others, and a deletion loses to a concurrent write: a second staff
    // member's decision would silently win over it. Clearing the key first makes the
    // decision a write of its own.
    if fork.get_all(ROOT, key.as_str())?.len() > 1
        && !matches!(path.spec().kind, FieldKind::Codes(_))
    {
        fork.delete(ROOT, key.as_str())?;
    }
    if !layout::write_field(&mut fork, path, Some(&value))? {
        return Err(DecisionError::Refused(Message::new(
            "该字段已经是这个值，无需处理",
            "The field already holds this value; there is nothing to decide",
        )));
    }
    // Committed first: reading the document closes the open transaction, message and all.
    // A refused value is dropped with the fork.
    fork.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(layout::review_message(signed.item, signed.comment))
            .with_time(signed.at),
    );
    let after = layout::read_household(fork.document())?;
    let refused = validation::validate(&after, signed.today())
        .into_iter()
        .find(|issue| {
            issue.severity == Severity::Error && issue.rule == "field" && issue.path == key
        });
    if let Some(issue) = refused {
        return Err(DecisionError::Refused(issue.message));
    }
    let change = fork.get_last_local_change().ok_or_else(|| {
        DecisionError::Refused(Message::new("没有可保存的修改", "Nothing to save"))
    })?;
    let stale = !seen.is_empty() && values_at(doc, &key, Some(seen)) != values_at(doc, &key, None);
    Ok(Resolution {
        change,
        value,
        stale,
    })
}

/// What became of a decision.
#[derive(Debug, Serialize)]
pub struct ResolveOutcome {
    pub item: ItemRow,
    pub value: FieldValue,
    /// The field had changed since the view the decision was made on.
    pub stale: bool,
    /// What happened, for the staff member.
    pub message: Message,
}

/// Decides a conflict or rule item: writes the chosen value into the household, as the staff
/// member, against the version they saw.
pub async fn resolve(
    ledger: &Ledger,
    account: &accounts::Account,
    client: &str,
    item_id: &str,
    choice: &Choice,
    comment: Option<&str>,
    heads: &[String],
) -> Result<ResolveOutcome, ReviewError> {
    let seen = parse_heads(heads)?;
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let item = review::item(&mut write.tx, item_id)
        .await?
        .filter(|item| covers(account, &item.village))
        .ok_or_else(|| item_not_found(item_id))?;
    if item.kind == Kind::Duplicate {
        return Err(ReviewError::Refused(Message::new(
            "重复项请用合并（merge）、移动成员（move）或“不是同一户”（dismiss）处理",
            "Settle a duplicate by merging (merge), moving a member (move) or as not the same household (dismiss)",
        )));
    }
    let path = FieldPath::parse(&item.path).map_err(|_| {
        ReviewError::Refused(Message::new(
            "该审核项不针对某个字段，无法填写值",
            "This item is not about one field, so no value can be set",
        ))
    })?;
    let (village, mut doc) = ledger
        .load_for_write(&mut write.tx, &item.household_id)
        .await?
        .ok_or_else(|| item_not_found(item_id))?;
    let staff = signer_of(account);
    let signed = Signed {
        staff: &staff,
        item: item_id,
        comment,
        at: now,
    };
    let decision = decide(&mut doc, &seen, &path, choice, &signed)?;
    // The review history is stored in the clear, so a sensitive value goes in masked; the
    // document keeps the value itself.
    let (recorded, readable) = if crate::access::privacy::is_sensitive_name(path.name) {
        (
            crate::access::privacy::mask_value(path.name, &decision.value),
            crate::access::privacy::mask_readable(path.name, &decision.value),
        )
    } else {
        (
            decision.value.clone(),
            decision.value.readable(path.spec().kind),
        )
    };
    review::close(&mut write.tx, item_id, ReviewStatus::Resolved, now).await?;
    review::record(
        &mut write.tx,
        item_id,
        now,
        &account.id,
        "resolved",
        &serde_json::json!({
            "staff": staff.name,
            "value": recorded,
            "readable": readable,
            "comment": comment,
            "stale": decision.stale,
        }),
    )
    .await?;
    // The field is named, not its value: the audit log holds no sensitive data.
    let entry = Entry::new("review.resolve", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(item_id)
        .from(client)
        .saying(format!("{} stale={}", item.path, decision.stale));
    audit::record_in(&mut write.tx, entry, now).await?;
    store_and_refresh(
        ledger,
        &mut write.tx,
        &item.household_id,
        &village,
        &mut doc,
        vec![decision.change],
    )
    .await?;
    let after = review::item(&mut write.tx, item_id)
        .await?
        .ok_or_else(|| item_not_found(item_id))?;
    write.commit().await?;
    let message = match (decision.stale, after.status) {
        (true, ReviewStatus::Open) => Message::new(
            "你处理时看到的内容已被他人修改。你的决定已保存，但与他人的决定并存，该项重新打开，请再次处理",
            "Someone changed this field after the view you decided on. Your decision is kept, beside theirs; the item is open again, please decide once more",
        ),
        (true, _) => Message::new(
            "你处理时看到的内容已被他人修改；你的决定已保存并生效",
            "Someone changed this field after the view you decided on; your decision is saved and in effect",
        ),
        (false, ReviewStatus::Open) => Message::new(
            "决定已保存，但该项仍未解决（规则仍不满足或仍有冲突）",
            "The decision is saved, but the item is still open (the rule still fails or values still disagree)",
        ),
        (false, _) => Message::new(
            format!("已确定为：{}", readable.zh),
            format!("Decided: {}", readable.en),
        ),
    };
    Ok(ResolveOutcome {
        item: after,
        value: decision.value,
        stale: decision.stale,
        message,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::decisions::test_support::{household, staff};

    #[test]
    fn a_decision_carries_its_staff_member_and_comment_into_the_field_history() {
        let mut doc = household();
        let path = FieldPath::household("address").unwrap();
        let decision = decide(
            &mut doc,
            &[],
            &path,
            &Choice::Value("东街 1 号".to_owned()),
            &Signed {
                staff: &staff("李华"),
                item: "item1",
                comment: Some("户主确认"),
                at: 1_800_000_000,
            },
        )
        .unwrap();
        assert!(!decision.stale);
        doc.apply_changes([decision.change]).unwrap();
        let actors = layout::read_household(doc.document()).unwrap().actors;
        let history = layout::field_history(doc.document(), &path, &actors);
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].staff.as_deref(), Some("李华"));
        assert_eq!(history[0].origin.review.as_deref(), Some("item1"));
        assert_eq!(history[0].origin.comment.as_deref(), Some("户主确认"));
        assert_eq!(history[0].time, 1_800_000_000);
    }

    #[test]
    fn decisions_made_on_the_same_view_are_kept_side_by_side() {
        let mut doc = household();
        let seen = doc.get_heads();
        let path = FieldPath::household("address").unwrap();
        let mut decide_as = |name: &str, value: &str| {
            decide(
                &mut doc,
                &seen,
                &path,
                &Choice::Value(value.to_owned()),
                &Signed {
                    staff: &staff(name),
                    item: "item1",
                    comment: None,
                    at: 1_800_000_000,
                },
            )
            .unwrap()
        };
        let first = decide_as("甲", "东街");
        let second_change = {
            let second = decide_as("乙", "西街");
            assert!(!second.stale, "the first is not applied yet");
            second.change
        };
        doc.apply_changes([first.change]).unwrap();
        let late = decide(
            &mut doc,
            &seen,
            &path,
            &Choice::Value("南街".to_owned()),
            &Signed {
                staff: &staff("丙"),
                item: "item1",
                comment: None,
                at: 1_800_000_000,
            },
        )
        .unwrap();
        assert!(
            late.stale,
            "the field changed since the view it was made on"
        );
        doc.apply_changes([second_change, late.change]).unwrap();
        let view = layout::read_household(doc.document()).unwrap();
        let candidates = &view.field(&path).unwrap().candidates;
        assert_eq!(candidates.len(), 3);
    }

    #[test]
    fn choosing_one_of_the_disputed_values_still_stands_beside_a_concurrent_decision() {
        // Actors are random, and which value Automerge shows first depends on them: repeat.
        for _ in 0..20 {
            let mut doc = household();
            let path = FieldPath::household("address").unwrap();
            let (mut a, mut b) = (doc.fork(), doc.fork());
            let text = |t: &str| FieldValue::Text(t.to_owned());
            layout::write_field(&mut a, &path, Some(&text("东街"))).unwrap();
            layout::write_field(&mut b, &path, Some(&text("西街"))).unwrap();
            doc.merge(&mut a).unwrap();
            doc.merge(&mut b).unwrap();
            let seen = doc.get_heads();
            let decide_as = |doc: &mut AutoCommit, name: &str, value: &str| {
                let choice = Choice::Value(value.to_owned());
                let staff = staff(name);
                let signed = Signed {
                    staff: &staff,
                    item: "i",
                    comment: None,
                    at: 1,
                };
                let decision = decide(doc, &seen, &path, &choice, &signed);
                doc.apply_changes([decision.unwrap().change]).unwrap();
            };
            decide_as(&mut doc, "甲", "东街");
            decide_as(&mut doc, "乙", "南街");
            let view = layout::read_household(doc.document()).unwrap();
            let candidates = &view.field(&path).unwrap().candidates;
            let mut values: Vec<String> = candidates.iter().map(|c| c.value.display()).collect();
            values.sort();
            assert_eq!(values, ["东街", "南街"]);
        }
    }
}
