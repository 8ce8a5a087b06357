//! The rules one change breaks on its own, whatever it builds on.

use super::Household;
use super::rule::ScreenRefusal;
use automerge::ExpandedChange;
use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{Automerge, Change, ROOT, ReadDoc};
use schema::Message;
use schema::fields::{Entity, FieldKind, FieldPath};
use schema::layout::ChangeOrigin;
use schema::quarantine::Rule;
use schema::shape;
use schema::tasks::TaskStatus;
use std::collections::{BTreeSet, HashMap, HashSet};

const VERSION_KEY: &str = "schema_version";
const ACTORS_PREFIX: &str = "actors.";
/// A record holding this many fields or more, all cleared by one change, counts as erased.
/// Clearing one or two fields is an ordinary correction; a member who left is marked with a
/// `status`, never erased (ADR 0001), and only county staff remove an entry made by mistake.
const ERASED_RECORD_FIELDS: usize = 3;
/// Keys quoted in a reason are cut to this many characters: a hostile key can be long.
const QUOTED_KEY_CHARS: usize = 80;

fn quoted(key: &str) -> String {
    let mut quoted: String = key.chars().take(QUOTED_KEY_CHARS).collect();
    if quoted.len() < key.len() {
        quoted.push('…');
    }
    quoted
}

fn has_key(doc: &Automerge, key: &str) -> bool {
    matches!(doc.get(ROOT, key), Ok(Some(_)))
}

/// The rule one change breaks on its own, if any. `creation` says whether it is the change
/// that creates the household, the only one that may set its identity.
pub(super) fn own_rule(
    household: Household<'_>,
    change: &Change,
    expanded: &ExpandedChange,
    creation: bool,
) -> Option<ScreenRefusal> {
    let actor = change.actor_id().to_hex_string();
    if has_key(household.doc, &format!("{ACTORS_PREFIX}{actor}.staff")) {
        return Some(ScreenRefusal::new(
            Rule::StaffActor,
            Message::new(
                "该修改以县里工作人员的身份提交，设备不能使用这个身份",
                "The change is made under a county staff member's identity, which a device cannot use",
            ),
        ));
    }
    if ChangeOrigin::of_message(change.message()).review.is_some() {
        return Some(ScreenRefusal::new(
            Rule::ReviewResolution,
            Message::new(
                "只有县里的工作人员可以处理审核项",
                "Only county staff can resolve review items",
            ),
        ));
    }
    let mut cleared: BTreeSet<String> = BTreeSet::new();
    let mut written_records: HashSet<String> = HashSet::new();
    for op in &expanded.operations {
        let (ObjectId::Root, Key::Map(key)) = (&op.obj, &op.key) else {
            return Some(not_a_field());
        };
        let key = key.as_str();
        let put = match &op.action {
            OpType::Put(value) if plain(value) => true,
            OpType::Delete => false,
            OpType::Put(value) => return Some(wrong_type(key, &shape::scalar_name(value))),
            OpType::Make(object) => return Some(wrong_type(key, &shape::object_name(*object))),
            _ => return Some(not_a_field()),
        };
        if let Some(refusal) = key_rule(household, &actor, key, put, creation) {
            return Some(refusal);
        }
        if let Some(refusal) = task_rule(key, &op.action) {
            return Some(refusal);
        }
        if let Some(record) = record_prefix(key) {
            if put {
                written_records.insert(record);
            } else {
                cleared.insert(key.to_owned());
            }
        }
    }
    erased_record(household.doc, &cleared, &written_records)
}

/// Whether a value is of a kind the layout stores: text, a number, a flag.
fn plain(value: &automerge::ScalarValue) -> bool {
    use automerge::ScalarValue::{Boolean, F64, Int, Str, Uint};
    matches!(value, Str(_) | Int(_) | Uint(_) | F64(_) | Boolean(_))
}

fn not_a_field() -> ScreenRefusal {
    ScreenRefusal::new(
        Rule::NotAField,
        Message::new(
            "修改不符合户档案的格式：设备只能设置或清除字段",
            "The change does not fit the household layout: a device may only set or clear fields",
        ),
    )
}

/// A value of a type the layout does not store, at a root key: the reason names the key, the
/// type the layout stores there and the type written, so that the author of a client that is
/// not ours (a plain JavaScript string becomes a Text object) can fix it from the reason.
fn wrong_type(key: &str, found: &Message) -> ScreenRefusal {
    ScreenRefusal::new(Rule::NotAField, shape::wrong_type(key, found))
}

/// The rule writing (`put`) or deleting one root key breaks, if any.
fn key_rule(
    household: Household<'_>,
    actor: &str,
    key: &str,
    put: bool,
    creation: bool,
) -> Option<ScreenRefusal> {
    if key == VERSION_KEY {
        // A later layout migrates by writing its version, as an ordinary change.
        return (!put).then(deletes_household);
    }
    if let Some(rest) = key.strip_prefix(ACTORS_PREFIX) {
        let (owner, name) = rest.split_once('.').unwrap_or((rest, ""));
        if name == "staff" {
            return Some(ScreenRefusal::new(
                Rule::StaffEntry,
                Message::new(
                    "设备不能以县里工作人员的名义写入",
                    "A device cannot write in the name of county staff",
                ),
            ));
        }
        if owner != actor || !put {
            return Some(ScreenRefusal::new(
                Rule::ActorEntry,
                Message::new(
                    "修改改动了另一个写入者的身份记录；每个写入者只能写自己的",
                    "The change alters another writer's identity entry; each writer records only its own",
                ),
            ));
        }
        if name == "device" || name == "volunteer" {
            return None;
        }
        return Some(unknown_key(key));
    }
    let Some(path) = field_path(key) else {
        return Some(unknown_key(key));
    };
    let spec = path.spec();
    if !spec.system {
        return None;
    }
    match (path.entity, spec.name) {
        (Entity::Household, "merged_into") => Some(ScreenRefusal::new(
            Rule::MergesHousehold,
            Message::new(
                "只有县里的工作人员可以合并户",
                "Only county staff can merge households",
            ),
        )),
        (Entity::Household, _) if !put => Some(deletes_household()),
        (Entity::Household, _) if creation => None,
        (Entity::Household, "village") => Some(ScreenRefusal::new(
            Rule::MovesHousehold,
            Message::new(
                "不能在设备上把户迁到另一个村；请联系县里的工作人员",
                "A household cannot be moved to another village from a device; ask county staff",
            ),
        )),
        // A visit's device, volunteer and start are written once, by the phone that starts
        // it.
        (Entity::Visit, _) if put && !has_key(household.doc, key) => None,
        _ => Some(ScreenRefusal::new(
            Rule::SystemField,
            Message::new(
                format!("字段“{}”由系统填写，设备不能修改", quoted(key)),
                format!(
                    "Field \"{}\" is set by the system and cannot be changed from a device",
                    quoted(key)
                ),
            ),
        )),
    }
}

/// A visit task is the server's (ADR 0010): a device may only mark one checked, writing the
/// code `checked` to its status (and a note, an ordinary field). Opening, settling and
/// closing, or clearing a status, are refused, so a phone cannot close what the county
/// asked it to check.
fn task_rule(key: &str, action: &OpType) -> Option<ScreenRefusal> {
    let path = field_path(key)?;
    if path.entity != Entity::Task || path.name != "status" {
        return None;
    }
    let checked = TaskStatus::Checked.as_str();
    if let OpType::Put(value) = action
        && value.as_str() == Some(checked)
    {
        return None;
    }
    Some(ScreenRefusal::new(
        Rule::SystemField,
        Message::new(
            format!(
                "设备只能把核实任务标记为“{}”（{checked}），下发、核实一致和办结由系统和县里处理",
                TaskStatus::Checked.label().zh
            ),
            format!(
                "A device may only mark a visit task \"{checked}\"; opening, settling and closing one are the server's and the county's"
            ),
        ),
    ))
}

fn deletes_household() -> ScreenRefusal {
    ScreenRefusal::new(
        Rule::DeletesHousehold,
        Message::new(
            "设备不能删除户或清除其身份信息（户标识、所在村、建档时间）",
            "A device cannot delete a household or clear its identity (id, village, creation time)",
        ),
    )
}

fn unknown_key(key: &str) -> ScreenRefusal {
    ScreenRefusal::new(
        Rule::UnknownKey,
        Message::new(
            format!("“{}”不是户档案的字段", quoted(key)),
            format!("\"{}\" is not a field of the household layout", quoted(key)),
        ),
    )
}

/// The field a root key belongs to: the field itself, or a multi-select whose one code it
/// holds (`household.causes.07`). Only keys spelled exactly as the layout writes them.
fn field_path(key: &str) -> Option<FieldPath> {
    if let Ok(path) = FieldPath::parse(key)
        && path.to_string() == key
    {
        return Some(path);
    }
    let (set, code) = key.rsplit_once('.')?;
    let path = FieldPath::parse(set).ok()?;
    let is_set = matches!(path.spec().kind, FieldKind::Codes(_));
    (is_set && !code.is_empty() && path.to_string() == set).then_some(path)
}

/// The key prefix of the record a field key belongs to: `household.`, `members.<key>.`.
fn record_prefix(key: &str) -> Option<String> {
    let path = field_path(key)?;
    Some(match path.entity {
        Entity::Household => "household.".to_owned(),
        entity => format!("{}.{}.", entity.prefix(), path.key),
    })
}

/// Refuses a change that clears every field a record holds, when it holds enough of them
/// for that to be erasing the record rather than correcting it.
fn erased_record(
    doc: &Automerge,
    cleared: &BTreeSet<String>,
    written: &HashSet<String>,
) -> Option<ScreenRefusal> {
    let mut by_record: HashMap<String, usize> = HashMap::new();
    for key in cleared {
        if let Some(record) = record_prefix(key) {
            *by_record.entry(record).or_default() += 1;
        }
    }
    for (record, count) in by_record {
        if written.contains(&record) || count < ERASED_RECORD_FIELDS {
            continue;
        }
        let end = format!("{}/", &record[..record.len() - 1]);
        let present: Vec<String> = doc
            .map_range(ROOT, record.clone()..end)
            .map(|item| item.key.to_string())
            // The household's identity is the other rule's to guard.
            .filter(|key| {
                !field_path(key).is_some_and(|p| p.spec().system && p.entity == Entity::Household)
            })
            .collect();
        let all_cleared = present.len() >= ERASED_RECORD_FIELDS
            && present.iter().all(|key| cleared.contains(key));
        if !all_cleared {
            continue;
        }
        if record == "household." {
            return Some(deletes_household());
        }
        return Some(ScreenRefusal::new(
            Rule::ErasesRecord,
            Message::new(
                "设备不能一次清除一条记录的全部信息；成员离户请标记“已不在本户”",
                "A device cannot erase a whole record at once; mark a member who left as no longer in the household",
            ),
        ));
    }
    None
}
