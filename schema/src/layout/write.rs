//! Writing a household into its document one root key at a time, never as a hydrated struct.

use super::LayoutError;
use super::value::FieldValue;
use super::view::ActorInfo;
use crate::fields::{FieldKind, FieldPath};
use crate::ids::{AreaCode, HouseholdId};
use crate::shape::{ACTORS_PREFIX, READABLE_FROM, VERSION_KEY};
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc, Value, ValueRef};
use std::collections::BTreeSet;

/// Writes the fields every new household starts with.
pub fn init_household<T: Transactable>(
    tx: &mut T,
    id: &HouseholdId,
    village: &AreaCode,
    number: &str,
    created_at: i64,
) -> Result<(), LayoutError> {
    tx.put(ROOT, VERSION_KEY, READABLE_FROM)?;
    for (name, value) in [
        ("id", FieldValue::Text(id.to_string())),
        ("village", FieldValue::Text(village.to_string())),
        ("number", FieldValue::Text(number.to_owned())),
        ("created_at", FieldValue::Integer(created_at)),
    ] {
        tx.put(ROOT, format!("household.{name}"), value.to_scalar())?;
    }
    Ok(())
}

/// Writes one field, or clears it when `value` is `None`.
///
/// Writing the value a field already holds does nothing, so no empty change is made. Writing
/// onto a disputed field settles the dispute: that is what a person choosing a value means.
/// Returns whether anything was written.
pub fn write_field<T: Transactable>(
    tx: &mut T,
    path: &FieldPath,
    value: Option<&FieldValue>,
) -> Result<bool, LayoutError> {
    let key = path.to_string();
    if let FieldKind::Codes(_) = path.spec().kind {
        let (wanted, typed) = match value {
            Some(FieldValue::Codes(codes)) => (codes.clone(), None),
            // Input that is not a list of codes is kept, as text at the set's own key, for
            // validation to report.
            Some(other) => (BTreeSet::new(), Some(other.to_scalar())),
            None => (BTreeSet::new(), None),
        };
        let mut wrote = write_code_set(tx, &key, &wanted)?;
        let current = tx.get(ROOT, key.as_str())?;
        match typed {
            Some(scalar) => {
                tx.put(ROOT, key, scalar)?;
                wrote = true;
            }
            None if current.is_some() => {
                tx.delete(ROOT, key)?;
                wrote = true;
            }
            None => {}
        }
        return Ok(wrote);
    }
    let current = tx.get_all(ROOT, key.as_str())?;
    let unchanged = match value {
        None => current.is_empty(),
        Some(value) => {
            current.len() == 1
                && matches!(&current[0].0, Value::Scalar(s) if FieldValue::from_scalar(s) == *value)
        }
    };
    if unchanged {
        return Ok(false);
    }
    match value {
        Some(value) => tx.put(ROOT, key, value.to_scalar())?,
        None => tx.delete(ROOT, key)?,
    }
    Ok(true)
}

/// A set is stored as one key per member code, so two phones adding different codes offline
/// both keep theirs.
fn write_code_set<T: Transactable>(
    tx: &mut T,
    key: &str,
    wanted: &BTreeSet<String>,
) -> Result<bool, LayoutError> {
    let prefix = format!("{key}.");
    let present: BTreeSet<String> = tx
        .map_range(ROOT, prefix.clone()..format!("{key}/"))
        .filter(|item| {
            matches!(
                item.value,
                ValueRef::Scalar(automerge::ScalarValueRef::Boolean(true))
            )
        })
        .map(|item| item.key[prefix.len()..].to_owned())
        .collect();
    let mut wrote = false;
    for code in wanted.difference(&present) {
        tx.put(ROOT, format!("{prefix}{code}"), true)?;
        wrote = true;
    }
    for code in present.difference(wanted) {
        tx.delete(ROOT, format!("{prefix}{code}"))?;
        wrote = true;
    }
    Ok(wrote)
}

/// Records which device and volunteer an actor belongs to. Each actor writes only its own
/// keys, so these never conflict.
pub fn write_actor<T: Transactable>(
    tx: &mut T,
    actor_hex: &str,
    info: &ActorInfo,
) -> Result<(), LayoutError> {
    for (name, value) in [
        ("device", &info.device),
        ("volunteer", &info.volunteer),
        ("staff", &info.staff),
    ] {
        let key = format!("{ACTORS_PREFIX}{actor_hex}.{name}");
        if let Some(value) = value {
            let current = tx.get(ROOT, key.as_str())?;
            let same = matches!(&current, Some((Value::Scalar(s), _)) if s.as_str() == Some(value.as_str()));
            if !same {
                tx.put(ROOT, key, value.as_str())?;
            }
        }
    }
    Ok(())
}

/// Whether this actor has already recorded who it is in the document.
pub fn has_actor<R: ReadDoc>(doc: &R, actor_hex: &str) -> bool {
    let key = format!("{ACTORS_PREFIX}{actor_hex}.device");
    matches!(doc.get(ROOT, key.as_str()), Ok(Some(_)))
}
