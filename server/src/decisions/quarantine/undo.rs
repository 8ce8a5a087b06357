//! The staff changes that undo a discarded change (ADR 0006).

use crate::decisions::changes::touched_keys;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ROOT, ReadDoc, Value};
use schema::layout::{self, ActorInfo};

/// The staff changes that undo `change`, already applied to `doc`: every key it wrote
/// takes back what it held in the history `change` was made on, or is cleared when it held
/// nothing. Made on the document as of `change` alone (ADR 0005), so an edit another phone
/// made meanwhile to the same key stands beside them as a conflict for review rather than
/// being overwritten unseen. A key that was disputed gets all its values back, each from a
/// change of its own, concurrent with the others: one change can give a key one value only,
/// and undoing must not settle a dispute nobody decided. The writer's own `device` and
/// `volunteer` entries stay, so the history still names who wrote the discarded change.
/// Empty when the change changed nothing that needs undoing.
pub fn undo(
    doc: &mut AutoCommit,
    change: &Change,
    staff: &ActorInfo,
    message: String,
    now: i64,
) -> Result<Vec<Change>, layout::LayoutError> {
    let before = change.deps().to_vec();
    let author = change.actor_id().to_hex_string();
    let keep = [
        format!("actors.{author}.device"),
        format!("actors.{author}.volunteer"),
    ];
    let mut view = doc.fork_at(&[change.hash()])?;
    // Layer n holds, for each key, its n-th earlier value (`None`: clear it).
    let mut layers: Vec<Vec<(String, Option<automerge::ScalarValue>)>> = Vec::new();
    for key in touched_keys(std::slice::from_ref(change)) {
        if keep.contains(&key) {
            continue;
        }
        let previous = view.get_all_at(ROOT, key.as_str(), &before)?;
        let current = view.get_all(ROOT, key.as_str())?;
        let ids = |values: &[(Value<'_>, automerge::ObjId)]| -> Vec<String> {
            values.iter().map(|(_, id)| id.to_string()).collect()
        };
        if ids(&previous) == ids(&current) {
            continue;
        }
        let mut values: Vec<Option<automerge::ScalarValue>> = previous
            .into_iter()
            .filter_map(|(value, _)| match value {
                Value::Scalar(scalar) => Some(Some(scalar.into_owned())),
                // No nested object belongs in a household (ADR 0001): nothing to restore.
                Value::Object(_) => None,
            })
            .collect();
        if values.is_empty() {
            if current.is_empty() {
                continue;
            }
            values.push(None);
        }
        for (layer, value) in values.into_iter().enumerate() {
            if layers.len() == layer {
                layers.push(Vec::new());
            }
            layers[layer].push((key.clone(), value));
        }
    }
    let mut undoing = Vec::with_capacity(layers.len());
    for writes in layers {
        let mut fork = view.fork();
        let actor = ActorId::random();
        fork.set_actor(actor.clone());
        for (key, value) in writes {
            match value {
                Some(value) => fork.put(ROOT, key.as_str(), value)?,
                None => fork.delete(ROOT, key.as_str())?,
            }
        }
        layout::write_actor(&mut fork, &actor.to_hex_string(), staff)?;
        fork.commit_with(
            CommitOptions::default()
                .with_message(message.clone())
                .with_time(now),
        );
        undoing.extend(fork.get_last_local_change());
    }
    Ok(undoing)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::decisions::test_support::{household_with_address, phone_edit};
    use schema::fields::FieldPath;
    use schema::layout::FieldValue;

    fn staff() -> ActorInfo {
        ActorInfo {
            device: Some("doorstep-server".to_owned()),
            volunteer: None,
            staff: Some("李华".to_owned()),
        }
    }

    fn text(doc: &AutoCommit, key: &str) -> Option<String> {
        match doc.get(ROOT, key).unwrap() {
            Some((Value::Scalar(s), _)) => s.as_str().map(str::to_owned),
            _ => None,
        }
    }

    /// Every value the address holds, disputed ones included, sorted.
    fn addresses(doc: &AutoCommit) -> Vec<String> {
        let mut values: Vec<String> = doc
            .get_all(ROOT, "household.address")
            .unwrap()
            .into_iter()
            .filter_map(|(v, _)| {
                v.into_scalar()
                    .ok()
                    .and_then(|s| s.as_str().map(str::to_owned))
            })
            .collect();
        values.sort();
        values
    }

    #[test]
    fn undoing_a_change_restores_what_it_overwrote_and_clears_what_it_added() {
        let mut doc = household_with_address();
        let forged = phone_edit(&mut doc, |phone| {
            phone.put(ROOT, "household.address", "伪造").unwrap();
            phone
                .put(ROOT, "household.village", "141124100202")
                .unwrap();
            phone.put(ROOT, "household.phone", "13800138000").unwrap();
            phone.delete(ROOT, "household.number").unwrap();
        });
        let author = forged.actor_id().to_hex_string();
        doc.apply_changes([forged.clone()]).unwrap();
        let mut undoing =
            undo(&mut doc, &forged, &staff(), "review quarantine x".into(), 1).unwrap();
        assert_eq!(undoing.len(), 1);
        let revert = undoing.pop().unwrap();
        assert_eq!(revert.deps(), [forged.hash()]);
        doc.apply_changes([revert]).unwrap();
        assert_eq!(
            text(&doc, "household.address").as_deref(),
            Some("东街 1 号")
        );
        assert_eq!(
            text(&doc, "household.village").as_deref(),
            Some("141124100201")
        );
        assert_eq!(text(&doc, "household.phone"), None);
        assert_eq!(text(&doc, "household.number").as_deref(), Some("0001"));
        // The forged staff name goes; the writer's own device and name stay, for the history.
        let view = layout::read_household(doc.document()).unwrap();
        let writer = &view.actors[&author];
        assert_eq!(writer.staff, None);
        assert_eq!(writer.volunteer.as_deref(), Some("王芳"));
        assert!(
            view.actors
                .values()
                .any(|a| a.staff.as_deref() == Some("李华"))
        );
        // The discarded value is still in the field's history.
        let path = FieldPath::household("address").unwrap();
        let history = layout::field_history(doc.document(), &path, &view.actors);
        assert!(
            history
                .iter()
                .any(|h| h.value == Some(FieldValue::Text("伪造".into())))
        );
    }

    #[test]
    fn an_edit_made_meanwhile_by_another_phone_stands_beside_the_undoing() {
        let mut doc = household_with_address();
        let forged = phone_edit(&mut doc, |phone| {
            phone.put(ROOT, "household.address", "伪造").unwrap();
        });
        let mut other = doc.fork();
        other.set_actor(ActorId::random());
        other.put(ROOT, "household.address", "西街 2 号").unwrap();
        other.commit();
        doc.apply_changes([forged.clone(), other.get_last_local_change().unwrap()])
            .unwrap();
        let undoing = undo(&mut doc, &forged, &staff(), "m".into(), 1).unwrap();
        doc.apply_changes(undoing).unwrap();
        let values = addresses(&doc);
        assert_eq!(values.len(), 2, "{values:?}");
        assert!(
            values.contains(&"东街 1 号".to_owned()) && values.contains(&"西街 2 号".to_owned())
        );
    }

    #[test]
    fn a_change_with_nothing_to_undo_makes_no_change() {
        let mut doc = household_with_address();
        let mut phone = doc.fork();
        phone.set_actor(ActorId::random());
        let actor = phone.get_actor().to_hex_string();
        let info = ActorInfo {
            device: Some("phone".to_owned()),
            volunteer: None,
            staff: None,
        };
        layout::write_actor(&mut phone, &actor, &info).unwrap();
        phone.commit_with(CommitOptions::default().with_message(layout::review_message("x", None)));
        let change = phone.get_last_local_change().unwrap();
        doc.apply_changes([change.clone()]).unwrap();
        assert!(
            undo(&mut doc, &change, &staff(), "m".into(), 1)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn undoing_a_change_that_settled_a_dispute_brings_every_disputed_value_back() {
        let mut doc = household_with_address();
        let (mut a, mut b) = (doc.fork(), doc.fork());
        a.set_actor(ActorId::random());
        b.set_actor(ActorId::random());
        a.put(ROOT, "household.address", "东街").unwrap();
        b.put(ROOT, "household.address", "西街").unwrap();
        a.commit();
        b.commit();
        doc.merge(&mut a).unwrap();
        doc.merge(&mut b).unwrap();
        let forged = phone_edit(&mut doc, |phone| {
            phone.put(ROOT, "household.address", "伪造的决定").unwrap();
        });
        doc.apply_changes([forged.clone()]).unwrap();
        assert_eq!(addresses(&doc), ["伪造的决定"]);
        let undoing = undo(&mut doc, &forged, &staff(), "m".into(), 1).unwrap();
        assert_eq!(undoing.len(), 2, "one change per disputed value");
        doc.apply_changes(undoing).unwrap();
        assert_eq!(addresses(&doc), ["东街", "西街"]);
    }
}
