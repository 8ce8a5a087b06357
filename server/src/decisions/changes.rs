//! What every staff decision's changes share: who signs them, one change by a fresh staff
//! actor, and carrying values from one household document into another.
//!
//! Each decision gets its own Automerge actor, whose `actors.<hex>.staff` names the staff
//! member. One actor per staff account would have to chain every decision onto that person's
//! previous one, which a decision made against an older view cannot do.

use crate::decisions::error::DecisionError;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ROOT, ReadDoc, Value};
use schema::Message;
use schema::layout::{self, ActorInfo};
use std::collections::BTreeSet;

/// The staff member who signs a decision's changes, as the document records them.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The staff account's id: stable, for the review history.
    pub id: String,
    /// How the document names them.
    pub name: String,
}

/// Who decides, on which item, why and when: what a decision's change records.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub staff: &'a Signer,
    pub item: &'a str,
    pub comment: Option<&'a str>,
    /// Seconds since 1970.
    pub at: i64,
}

impl Signed<'_> {
    /// The decision's day in China: the date the decided value is validated on.
    pub(crate) fn today(&self) -> jiff::civil::Date {
        let at = jiff::Timestamp::from_second(self.at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        schema::china_date(at)
    }
}

/// Makes one change on `doc` by a fresh actor that names the staff member, with `message`.
pub(crate) fn staff_change(
    doc: &mut AutoCommit,
    staff: &Signer,
    message: &str,
    now: i64,
    edit: impl FnOnce(&mut AutoCommit) -> Result<(), DecisionError>,
) -> Result<Change, DecisionError> {
    let actor = ActorId::random();
    doc.set_actor(actor.clone());
    let info = ActorInfo {
        device: Some("doorstep-server".to_owned()),
        volunteer: None,
        staff: Some(staff.name.clone()),
    };
    layout::write_actor(doc, &actor.to_hex_string(), &info)?;
    edit(doc)?;
    doc.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(message)
            .with_time(now),
    );
    doc.get_last_local_change()
        .ok_or_else(|| DecisionError::Refused(Message::new("没有可保存的修改", "Nothing to save")))
}

/// The keys a batch of changes wrote or cleared at the root of a document.
pub fn touched_keys(changes: &[Change]) -> BTreeSet<String> {
    use automerge::legacy::{Key, ObjectId};
    let mut keys = BTreeSet::new();
    for change in changes {
        for op in change.decode().operations {
            if let (ObjectId::Root, Key::Map(key)) = (&op.obj, &op.key) {
                keys.insert(key.to_string());
            }
        }
    }
    keys
}

/// Household fields that belong to one document and never move to another.
const OWN_FIELDS: [&str; 5] = [
    "household.id",
    "household.village",
    "household.number",
    "household.created_at",
    "household.merged_into",
];

fn copyable(key: &str) -> bool {
    key != "schema_version" && !OWN_FIELDS.contains(&key)
}

/// Which of a source's values [`copy_values`] copies.
pub(crate) enum Copy<'a> {
    /// Every value the survivor holds nothing for.
    Missing,
    /// These keys, as the source holds them (a late edit forwarded): they replace the
    /// survivor's.
    Overwrite(&'a BTreeSet<String>),
}

/// Copies values of `source` into `survivor`, as `what` says, as one change by a fresh
/// actor. Returns the change, if anything was copied.
pub(crate) fn copy_values(
    survivor: &mut AutoCommit,
    source: &AutoCommit,
    what: Copy<'_>,
    info: &ActorInfo,
    message: String,
    now: i64,
) -> Result<Option<Change>, DecisionError> {
    let actor = ActorId::random();
    survivor.set_actor(actor.clone());
    let mut copied = false;
    let entries: Vec<(String, automerge::ScalarValue)> = source
        .map_range(ROOT, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Scalar(scalar) => {
                Some((item.key.to_string(), automerge::ScalarValue::from(&scalar)))
            }
            _ => None,
        })
        .collect();
    for (key, value) in entries {
        if !copyable(&key) {
            continue;
        }
        let wanted = match what {
            Copy::Overwrite(keys) => keys.contains(&key),
            Copy::Missing => survivor.get(ROOT, key.as_str())?.is_none(),
        };
        if !wanted {
            continue;
        }
        let same =
            matches!(survivor.get(ROOT, key.as_str())?, Some((Value::Scalar(s), _)) if *s == value);
        if !same {
            survivor.put(ROOT, key, value)?;
            copied = true;
        }
    }
    if let Copy::Overwrite(keys) = what {
        // A code cleared from a multi-select on the absorbed household is cleared here too.
        for key in keys {
            if copyable(key)
                && source.get(ROOT, key.as_str())?.is_none()
                && survivor.get(ROOT, key.as_str())?.is_some()
            {
                survivor.delete(ROOT, key.as_str())?;
                copied = true;
            }
        }
    }
    if !copied {
        survivor.rollback();
        return Ok(None);
    }
    layout::write_actor(survivor, &actor.to_hex_string(), info)?;
    survivor.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(message)
            .with_time(now),
    );
    Ok(survivor.get_last_local_change())
}

/// The values one change of the source wrote, to be carried into the target.
#[derive(Default)]
struct Carried {
    /// The original writer's actor (hex), to name its device and volunteer.
    actor: String,
    /// The original change's device clock.
    time: Option<i64>,
    values: Vec<(String, automerge::ScalarValue)>,
}

/// Writes into `target` every value of `source`, at the keys `wanted` accepts, that `target`
/// does not already hold, *beside* what `target` holds: each is written by a change with no
/// parents, so it is concurrent with the target's own values. Where the target holds a
/// different value the field becomes a conflict with both candidates, for staff to settle in
/// the queue; nothing silently wins or disappears. Where it holds nothing the value is simply
/// there.
///
/// Each original change's values go in a change of their own, under a fresh actor that names
/// the original device and volunteer and keeps the original device time, so a candidate says
/// who recorded it; `message` says how it came (the review decision, with its comment).
/// Returns the changes, already applied to `target`.
pub(crate) fn carry_values(
    target: &mut AutoCommit,
    source: &mut AutoCommit,
    wanted: impl Fn(&str) -> bool,
    message: &str,
    now: i64,
) -> Result<Vec<Change>, DecisionError> {
    let source = source.document();
    let actors = layout::read_household(source)?.actors;
    let keys: Vec<String> = source
        .map_range(ROOT, ..)
        .map(|item| item.key.to_string())
        .filter(|key| copyable(key) && !key.starts_with("actors.") && wanted(key))
        .collect();
    let mut by_change: std::collections::BTreeMap<Option<ChangeHash>, Carried> =
        std::collections::BTreeMap::new();
    for key in keys {
        let held: Vec<automerge::ScalarValue> = target
            .get_all(ROOT, key.as_str())?
            .into_iter()
            .filter_map(|(value, _)| match value {
                Value::Scalar(scalar) => Some(scalar.into_owned()),
                Value::Object(_) => None,
            })
            .collect();
        for (value, id) in source.get_all(ROOT, key.as_str())? {
            let Value::Scalar(scalar) = value else {
                continue;
            };
            let scalar = scalar.into_owned();
            if held.contains(&scalar) {
                continue;
            }
            let hash = source.hash_for_opid(&id);
            let carried = by_change.entry(hash).or_default();
            if let automerge::ObjId::Id(_, actor, _) = &id {
                carried.actor = actor.to_hex_string();
            }
            carried.time = hash
                .and_then(|hash| source.get_change_meta_by_hash(&hash))
                .map(|meta| meta.timestamp);
            carried.values.push((key.clone(), scalar));
        }
    }
    let mut changes = Vec::new();
    for carried in by_change.into_values() {
        let actor = ActorId::random();
        let mut fork = AutoCommit::new().with_actor(actor.clone());
        let info = actors.get(&carried.actor).cloned().unwrap_or_default();
        layout::write_actor(&mut fork, &actor.to_hex_string(), &info)?;
        for (key, value) in carried.values {
            fork.put(ROOT, key, value)?;
        }
        fork.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(message)
                .with_time(carried.time.unwrap_or(now)),
        );
        if let Some(change) = fork.get_last_local_change() {
            target.apply_changes([change.clone()])?;
            changes.push(change);
        }
    }
    Ok(changes)
}
