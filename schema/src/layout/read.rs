//! Reading a household out of its document, every candidate of every disputed field
//! included, and bringing a view up to date after a change to a few fields.

use super::LayoutError;
use super::origin::ChangeOrigin;
use super::value::FieldValue;
use super::view::{ActorInfo, Candidate, Field, HouseholdView, Record};
use crate::fields::{Entity, FieldKind, FieldPath};
use crate::shape::{ACTORS_PREFIX, VERSION_KEY};
use automerge::{Automerge, ChangeHash, ObjId, ROOT, ReadDoc, ScalarValue, Value, ValueRef};
use std::collections::{BTreeMap, BTreeSet};

/// Reads the whole household out of a document, including every candidate of every
/// disputed field.
pub fn read_household(doc: &Automerge) -> Result<HouseholdView, LayoutError> {
    let mut view = HouseholdView::default();
    let mut disputed = Vec::new();
    for item in doc.map_range(ROOT, ..) {
        let ValueRef::Scalar(scalar) = &item.value else {
            view.unknown
                .insert(item.key.to_string(), "(object)".to_owned());
            continue;
        };
        let value = FieldValue::from_scalar(&ScalarValue::from(scalar));
        read_item(&mut view, &mut disputed, &item.key, value, item.conflict);
    }
    if view.schema_version == 0 {
        return Err(LayoutError::NotAHousehold);
    }
    fill_candidates(doc, &mut view, disputed)?;
    Ok(view)
}

/// Brings a view read by [`read_household`] up to date with a document after a change
/// that wrote only the root keys `keys`, by re-reading just the fields those keys belong
/// to. The result equals what [`read_household`] would read now.
///
/// Returns `Ok(false)`, leaving `view` in an unspecified state, when a key is not a field
/// (or one code of a field's set): a version, an actor or an unknown key, whose effect
/// reaches beyond one field. The caller then reads the whole household again.
pub fn refresh_household<'k>(
    doc: &Automerge,
    view: &mut HouseholdView,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<bool, LayoutError> {
    let mut fields: Vec<FieldPath> = Vec::new();
    for key in keys {
        let path = match FieldPath::parse(key) {
            Ok(path) => path,
            Err(_) => match key.rsplit_once('.').map(|(set, _)| FieldPath::parse(set)) {
                Some(Ok(path)) if matches!(path.spec().kind, FieldKind::Codes(_)) => path,
                _ => return Ok(false),
            },
        };
        if !fields.contains(&path) {
            fields.push(path);
        }
    }
    let mut disputed = Vec::new();
    for path in &fields {
        let key = path.to_string();
        // Forget what the view holds of the field, then read its keys as `read_household`
        // does, in the same (key) order: the field's own key, then its set's codes.
        view.unknown.remove(&key);
        if let Some(record) = record_if_present(view, path) {
            record.remove(path.name);
        }
        // One look-up: the last of the concurrent values is the one `get` would pick.
        let values = doc.get_all(ROOT, key.as_str())?;
        let conflict = values.len() > 1;
        if let Some((value, _)) = values.into_iter().last() {
            let Value::Scalar(scalar) = value else {
                return Ok(false);
            };
            read_item(
                view,
                &mut disputed,
                &key,
                FieldValue::from_scalar(&scalar),
                conflict,
            );
        }
        if matches!(path.spec().kind, FieldKind::Codes(_)) {
            let prefix = format!("{key}.");
            for item in doc.map_range(ROOT, prefix.clone()..format!("{key}/")) {
                let ValueRef::Scalar(scalar) = &item.value else {
                    return Ok(false);
                };
                let value = FieldValue::from_scalar(&ScalarValue::from(scalar));
                // A key under the set that is itself another field, or not a code of
                // this set, reaches beyond this field.
                match item.key.rsplit_once('.') {
                    Some((set, _)) if set == key && FieldPath::parse(&item.key).is_err() => {}
                    _ => return Ok(false),
                }
                read_item(view, &mut disputed, &item.key, value, item.conflict);
            }
        }
        // `read_household` never leaves a keyed record without fields.
        if path.entity.is_keyed() && record_if_present(view, path).is_some_and(|r| r.is_empty()) {
            keyed_records(view, path.entity).remove(&path.key);
        }
    }
    fill_candidates(doc, view, disputed)?;
    Ok(true)
}

/// Reads one scalar root key into the view, as [`read_household`] does for each key.
fn read_item(
    view: &mut HouseholdView,
    disputed: &mut Vec<FieldPath>,
    key: &str,
    value: FieldValue,
    conflict: bool,
) {
    if key == VERSION_KEY {
        view.schema_version = value
            .as_integer()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0);
        return;
    }
    if let Some(rest) = key.strip_prefix(ACTORS_PREFIX) {
        if let Some((actor, name)) = rest.split_once('.') {
            let info = view.actors.entry(actor.to_owned()).or_default();
            let text = value.as_text().map(str::to_owned);
            match name {
                "device" => info.device = text,
                "volunteer" => info.volunteer = text,
                "staff" => info.staff = text,
                _ => {}
            }
        }
        return;
    }
    if let Ok(path) = FieldPath::parse(key) {
        if conflict {
            disputed.push(path.clone());
        }
        record_mut(view, &path).insert(
            path.name,
            Field {
                value,
                candidates: Vec::new(),
            },
        );
        return;
    }
    if let Some((set_key, code)) = key.rsplit_once('.')
        && let Ok(path) = FieldPath::parse(set_key)
        && matches!(path.spec().kind, FieldKind::Codes(_))
    {
        if value == FieldValue::Boolean(true) {
            let field = record_mut(view, &path)
                .entry(path.name)
                .or_insert_with(|| Field {
                    value: FieldValue::Codes(BTreeSet::new()),
                    candidates: Vec::new(),
                });
            let mut displaced = None;
            if !matches!(field.value, FieldValue::Codes(_)) {
                // Text typed into the set earlier, beside codes chosen since: the codes
                // are the field, and the text stays visible apart.
                let typed = std::mem::replace(&mut field.value, FieldValue::Codes(BTreeSet::new()));
                displaced = Some(typed.display());
            }
            if let FieldValue::Codes(codes) = &mut field.value {
                codes.insert(code.to_owned());
            }
            if let Some(typed) = displaced {
                view.unknown.insert(path.to_string(), typed);
            }
        }
        return;
    }
    view.unknown.insert(key.to_owned(), value.display());
}

fn fill_candidates(
    doc: &Automerge,
    view: &mut HouseholdView,
    disputed: Vec<FieldPath>,
) -> Result<(), LayoutError> {
    for path in disputed {
        let candidates = candidates(doc, &path.to_string(), &view.actors)?;
        if let Some(field) = record_mut(view, &path).get_mut(path.name) {
            field.candidates = candidates;
        }
    }
    Ok(())
}

fn keyed_records(view: &mut HouseholdView, entity: Entity) -> &mut BTreeMap<String, Record> {
    match entity {
        Entity::Household | Entity::Member => &mut view.members,
        Entity::Visit => &mut view.visits,
        Entity::Training => &mut view.trainings,
        Entity::Subsidy => &mut view.subsidies,
        Entity::Photo => &mut view.photos,
        Entity::Task => &mut view.tasks,
    }
}

fn record_if_present<'a>(view: &'a mut HouseholdView, path: &FieldPath) -> Option<&'a mut Record> {
    if path.entity == Entity::Household {
        return Some(&mut view.household);
    }
    keyed_records(view, path.entity).get_mut(&path.key)
}

fn record_mut<'a>(view: &'a mut HouseholdView, path: &FieldPath) -> &'a mut Record {
    let records = match path.entity {
        Entity::Household => return &mut view.household,
        Entity::Member => &mut view.members,
        Entity::Visit => &mut view.visits,
        Entity::Training => &mut view.trainings,
        Entity::Subsidy => &mut view.subsidies,
        Entity::Photo => &mut view.photos,
        Entity::Task => &mut view.tasks,
    };
    records.entry(path.key.clone()).or_default()
}

/// The concurrent values of a key, or none when they are all the same value: identical
/// values written on two phones are agreement, not a dispute.
fn candidates(
    doc: &Automerge,
    key: &str,
    actors: &BTreeMap<String, ActorInfo>,
) -> Result<Vec<Candidate>, LayoutError> {
    let mut out = Vec::new();
    for (value, id) in doc.get_all(ROOT, key)? {
        let Value::Scalar(scalar) = value else {
            continue;
        };
        let actor = match &id {
            ObjId::Id(_, actor, _) => actor.to_hex_string(),
            ObjId::Root => String::new(),
        };
        let hash: Option<ChangeHash> = doc.hash_for_opid(&id);
        let change = hash.and_then(|hash| doc.get_change_meta_by_hash(&hash));
        let info = actors.get(&actor).cloned().unwrap_or_default();
        let origin = ChangeOrigin::of_message(change.as_ref().and_then(|c| c.message.as_deref()));
        out.push(Candidate {
            value: FieldValue::from_scalar(&scalar),
            device: info.device,
            volunteer: info.volunteer,
            staff: info.staff,
            time: change.as_ref().map(|c| c.timestamp),
            visit: origin.visit,
            review: origin.review,
            change: hash.map(|hash| hash.to_string()),
            actor,
        });
    }
    let all_same = out.windows(2).all(|pair| pair[0].value == pair[1].value);
    if all_same {
        out.clear();
    }
    Ok(out)
}
