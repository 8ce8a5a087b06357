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
    use automerge::legacy::{Key, ObjectId, OpType};
    let key = path.to_string();
    let set_prefix = format!("{key}.");
    let is_set = matches!(path.spec().kind, FieldKind::Codes(_));
    let mut out = Vec::new();
    for change in doc.get_changes(&[]) {
        let expanded = change.decode();
        let actor = expanded.actor_id.to_hex_string();
        for op in &expanded.operations {
            let (ObjectId::Root, Key::Map(op_key)) = (&op.obj, &op.key) else {
                continue;
            };
            let code = if op_key.as_str() == key {
                None
            } else if let Some(code) = op_key.strip_prefix(set_prefix.as_str())
                && is_set
            {
                Some(code.to_owned())
            } else {
                continue;
            };
            let value = match &op.action {
                OpType::Put(scalar) => Some(FieldValue::from_scalar(scalar)),
                OpType::Delete => None,
                _ => continue,
            };
            let info = actors.get(&actor).cloned().unwrap_or_default();
            out.push(HistoryEntry {
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
