//! Every value a field has had, from the document's own history.

use super::origin::ChangeOrigin;
use super::value::FieldValue;
use super::view::ActorInfo;
use crate::fields::{FieldKind, FieldPath};
use automerge::Automerge;
use serde::Serialize;
use std::collections::BTreeMap;

/// One value a field has had, as its document's history records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// The value written, or `None` when the field (or, in a multi-select, the code) was
    /// cleared.
    pub value: Option<FieldValue>,
    /// For a multi-select, the one code this entry chose or cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub actor: String,
    pub device: Option<String>,
    pub volunteer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// The writer's device clock, in seconds since 1970.
    pub time: i64,
    #[serde(flatten)]
    pub origin: ChangeOrigin,
    /// The hash (hex) of the change that wrote it.
    pub change: String,
}

/// Every value a field has had, oldest first (in causal order: a value comes after every
/// value it replaced), taken from the document's own history.
/// `actors` is the household view's, so that each entry names its device and person.
pub fn field_history(
    doc: &Automerge,
    path: &FieldPath,
    actors: &BTreeMap<String, ActorInfo>,
) -> Vec<HistoryEntry> {
    histories(doc, actors)
        .remove(&path.to_string())
        .unwrap_or_default()
}

/// Every field's history at once, by field path, each oldest first as in [`field_history`]:
/// one pass over the document's changes, for a page that shows every field.
pub fn histories(
    doc: &Automerge,
    actors: &BTreeMap<String, ActorInfo>,
) -> BTreeMap<String, Vec<HistoryEntry>> {
    use automerge::legacy::{Key, ObjectId, OpType};
    let mut out: BTreeMap<String, Vec<HistoryEntry>> = BTreeMap::new();
    for change in doc.get_changes(&[]) {
        let expanded = change.decode();
        let actor = expanded.actor_id.to_hex_string();
        for op in &expanded.operations {
            let (ObjectId::Root, Key::Map(op_key)) = (&op.obj, &op.key) else {
                continue;
            };
            let Some((field, code)) = field_of_key(op_key) else {
                continue;
            };
            let value = match &op.action {
                OpType::Put(scalar) => Some(FieldValue::from_scalar(scalar)),
                OpType::Delete => None,
                _ => continue,
            };
            let info = actors.get(&actor).cloned().unwrap_or_default();
            out.entry(field).or_default().push(HistoryEntry {
                value,
                code,
                actor: actor.clone(),
                device: info.device,
                volunteer: info.volunteer,
                staff: info.staff,
                time: expanded.time,
                origin: ChangeOrigin::of_message(expanded.message.as_deref()),
                change: change.hash().to_string(),
            });
        }
    }
    out
}

/// The field a root key of the document writes, and for a multi-select's code key
/// (`members.<key>.health.02`) the code; `None` for keys that are not fields.
fn field_of_key(key: &str) -> Option<(String, Option<String>)> {
    if let Ok(path) = FieldPath::parse(key) {
        return Some((path.to_string(), None));
    }
    let (field, code) = key.rsplit_once('.')?;
    let path = FieldPath::parse(field).ok()?;
    matches!(path.spec().kind, FieldKind::Codes(_))
        .then(|| (path.to_string(), Some(code.to_owned())))
}
