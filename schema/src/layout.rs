//! How a household lives inside an Automerge document.
//!
//! The document's root map is flat: every field is one root key, and the key is the field's
//! path (`members.<key>.employment.status`). A multi-select stores one key per chosen code
//! (`household.causes.07 = true`). Nothing is ever written as a nested object, because two
//! phones that create the same nested object offline create two competing objects, and one
//! side's fields would vanish behind the other's. Flat keys merge field by field. See
//! `docs/adr/0001-flat-household-documents.md`.
//!
//! Besides fields the root holds `schema_version` and, per Automerge actor that wrote to the
//! document, `actors.<actor hex>.device` and `actors.<actor hex>.volunteer` (or `.staff` for a
//! county staff member deciding a review item), so every value can be traced to a device and
//! a person without asking the server.

use crate::codes::{self, CodeList};
use crate::fields::{Entity, FieldKind, FieldPath};
use crate::ids::{AreaCode, HouseholdId, RecordId};
use crate::message::Message;
use crate::shape::{self, ACTORS_PREFIX, VERSION_KEY};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjId, ROOT, ReadDoc, ScalarValue, Value, ValueRef};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The layout version this code writes. Older documents are migrated on read by [`migrate`].
pub const SCHEMA_VERSION: u64 = 1;
const VISIT_MESSAGE_PREFIX: &str = "visit ";
const REVIEW_MESSAGE_PREFIX: &str = "review ";

/// Why a document could not be read or written as a household.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("the document is not a household document (it has no schema_version)")]
    NotAHousehold,
    #[error(
        "the document was written by a newer version (layout {found}, this one knows {SCHEMA_VERSION})"
    )]
    TooNew { found: u64 },
    /// `schema_version` holds something other than a whole number: `found` names it.
    #[error("schema_version must be the unsigned integer {SCHEMA_VERSION}, but it holds {}", found.en)]
    BadVersion { found: Message },
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

impl LayoutError {
    pub fn message(&self) -> Message {
        match self {
            LayoutError::NotAHousehold => Message::new(
                "该文档不是户档案（缺少 schema_version）",
                "The document is not a household document (it has no schema_version)",
            ),
            LayoutError::TooNew { found } => Message::new(
                format!("该户档案由更新版本的程序写入（格式 {found}），请先升级本程序"),
                format!(
                    "This household was written by a newer version (layout {found}); please update the app"
                ),
            ),
            LayoutError::BadVersion { found } => shape::wrong_type(VERSION_KEY, found),
            LayoutError::Automerge(err) => Message::new(
                format!("文档数据损坏：{err}"),
                format!("The document data is damaged: {err}"),
            ),
        }
    }
}

/// The value of one field. Whatever a volunteer typed is kept, even when it does not fit the
/// field's kind: it is then stored as text and validation reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    Text(String),
    Integer(i64),
    Decimal(f64),
    Boolean(bool),
    Codes(BTreeSet<String>),
}

impl FieldValue {
    /// Reads what a person typed for a field of this kind. Empty input means "clear the
    /// field" and gives `None`. Input that does not fit the kind is kept as text.
    pub fn from_input(kind: FieldKind, input: &str) -> Option<FieldValue> {
        let text = input.trim();
        if text.is_empty() {
            return None;
        }
        let value = match kind {
            FieldKind::Text | FieldKind::Code(_) | FieldKind::Date => {
                FieldValue::Text(text.to_owned())
            }
            FieldKind::IdNumber => FieldValue::Text(text.to_uppercase()),
            FieldKind::Integer { .. } | FieldKind::Timestamp => text
                .parse()
                .map(FieldValue::Integer)
                .unwrap_or_else(|_| FieldValue::Text(text.to_owned())),
            FieldKind::Decimal { .. } => text
                .parse()
                .map(FieldValue::Decimal)
                .unwrap_or_else(|_| FieldValue::Text(text.to_owned())),
            FieldKind::Boolean => match text.to_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "是" => FieldValue::Boolean(true),
                "false" | "no" | "n" | "0" | "否" => FieldValue::Boolean(false),
                _ => FieldValue::Text(text.to_owned()),
            },
            FieldKind::Codes(_) => {
                let codes: BTreeSet<String> = text
                    .split([',', '，', '、', ' ', '\u{3000}'])
                    .map(str::trim)
                    .filter(|code| !code.is_empty())
                    .map(str::to_owned)
                    .collect();
                // Each code becomes part of a document key, so one holding the path
                // separator cannot be stored as a code; keep the input as text instead,
                // for validation to report.
                if codes.iter().any(|code| code.contains('.')) {
                    FieldValue::Text(text.to_owned())
                } else {
                    FieldValue::Codes(codes)
                }
            }
        };
        Some(value)
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            FieldValue::Integer(number) => Some(*number),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Boolean(flag) => Some(*flag),
            _ => None,
        }
    }

    pub fn as_codes(&self) -> Option<&BTreeSet<String>> {
        match self {
            FieldValue::Codes(codes) => Some(codes),
            _ => None,
        }
    }

    /// The value as a person would type it back.
    pub fn display(&self) -> String {
        match self {
            FieldValue::Text(text) => text.clone(),
            FieldValue::Integer(number) => number.to_string(),
            FieldValue::Decimal(number) => number.to_string(),
            FieldValue::Boolean(flag) => flag.to_string(),
            FieldValue::Codes(codes) => codes.iter().cloned().collect::<Vec<_>>().join(","),
        }
    }

    /// The value as a clerk reads it: codes with their labels, yes/no for flags.
    pub fn readable(&self, kind: FieldKind) -> Message {
        let code_label = |lists: &[&CodeList], code: &str| {
            lists
                .iter()
                .find_map(|list| list.label(code))
                .map(|label| {
                    Message::new(
                        format!("{}（{code}）", label.zh),
                        format!("{} ({code})", label.en),
                    )
                })
                .unwrap_or_else(|| Message::new(code, code))
        };
        match (self, kind) {
            (FieldValue::Text(code), FieldKind::Code(lists)) => code_label(lists, code),
            (FieldValue::Codes(codes), FieldKind::Codes(list)) => {
                let labels: Vec<Message> = codes.iter().map(|c| code_label(&[list], c)).collect();
                Message::new(
                    labels
                        .iter()
                        .map(|m| m.zh.as_str())
                        .collect::<Vec<_>>()
                        .join("、"),
                    labels
                        .iter()
                        .map(|m| m.en.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }
            (FieldValue::Boolean(true), _) => Message::new("是", "yes"),
            (FieldValue::Boolean(false), _) => Message::new("否", "no"),
            (other, _) => {
                let text = other.display();
                Message::new(text.clone(), text)
            }
        }
    }

    fn from_scalar(scalar: &ScalarValue) -> FieldValue {
        match scalar {
            ScalarValue::Str(text) => FieldValue::Text(text.to_string()),
            ScalarValue::Int(number) | ScalarValue::Timestamp(number) => {
                FieldValue::Integer(*number)
            }
            ScalarValue::Uint(number) => {
                FieldValue::Integer(i64::try_from(*number).unwrap_or(i64::MAX))
            }
            ScalarValue::F64(number) => FieldValue::Decimal(*number),
            ScalarValue::Boolean(flag) => FieldValue::Boolean(*flag),
            other => FieldValue::Text(other.to_string()),
        }
    }

    fn to_scalar(&self) -> ScalarValue {
        match self {
            FieldValue::Text(text) => ScalarValue::Str(text.as_str().into()),
            FieldValue::Integer(number) => ScalarValue::Int(*number),
            FieldValue::Decimal(number) => ScalarValue::F64(*number),
            FieldValue::Boolean(flag) => ScalarValue::Boolean(*flag),
            FieldValue::Codes(codes) => {
                ScalarValue::Str(codes.iter().cloned().collect::<Vec<_>>().join(",").into())
            }
        }
    }
}

/// Who stands behind an Automerge actor, as that actor recorded itself in the document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActorInfo {
    pub device: Option<String>,
    pub volunteer: Option<String>,
    /// The staff member, for an actor that settled review items on the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
}

/// One of several concurrent values of a field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub value: FieldValue,
    /// The Automerge actor (hex) whose change wrote this value.
    pub actor: String,
    pub device: Option<String>,
    pub volunteer: Option<String>,
    /// The writer's device clock, in seconds since 1970, as recorded in its change.
    pub time: Option<i64>,
    /// The visit the edit was made in, if any.
    pub visit: Option<String>,
    /// The staff member who wrote it, when it is a review decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// The review item it decided, when it is a review decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// The hash (hex) of the change that wrote it, to find when the server received it.
    pub change: Option<String>,
}

/// A field's current value and, when devices disagree, every candidate value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The value Automerge picks as the winner. While the field is disputed this is only
    /// one of the candidates; nobody has chosen it.
    pub value: FieldValue,
    /// Empty unless the field holds different concurrent values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
}

impl Field {
    pub fn is_disputed(&self) -> bool {
        !self.candidates.is_empty()
    }
}

/// The fields of one record (the household, a member, a visit…), by field name.
pub type Record = BTreeMap<&'static str, Field>;

/// Everything a household document holds, read out of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HouseholdView {
    pub schema_version: u64,
    pub household: Record,
    pub members: BTreeMap<String, Record>,
    pub visits: BTreeMap<String, Record>,
    pub trainings: BTreeMap<String, Record>,
    pub subsidies: BTreeMap<String, Record>,
    pub actors: BTreeMap<String, ActorInfo>,
    /// Keys this version does not know (written by a newer version), kept as text so
    /// nothing is hidden.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// A disputed field, with its path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub path: String,
    pub field: Field,
}

impl HouseholdView {
    pub fn records(&self, entity: Entity) -> impl Iterator<Item = (&str, &Record)> {
        let keyed = match entity {
            Entity::Household => None,
            Entity::Member => Some(&self.members),
            Entity::Visit => Some(&self.visits),
            Entity::Training => Some(&self.trainings),
            Entity::Subsidy => Some(&self.subsidies),
        };
        let household = keyed.is_none().then_some(("", &self.household));
        household
            .into_iter()
            .chain(keyed.into_iter().flatten().map(|(k, r)| (k.as_str(), r)))
    }

    pub fn field(&self, path: &FieldPath) -> Option<&Field> {
        self.records(path.entity)
            .find(|(key, _)| *key == path.key)
            .and_then(|(_, record)| record.get(path.name))
    }

    pub fn household_text(&self, name: &str) -> Option<&str> {
        self.household.get(name).and_then(|f| f.value.as_text())
    }

    /// Every disputed field, in path order.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = Vec::new();
        for entity in Entity::ALL {
            for (key, record) in self.records(entity) {
                for (name, field) in record.iter().filter(|(_, f)| f.is_disputed()) {
                    let path = FieldPath {
                        entity,
                        key: key.to_owned(),
                        name,
                    };
                    out.push(Conflict {
                        path: path.to_string(),
                        field: field.clone(),
                    });
                }
            }
        }
        out
    }

    /// The members who live in the household (see [`member_status`]), by key. The others
    /// stay in the view as history, out of counts, searches and rosters.
    pub fn present_members(&self) -> impl Iterator<Item = (&String, &Record)> {
        self.members.iter().filter(|(_, member)| is_present(member))
    }

    /// The name of the present member recorded as head of household (relation 01), if any.
    pub fn head_name(&self) -> Option<&str> {
        self.present_members()
            .map(|(_, member)| member)
            .find(|m| m.get("relation").and_then(|f| f.value.as_text()) == Some("01"))
            .and_then(|m| m.get("name"))
            .and_then(|f| f.value.as_text())
    }

    /// The values a search should find this household by: the present members' names and
    /// ID numbers, and the household number. Someone who moved out is found where they
    /// live now, not in every household they once lived in.
    pub fn search_terms(&self) -> Vec<&str> {
        let household = self.household_text("number");
        let members = self.present_members().flat_map(|(_, m)| {
            ["name", "id_number"]
                .into_iter()
                .filter_map(|name| m.get(name).and_then(|f| f.value.as_text()))
        });
        household.into_iter().chain(members).collect()
    }
}

/// A member's status code (`codes::MEMBER_STATUS`): the `status` field when it holds a
/// value; otherwise moved out for an older document's `left_household` flag, and present
/// for everyone else. A code not in the list is returned as it is, and validation reports it.
pub fn member_status(member: &Record) -> &str {
    let status = member
        .get("status")
        .and_then(|f| f.value.as_text())
        .map(str::trim)
        .filter(|code| !code.is_empty());
    match status {
        Some(code) => code,
        None if member.get("left_household").and_then(|f| f.value.as_bool()) == Some(true) => {
            codes::MOVED_OUT
        }
        None => codes::PRESENT,
    }
}

/// Whether a member lives in the household and so counts: in member counts, searches,
/// rosters, exports and the household rules. A status no list knows counts as present, so
/// a mistyped code hides nobody.
pub fn is_present(member: &Record) -> bool {
    let status = member_status(member);
    status == codes::PRESENT || !codes::MEMBER_STATUS.contains(status)
}

/// Writes the fields every new household starts with.
pub fn init_household<T: Transactable>(
    tx: &mut T,
    id: &HouseholdId,
    village: &AreaCode,
    number: &str,
    created_at: i64,
) -> Result<(), LayoutError> {
    tx.put(ROOT, VERSION_KEY, SCHEMA_VERSION)?;
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

/// The commit message that ties a change to the visit it was made in.
pub fn visit_message(visit: &RecordId) -> String {
    format!("{VISIT_MESSAGE_PREFIX}{visit}")
}

/// The commit message of a staff member's decision on a review item. The comment travels in
/// the document, so the reason for a value stays with the value wherever it is synced.
pub fn review_message(item: &str, comment: Option<&str>) -> String {
    match comment.map(str::trim).filter(|c| !c.is_empty()) {
        Some(comment) => format!("{REVIEW_MESSAGE_PREFIX}{item}\n{comment}"),
        None => format!("{REVIEW_MESSAGE_PREFIX}{item}"),
    }
}

/// Where a change came from, as its commit message says: a visit, or a review decision with
/// its comment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeOrigin {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ChangeOrigin {
    pub fn of_message(message: Option<&str>) -> ChangeOrigin {
        let Some(message) = message else {
            return ChangeOrigin::default();
        };
        if let Some(visit) = message.strip_prefix(VISIT_MESSAGE_PREFIX) {
            return ChangeOrigin {
                visit: Some(visit.to_owned()),
                ..ChangeOrigin::default()
            };
        }
        if let Some(rest) = message.strip_prefix(REVIEW_MESSAGE_PREFIX) {
            let (item, comment) = match rest.split_once('\n') {
                Some((item, comment)) => (item, Some(comment.to_owned())),
                None => (rest, None),
            };
            return ChangeOrigin {
                review: Some(item.to_owned()),
                comment,
                ..ChangeOrigin::default()
            };
        }
        ChangeOrigin::default()
    }
}

/// Checks the document's layout version, migrating older layouts in place.
///
/// Version 1 is the first layout, so there is nothing to migrate yet. When version 2 comes,
/// its step goes here: `if version == 1 { upgrade_from_1(doc)?; }`, each step an ordinary
/// Automerge change so that it merges with edits made on devices still on the old layout.
pub fn migrate<T: Transactable>(doc: &mut T) -> Result<u64, LayoutError> {
    let version = match doc.get(ROOT, VERSION_KEY)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Uint(v) => *v,
            ScalarValue::Int(v) => u64::try_from(*v).map_err(|_| LayoutError::BadVersion {
                found: Message::new(format!("负数 {v}"), format!("the negative number {v}")),
            })?,
            other => {
                return Err(LayoutError::BadVersion {
                    found: shape::scalar_name(other),
                });
            }
        },
        Some((value, _)) => {
            return Err(LayoutError::BadVersion {
                found: shape::value_name(&value),
            });
        }
        None => return Err(LayoutError::NotAHousehold),
    };
    if version > SCHEMA_VERSION {
        return Err(LayoutError::TooNew { found: version });
    }
    Ok(version)
}

/// Why a document is not the one of household `id`, naming the key at fault:
/// `household.id` missing, not a scalar string, or another household's id, or
/// `household.village` not a scalar string. `None` when it is household `id`'s.
pub fn identity_problem(doc: &Automerge, id: &str) -> Result<Option<Message>, LayoutError> {
    const ID_KEY: &str = "household.id";
    for key in [ID_KEY, "household.village"] {
        match doc.get(ROOT, key)? {
            Some((Value::Scalar(scalar), _)) if scalar.is_str() => {}
            Some((value, _)) => {
                return Ok(Some(shape::wrong_type(key, &shape::value_name(&value))));
            }
            // A household without a village is the village check's to refuse.
            None if key != ID_KEY => {}
            None => {
                return Ok(Some(Message::new(
                    format!("上传的数据没有“{ID_KEY}”，不是户“{id}”的档案；见 docs/LAYOUT.md"),
                    format!(
                        "The uploaded data has no \"{ID_KEY}\", so it is not the document of household \"{id}\"; see docs/LAYOUT.md"
                    ),
                )));
            }
        }
    }
    let found = match doc.get(ROOT, ID_KEY)? {
        Some((Value::Scalar(scalar), _)) => scalar.as_str().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    if found == id {
        return Ok(None);
    }
    let found: String = found.chars().take(80).collect();
    Ok(Some(Message::new(
        format!("上传的数据中“{ID_KEY}”为“{found}”，不是户“{id}”的档案"),
        format!(
            "The uploaded data's \"{ID_KEY}\" is \"{found}\", so it is not the document of household \"{id}\""
        ),
    )))
}

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
